"""Automation rules (admin only): ``/api/v1/meta/automations`` (DESIGN §9, second part),
plus each rule's run log (``.../<name>/runs``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ...security import engine as permissions
from ...security.principal import Principal
from ...workflow.automation import AutomationService
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("automations", __name__)


def _admin() -> Principal:
    p = current_principal()
    permissions.check_admin(p)
    return p


@bp.get("/meta/automations")
def list_automations() -> dict[str, Any]:
    _admin()
    return {"items": AutomationService(current_tenant()).list()}


@bp.post("/meta/automations")
def create_automation() -> tuple[dict[str, Any], int]:
    p = _admin()
    return AutomationService(current_tenant()).create(p, json_body()), 201


@bp.get("/meta/automations/<name>")
def get_automation(name: str) -> dict[str, Any]:
    _admin()
    return AutomationService(current_tenant()).get(name)


@bp.patch("/meta/automations/<name>")
def update_automation(name: str) -> dict[str, Any]:
    p = _admin()
    return AutomationService(current_tenant()).update(p, name, json_body())


@bp.delete("/meta/automations/<name>")
def delete_automation(name: str) -> tuple[str, int]:
    p = _admin()
    AutomationService(current_tenant()).delete(p, name)
    return "", 204


@bp.get("/meta/automations/<name>/runs")
def automation_runs(name: str) -> dict[str, Any]:
    """The rule's latest run log lines, newest first (``?limit=``, at most 500)."""
    _admin()
    limit = request.args.get("limit", "100")
    n = int(limit) if limit.isdigit() and len(limit) < 6 else 100
    return {"items": AutomationService(current_tenant()).runs(name, n)}
