"""Approval process definitions (admin only): ``/api/v1/meta/processes``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from ...core.errors import BadRequest
from ...security import engine as permissions
from ...security.principal import Principal
from ...workflow.definitions import ProcessService
from ...workflow.importer import read_bpmn
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("processes", __name__)


def _admin() -> Principal:
    p = current_principal()
    permissions.check_admin(p)
    return p


@bp.get("/meta/processes")
def list_processes() -> dict[str, Any]:
    _admin()
    return {"items": ProcessService(current_tenant()).list()}


@bp.post("/meta/processes")
def create_process() -> tuple[dict[str, Any], int]:
    p = _admin()
    return ProcessService(current_tenant()).create(p, json_body()), 201


@bp.post("/meta/processes/import")
def import_process() -> tuple[dict[str, Any], int]:
    """``{"name", "object", "bpmn": "<xml>"}``: a hand-made BPMN diagram as a process; the
    answer is the process with ``warnings``, each element of the file it does without."""
    p = _admin()
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("bpmn"), str):
        raise BadRequest('send {"name", "object", "bpmn": "<BPMN XML>"}')
    imported = read_bpmn(body["bpmn"].encode(), str(body.get("name") or ""),
                         str(body.get("object") or ""))
    created = ProcessService(current_tenant()).create(p, imported.doc)
    return {**created, "warnings": [w.as_json() for w in imported.warnings]}, 201


@bp.get("/meta/processes/<name>")
def get_process(name: str) -> dict[str, Any]:
    _admin()
    return ProcessService(current_tenant()).get(name)


@bp.get("/meta/processes/<name>/bpmn")
def export_process(name: str) -> Response:
    _admin()
    xml = ProcessService(current_tenant()).bpmn(name)
    return Response(xml, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.bpmn"'})


@bp.patch("/meta/processes/<name>")
def update_process(name: str) -> dict[str, Any]:
    p = _admin()
    return ProcessService(current_tenant()).update(p, name, json_body())


@bp.delete("/meta/processes/<name>")
def delete_process(name: str) -> tuple[str, int]:
    p = _admin()
    ProcessService(current_tenant()).delete(p, name)
    return "", 204
