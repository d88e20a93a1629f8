"""Layout endpoints: read any object's layout (signed-in users), replace it (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...core.errors import Forbidden, NotFound
from ...metadata.layouts import reader_layout
from ...runtime import Designer
from ...security import engine as permissions
from ...security import metadata_reads
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("layouts", __name__)


@bp.get("/meta/objects/<name>/layout")
def get_layout(name: str) -> dict[str, Any]:
    """Administrators get the whole document (every role's parts); anyone else the form
    and list their roles give them, naming only fields they may read, for an object
    they may read or create (decision 0015)."""
    principal = current_principal()
    d = Designer(current_tenant())
    snap = d.snapshot()
    access = permissions.access(principal, snap)
    obj = snap.object(name)
    if access.unrestricted or obj is None:
        return d.layout(snap, name)  # an unknown object: the designer's 404
    if not metadata_reads.offered(access, obj):
        raise NotFound(f"no object named '{name[:40]}'")
    return {**reader_layout(snap, obj, principal.roles, access.readable(obj)),
            "version": snap.version}


@bp.put("/meta/objects/<name>/layout")
def put_layout(name: str) -> dict[str, Any]:
    principal = current_principal()
    if not permissions.can_manage_metadata(principal):
        raise Forbidden("only administrators manage metadata")
    return Designer(current_tenant()).set_layout(principal, name, json_body())
