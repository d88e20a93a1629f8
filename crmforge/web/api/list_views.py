"""Saved list views over HTTP: ``/api/v1/list-views/<object>``.

Not ``/records/<object>/views``: record routes take any string as the record id, so a
``views`` segment there would read as a record (docs/api.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...core.errors import BadRequest
from ...runtime import ListViews
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("list_views", __name__)


def _service() -> ListViews:
    return ListViews(current_tenant())


@bp.get("/list-views/<object_name>")
def list_views(object_name: str) -> dict[str, Any]:
    return {"items": _service().list(current_principal(), object_name)}


@bp.post("/list-views/<object_name>")
def save_view(object_name: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest('send {"name", "query", "shared"}')
    view = _service().save(current_principal(), object_name, body.get("name"),
                           body.get("query", ""), body.get("shared", False))
    return view, 201, {"Location": f"/api/v1/list-views/{object_name}/{view['id']}"}


@bp.get("/list-views/<object_name>/<int:view_id>")
def get_view(object_name: str, view_id: int) -> dict[str, Any]:
    return _service().get(current_principal(), object_name, view_id)


@bp.delete("/list-views/<object_name>/<int:view_id>")
def delete_view(object_name: str, view_id: int) -> tuple[str, int]:
    _service().delete(current_principal(), object_name, view_id)
    return "", 204
