"""``/settings/delegation``: the signed-in user's delegation (委托) of approval tasks while
they are away. The form posts to the same service as ``/api/v1/auth/me/delegation``; a
refusal (yourself, a cycle, an inactive user, a window that ends before it starts) is
shown on the page and nothing changes."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...core.errors import CRMError
from ...workflow.delegation import Delegations
from ..context import current_principal, current_tenant
from . import bp


def _render(error: str | None = None, status: int = 200) -> tuple[str, int]:
    p = current_principal()
    current = Delegations(current_tenant()).get(int(p.user_id or 0))
    return render_template("delegation.html", delegation=current, error=error), status


@bp.get("/settings/delegation")
def delegation_page() -> tuple[str, int]:
    return _render()


@bp.post("/settings/delegation")
def delegation_save() -> Response | tuple[str, int]:
    p = current_principal()
    service = Delegations(current_tenant())
    try:
        if request.form.get("clear"):
            service.delete(int(p.user_id or 0))
            flash("delegation-cleared", "ok")
        else:
            body: dict[str, Any] = {"to": request.form.get("to", "").strip()}
            for key in ("from", "until"):  # datetime-local inputs, read as UTC
                value = request.form.get(key, "").strip()
                body[key] = value + "Z" if value else None
            service.put(p, int(p.user_id or 0), body)
            flash("delegation-saved", "ok")
    except CRMError as exc:
        return _render(exc.message, exc.status)
    return redirect(url_for("pages.delegation_page"), 303)
