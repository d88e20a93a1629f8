"""Layout endpoints: read any object's layout (signed-in users), replace it (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...core.errors import Forbidden
from ...runtime import Designer
from ...security import engine as permissions
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("layouts", __name__)


@bp.get("/meta/objects/<name>/layout")
def get_layout(name: str) -> dict[str, Any]:
    current_principal()
    d = Designer(current_tenant())
    return d.layout(d.snapshot(), name)


@bp.put("/meta/objects/<name>/layout")
def put_layout(name: str) -> dict[str, Any]:
    principal = current_principal()
    if not permissions.can_manage_metadata(principal):
        raise Forbidden("only administrators manage metadata")
    return Designer(current_tenant()).set_layout(principal, name, json_body())
