"""Notes on records (decision 0035): thin adapters over ``runtime.notes`` (the record's
visibility and the input checks live there)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...core.errors import BadRequest
from ...runtime.notes import NoteService
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("notes", __name__)
PATH = "/records/<object_name>/<record_id>/notes"


@bp.get(PATH)
def list_notes(object_name: str, record_id: str) -> dict[str, Any]:
    """The record's notes, newest first (404 when the record is not visible)."""
    items = NoteService(current_tenant()).list(current_principal(), object_name, record_id)
    return {"items": items}


@bp.post(PATH)
def add_note(object_name: str, record_id: str) -> tuple[dict[str, Any], int]:
    """Attach a note (``{"body", "follow_up"}``) to a record the caller can see."""
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return NoteService(current_tenant()).add(current_principal(), object_name, record_id,
                                             body.get("body"), body.get("follow_up")), 201
