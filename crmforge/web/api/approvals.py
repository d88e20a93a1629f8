"""Approvals (DESIGN §9): submit, the inbox, task actions, withdraw, recall, history, and
the caller's notifications. Views only parse HTTP; ``ApprovalService`` does the work."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ...core.errors import BadRequest
from ...core.ids import parse_id
from ...security.engine import engine as permission_engine
from ...workflow import ApprovalService
from ...workflow import notify as notifications
from ...workflow.delegation import Delegations
from ..context import current_principal, current_tenant
from ..languages import request_lang
from .util import json_body

bp = Blueprint("approvals", __name__)

#: Notifications marked read in one call (a page of the inbox is far fewer).
MAX_NOTIFICATION_IDS = 1000


def _service() -> ApprovalService:
    return ApprovalService(current_tenant(), request_lang())


def _optional_body() -> Any:
    return json_body() if request.data else {}


@bp.post("/approvals")
def submit() -> tuple[dict[str, Any], int]:
    p = current_principal()
    body = json_body()
    if not isinstance(body, dict) or "object" not in body or "record" not in body:
        raise BadRequest('send {"object", "record"}')
    process = body.get("process")
    return _service().submit(p, body["object"], body["record"],
                             str(process) if process is not None else None), 201


@bp.get("/approvals/tasks")
def inbox() -> dict[str, Any]:
    return {"items": _service().inbox(current_principal())}


@bp.post("/approvals/tasks/approve")
def bulk_approve() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest('send {"ids": [...], "comment"}')
    comment = body.get("comment")
    return _service().bulk_approve(current_principal(), body.get("ids"),
                                   comment if isinstance(comment, str) else None)


@bp.post("/approvals/tasks/<task_id>/<action>")
def act(task_id: str, action: str) -> dict[str, Any]:
    return _service().act(current_principal(), task_id, action, _optional_body())


@bp.get("/approvals/submissions")
def submissions() -> dict[str, Any]:
    return {"items": _service().submissions(current_principal())}


@bp.get("/approvals/<instance_id>")
def detail(instance_id: str) -> dict[str, Any]:
    return _service().detail(current_principal(), instance_id)


@bp.post("/approvals/<instance_id>/withdraw")
def withdraw(instance_id: str) -> dict[str, Any]:
    return _service().withdraw(current_principal(), instance_id, _optional_body())


@bp.post("/approvals/<instance_id>/recall")
def recall(instance_id: str) -> dict[str, Any]:
    return _service().recall(current_principal(), instance_id, _optional_body())


@bp.post("/approvals/<instance_id>/remind")
def remind(instance_id: str) -> dict[str, Any]:
    """Nudge (催办) the current approvers: the submitter or an administrator, once an hour."""
    return _service().remind(current_principal(), instance_id)


# -- delegation (委托) ----------------------------------------------------------------------
def _delegations() -> Delegations:
    return Delegations(current_tenant())


def _me() -> int:
    p = current_principal()
    if p.user_id is None:
        raise BadRequest("only a signed-in user has a delegation")
    return int(p.user_id)


@bp.get("/auth/me/delegation")
def my_delegation() -> dict[str, Any]:
    return {"delegation": _delegations().get(_me())}


@bp.put("/auth/me/delegation")
def set_my_delegation() -> dict[str, Any]:
    return {"delegation": _delegations().put(current_principal(), _me(), json_body())}


@bp.delete("/auth/me/delegation")
def clear_my_delegation() -> tuple[str, int]:
    _delegations().delete(_me())
    return "", 204


@bp.route("/admin/users/<username>/delegation", methods=["GET", "PUT", "DELETE"])
def user_delegation(username: str) -> Any:
    """An administrator sets or clears someone's delegation (they are away unprepared)."""
    p = current_principal()
    permission_engine.check_admin(p)
    service = _delegations()
    uid = service.user_id(username)
    if request.method == "GET":
        return {"delegation": service.get(uid)}
    if request.method == "DELETE":
        service.delete(uid)
        return "", 204
    return {"delegation": service.put(p, uid, json_body())}


@bp.get("/notifications")
def list_notifications() -> dict[str, Any]:
    p = current_principal()
    unread = request.args.get("unread", "").lower() in ("1", "true", "yes")
    _service()  # the tables exist from then on
    with current_tenant().read() as conn:
        return {"items": notifications.inbox(conn, p.user_id or 0, unread)}


@bp.post("/notifications/read")
def read_notifications() -> dict[str, Any]:
    p = current_principal()
    body = _optional_body()
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(body, dict) or (ids is not None and not (
            isinstance(ids, list) and len(ids) <= MAX_NOTIFICATION_IDS
            and all(parse_id(i) is not None and isinstance(i, int) for i in ids))):
        raise BadRequest('send {"ids": [notification ids]} (at most '
                         f'{MAX_NOTIFICATION_IDS}) or nothing for all')
    _service()
    with current_tenant().write() as conn:
        return {"marked": notifications.mark_read(conn, p.user_id or 0, ids)}
