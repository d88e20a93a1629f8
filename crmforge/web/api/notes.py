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


NOTE_PATH = PATH + "/<note_id>"


@bp.patch(NOTE_PATH)
def edit_note(object_name: str, record_id: str, note_id: str) -> dict[str, Any]:
    """Change your note's ``body`` or ``follow_up`` (keys left out stay as they are)."""
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    changes = {k: body[k] for k in ("body", "follow_up") if k in body}
    return NoteService(current_tenant()).edit(current_principal(), object_name, record_id,
                                              note_id, **changes)


@bp.delete(NOTE_PATH)
def delete_note(object_name: str, record_id: str, note_id: str) -> tuple[str, int]:
    """Delete your note (an administrator: any note); it is kept and can be restored."""
    NoteService(current_tenant()).delete(current_principal(), object_name, record_id, note_id)
    return "", 204


@bp.post(NOTE_PATH + "/restore")
def restore_note(object_name: str, record_id: str, note_id: str) -> dict[str, Any]:
    """Bring a deleted note back, as it was and under its id."""
    return NoteService(current_tenant()).restore(current_principal(), object_name,
                                                 record_id, note_id)
