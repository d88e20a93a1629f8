"""The browser designer (DESIGN §1, §9: ``/admin/``): objects, fields, validation rules,
the metadata recycle bin and the version history, as server-rendered pages.

It sits at the web layer: views parse forms, call the ``Designer`` and the
``RecordService`` and render; validation, conversion and expression checking stay in
those services, so a change made here is the same change the REST API would make.

Only administrators get in: without a session the browser goes to ``/login`` and comes
back; a signed-in user who may not change metadata gets 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from crmforge.core.errors import CRMError, Forbidden, Unauthorized
from crmforge.security import engine as permissions
from crmforge.web.context import current_principal

bp = Blueprint("admin_ui", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")

PUBLIC_ENDPOINTS = frozenset({"admin_ui.static"})


def is_admin() -> bool:
    """Whether the signed-in user may use the designer (False without a user)."""
    try:
        return permissions.can_manage_metadata(current_principal())
    except CRMError:
        return False


@bp.before_request
def _admins_only() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    try:
        principal = current_principal()
    except Unauthorized:
        return redirect(url_for("session.login_form", next=request.full_path.rstrip("?")))
    if not permissions.can_manage_metadata(principal):
        raise Forbidden("only administrators use the designer")
    return None


@bp.errorhandler(CRMError)
def _error(exc: CRMError) -> tuple[str, int]:
    return render_template("error.html", error=exc), exc.status


@bp.app_context_processor
def _designer_link() -> dict[str, Any]:
    """``designer_url()`` for the top bar: the designer's address for administrators."""
    def designer_url() -> str | None:
        return url_for("admin_ui.home") if is_admin() else None
    return {"designer_url": designer_url}


from . import (  # noqa: E402,F401  (views register on bp)
    apps,
    automations,
    departments,
    explain,
    expressions,
    fields,
    history,
    layouts,
    objects,
    process_diagrams,
    processes,
    roles,
    status_rules,
    users,
)
