"""The approver's inbox ``/inbox``: open tasks across objects, with approve, reject, return,
transfer and a comment per task, and bulk approval of the selected ones.

Every action is a plain form post (CSRF token in the form) that calls ``ApprovalService``;
the service decides everything (whose task it is, whether it is still open). Success
redirects back to the inbox with a message; a refusal shows the service's message on the
inbox with its status. htmx requests get the refusal with status 200, because htmx does not
swap error answers, and swap the page's main region only.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...core.errors import BadRequest, CRMError
from ...security.principal import Principal
from ...workflow import ApprovalService
from ..context import current_principal, current_tenant
from . import bp
from .i18n import current_lang

#: The actions the inbox offers (the service also knows add-approver and comment).
TASK_ACTIONS = ("approve", "reject", "return", "transfer")


def _title(snapshot: dict[str, Any], object_title: str | None, rid: int) -> str:
    value = snapshot.get(object_title) if object_title else None
    return str(value) if value not in (None, "") else f"#{rid}"


def _tasks() -> list[dict[str, Any]]:
    """The signed-in user's open tasks, labelled in the page's language."""
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    lang = current_lang()
    out = []
    for t in ApprovalService(tenant, lang).inbox(current_principal()):
        obj = snap.object(t["object"])
        title_field = obj.title_field if obj is not None else None
        out.append({**t, "object_label": obj.label(lang) if obj is not None else t["object"],
                    "title": _title(t["record"], title_field, t["record_id"])})
    return out


def open_count() -> int:
    """The navigation's number of open tasks (0 when nobody is signed in); counted once
    per request, as the top bar and the home page both show it."""
    if "open_tasks" in g:
        return int(g.open_tasks)
    try:
        principal = current_principal()
        tenant = current_tenant()
    except CRMError:
        return 0
    g.open_tasks = ApprovalService(tenant).open_count(principal)
    return int(g.open_tasks)


def _refused(exc: CRMError) -> tuple[str, int]:
    status = 200 if request.headers.get("HX-Request") else exc.status
    return render_template("inbox.html", tasks=_tasks(), error=exc.message), status


@bp.get("/inbox")
def inbox() -> str:
    return render_template("inbox.html", tasks=_tasks(), error=None)


@bp.post("/inbox/<int:task_id>")
def inbox_act(task_id: int) -> Response | tuple[str, int]:
    action = request.form.get("action", "")
    body: dict[str, Any] = {"comment": request.form.get("comment", "").strip() or None}
    if action == "transfer":
        body["to"] = request.form.get("to", "").strip()
    edits = {k[len("value-"):]: (v.strip() or None) for k, v in request.form.items()
             if k.startswith("value-")}
    if action == "approve" and edits:
        body["values"] = edits  # the step's "edit" fields, checked by the service
    try:
        if action not in TASK_ACTIONS:
            raise BadRequest(f"no approval action '{action[:20]}'")
        ApprovalService(current_tenant()).act(current_principal(), task_id, action, body)
    except CRMError as exc:
        return _refused(exc)
    flash(f"task-{action}", "ok")
    return redirect(url_for("pages.inbox"), 303)


@bp.post("/inbox/approve")
def inbox_bulk() -> Response | tuple[str, int]:
    ids = [int(i) for i in request.form.getlist("task") if i.isascii() and i.isdigit()]
    comment = request.form.get("comment", "").strip() or None
    if not ids:
        status = 200 if request.headers.get("HX-Request") else 400
        return render_template("inbox.html", tasks=_tasks(), error=None,
                               nothing_selected=True), status
    try:
        ApprovalService(current_tenant()).bulk_approve(current_principal(), ids, comment)
    except CRMError as exc:
        return _refused(exc)
    flash("tasks-approved", "ok")
    return redirect(url_for("pages.inbox"), 303)


def record_approval(principal: Principal, object_name: str, rid: int) -> dict[str, Any]:
    """What a record page shows of its approval (``ApprovalService.record_status``)."""
    status = ApprovalService(current_tenant(), current_lang()).record_status(principal, object_name, rid)
    approval = status["approval"]
    if approval is not None:
        status["current_steps"] = sorted({t["step"] for t in approval["tasks"]
                                          if t["status"] == "open"})
    return status


@bp.post("/records/<object_name>/<int:record_id>/remind/<int:instance_id>")
def record_remind(object_name: str, record_id: int, instance_id: int) -> Response:
    """Nudge (催办) the approvers of the record's running approval."""
    try:
        ApprovalService(current_tenant()).remind(current_principal(), instance_id)
    except CRMError as exc:
        flash(exc.message, "error")
    else:
        flash("reminded", "ok")
    return redirect(url_for("pages.record_page", object_name=object_name,
                            record_id=record_id), 303)


@bp.post("/records/<object_name>/<int:record_id>/submit")
def record_submit(object_name: str, record_id: int) -> Response:
    """Submit a record for approval; a refusal comes back as a message on its page."""
    try:
        ApprovalService(current_tenant()).submit(current_principal(), object_name, record_id)
    except CRMError as exc:
        flash(exc.message, "error")
    else:
        flash("submitted", "ok")
    return redirect(url_for("pages.record_page", object_name=object_name,
                            record_id=record_id), 303)
