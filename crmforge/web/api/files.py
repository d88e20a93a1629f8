"""File endpoints (DESIGN §9, second part): uploads, file fields, attachments, previews and
removed files; thin adapters over ``runtime.files.service`` (every check lives there)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from ...runtime.files.service import FileService
from .. import uploads
from ..context import current_principal, current_tenant
from .util import flag

bp = Blueprint("files", __name__)
ITEM = "/records/<object_name>/<record_id>/attachments/<int:attachment_id>"


def _service() -> FileService:
    return FileService(current_tenant(), uploads.policy())


def _send(download: Any) -> Response:
    return uploads.send(download, attachment=flag("download"))


@bp.post("/files")
def upload() -> tuple[dict[str, Any], int]:
    """Store a file that a file field may then be set to (by its id)."""
    principal = current_principal()
    part = uploads.uploaded_file()
    return _service().upload(principal, part.stream, part.filename), 201


@bp.get("/records/<object_name>/<record_id>/files/<field>")
def field_file(object_name: str, record_id: str, field: str) -> Response:
    return _send(_service().open_field(current_principal(), object_name, record_id, field,
                                       thumbnail=flag("preview")))


@bp.get("/records/<object_name>/<record_id>/attachments")
def list_attachments(object_name: str, record_id: str) -> dict[str, Any]:
    return {"items": _service().attachments(current_principal(), object_name, record_id)}


@bp.post("/records/<object_name>/<record_id>/attachments")
def add_attachment(object_name: str, record_id: str) -> tuple[dict[str, Any], int]:
    principal = current_principal()
    part = uploads.uploaded_file()
    return _service().attach(principal, object_name, record_id, part.stream, part.filename), 201


@bp.get(ITEM)
def get_attachment(object_name: str, record_id: str, attachment_id: int) -> Response:
    return _send(_service().open_attachment(current_principal(), object_name, record_id,
                                            attachment_id, thumbnail=flag("preview")))


@bp.delete(ITEM)
def remove_attachment(object_name: str, record_id: str, attachment_id: int) -> tuple[str, int]:
    _service().remove(current_principal(), object_name, record_id, attachment_id)
    return "", 204


@bp.post(ITEM + "/restore")
def restore_attachment(object_name: str, record_id: str, attachment_id: int) -> dict[str, Any]:
    return _service().restore(current_principal(), object_name, record_id, attachment_id)


@bp.get("/recycle-bin/files")
def removed_files() -> dict[str, Any]:
    return {"items": _service().removed(current_principal())}


@bp.delete("/recycle-bin/<object_name>/<record_id>/files/<int:file_id>")
def purge_file(object_name: str, record_id: str, file_id: int) -> tuple[str, int]:
    _service().purge(current_principal(), object_name, record_id, file_id)
    return "", 204
