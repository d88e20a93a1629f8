"""Webhooks over HTTP (DESIGN §9, second part): ``/api/v1/admin/webhooks``, the delivery
log, and the resend of a delivery (a compatible extension, docs/api.md). Administrators
only (403 for anybody else); the views parse HTTP and call ``integrations.webhooks``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ...integrations.webhooks import WebhookService
from ...integrations.webhooks.documents import request_hosts
from ...security import engine as permissions
from ...security.principal import Principal
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("webhooks", __name__)


def _admin() -> Principal:
    p = current_principal()
    permissions.check_admin(p)
    return p


def _service() -> WebhookService:
    return WebhookService(current_tenant())


def _self_hosts() -> list[tuple[str, int]]:
    """Where this request reached the server: a webhook may not point there."""
    return request_hosts(request.host, request.scheme)


@bp.get("/admin/webhooks")
def list_webhooks() -> dict[str, Any]:
    return {"items": _service().list(_admin())}


@bp.post("/admin/webhooks")
def create_webhook() -> tuple[dict[str, Any], int]:
    p = _admin()
    return _service().create(p, json_body(), _self_hosts()), 201


@bp.get("/admin/webhooks/<name>")
def get_webhook(name: str) -> dict[str, Any]:
    return _service().get(_admin(), name)


@bp.patch("/admin/webhooks/<name>")
def update_webhook(name: str) -> dict[str, Any]:
    p = _admin()
    return _service().update(p, name, json_body(), _self_hosts())


@bp.delete("/admin/webhooks/<name>")
def delete_webhook(name: str) -> tuple[str, int]:
    _service().delete(_admin(), name)
    return "", 204


@bp.get("/admin/webhooks/<name>/deliveries")
def deliveries(name: str) -> dict[str, Any]:
    return _service().deliveries(_admin(), name, limit=request.args.get("limit"),
                                 before=request.args.get("before"),
                                 status=request.args.get("status"))


@bp.get("/admin/webhooks/<name>/deliveries/<delivery_id>")
def delivery(name: str, delivery_id: str) -> dict[str, Any]:
    return _service().delivery(_admin(), name, delivery_id)


@bp.post("/admin/webhooks/<name>/deliveries/<delivery_id>/resend")
def resend(name: str, delivery_id: str) -> tuple[dict[str, Any], int]:
    return _service().resend(_admin(), name, delivery_id), 202
