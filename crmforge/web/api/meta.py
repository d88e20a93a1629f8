"""Metadata endpoints: objects and fields, their recycle bin, versions and rollback."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...core.errors import Forbidden, NotFound
from ...runtime import Designer, RecordService, list_views
from ...security import engine as permissions
from ...security import metadata_reads
from ..context import current_principal, current_tenant
from .util import flag, json_body

bp = Blueprint("meta", __name__)


def _designer() -> Designer:
    return Designer(current_tenant())


def _admin() -> Any:
    p = current_principal()
    if not permissions.can_manage_metadata(p):
        raise Forbidden("only administrators manage metadata")
    return p


def _reader_doc(name: str) -> dict[str, Any]:
    """An object document as the caller may read it (decision 0015): administrators get
    it whole; anyone else only an object they may read or create, with the fields they
    may read and no expressions, rules or scripts; else a 404 like an unknown object's."""
    principal = current_principal()
    snap = _designer().snapshot()
    access = permissions.access(principal, snap)
    obj = snap.object(name)
    if obj is None or not metadata_reads.offered(access, obj):
        raise NotFound(f"no object named '{name[:40]}'")
    return {**metadata_reads.object_doc(access, obj), "version": snap.version}


@bp.get("/meta/objects")
def list_objects() -> dict[str, Any]:
    """The documents of every object the caller may read or create, as they may read them."""
    principal = current_principal()
    snap = _designer().snapshot()
    access = permissions.access(principal, snap)
    return {"items": [{**metadata_reads.object_doc(access, obj), "version": snap.version}
                      for name, obj in sorted(snap.objects.items())
                      if metadata_reads.offered(access, obj)],
            "version": snap.version}


@bp.post("/meta/objects")
def create_object() -> tuple[dict[str, Any], int]:
    return _designer().create_object(_admin(), json_body()), 201


@bp.get("/meta/objects/<name>")
def get_object(name: str) -> dict[str, Any]:
    return _reader_doc(name)


@bp.patch("/meta/objects/<name>")
def update_object(name: str) -> dict[str, Any]:
    return _designer().update_object(_admin(), name, json_body())


@bp.delete("/meta/objects/<name>")
def remove_object(name: str) -> tuple[str, int]:
    _designer().remove_object(_admin(), name)
    return "", 204


@bp.post("/meta/objects/<name>/restore")
def restore_object(name: str) -> dict[str, Any]:
    return _designer().restore_object(_admin(), name)


@bp.get("/meta/objects/<name>/index-suggestions")
def index_suggestions(name: str) -> dict[str, Any]:
    """Composite indexes the object's saved list views would be served by (administrators;
    add one by patching the object's ``indexes``)."""
    _admin()
    obj = _designer().snapshot().object(name)
    if obj is None:
        raise NotFound(f"no object named '{name[:40]}'")
    return {"items": list_views.index_suggestions(current_tenant(), obj)}


@bp.get("/meta/objects/<name>/fields")
def list_fields(name: str) -> dict[str, Any]:
    return {"items": _reader_doc(name)["fields"]}


@bp.post("/meta/objects/<name>/fields")
def add_field(name: str) -> tuple[dict[str, Any], int]:
    return _designer().add_field(_admin(), name, json_body()), 201


@bp.get("/meta/objects/<name>/fields/<field>")
def get_field(name: str, field: str) -> dict[str, Any]:
    for f in _reader_doc(name)["fields"]:
        if f["name"] == field:
            return dict(f)
    raise NotFound(f"'{name[:40]}' has no field named '{field[:40]}'")


@bp.patch("/meta/objects/<name>/fields/<field>")
def update_field(name: str, field: str) -> dict[str, Any]:
    return _designer().update_field(_admin(), name, field, json_body(), dry_run=flag("dry_run"))


@bp.delete("/meta/objects/<name>/fields/<field>")
def remove_field(name: str, field: str) -> tuple[str, int]:
    _designer().remove_field(_admin(), name, field)
    return "", 204


@bp.post("/meta/objects/<name>/fields/<field>/restore")
def restore_field(name: str, field: str) -> dict[str, Any]:
    return _designer().restore_field(_admin(), name, field)


@bp.post("/meta/objects/<name>/preview")
def preview(name: str) -> dict[str, Any]:
    """Evaluate an expression over a record or draft values (any reader of the object)."""
    return RecordService(current_tenant()).preview(current_principal(), name, json_body())


@bp.get("/meta/recycle-bin")
def meta_recycle_bin() -> dict[str, Any]:
    _admin()
    return _designer().recycle_bin()


@bp.delete("/meta/recycle-bin/objects/<name_or_id>")
def purge_object(name_or_id: str) -> tuple[str, int]:
    _designer().purge_object(_admin(), name_or_id)
    return "", 204


@bp.delete("/meta/recycle-bin/objects/<name>/fields/<name_or_id>")
def purge_field(name: str, name_or_id: str) -> tuple[str, int]:
    _designer().purge_field(_admin(), name, name_or_id)
    return "", 204


@bp.get("/meta/versions")
def versions() -> dict[str, Any]:
    _admin()
    return {"items": _designer().history()}


@bp.get("/meta/versions/<int:version>")
def version(version: int) -> dict[str, Any]:
    _admin()
    snap = _designer().version(version)
    return {"version": snap.version,
            "objects": [o.doc() for o in snap.objects.values()]}


@bp.post("/meta/versions/<int:version>/rollback")
def rollback(version: int) -> dict[str, Any]:
    snap = _designer().rollback(_admin(), version)
    return {"version": snap.version, "rolled_back_to": version}
