"""The explain tool in the designer: may this user do this operation on this object (or
record), and which level decided? It asks the function behind ``GET /api/v1/admin/explain``,
so the page and the API cannot give different answers."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext

from crmforge.core.errors import CRMError
from crmforge.metadata.validation import OPERATIONS
from crmforge.security import org
from crmforge.web.api.admin import explain_field_for, explain_for
from crmforge.web.context import current_tenant

from . import bp
from .base import designer, lang
from .roles import operation_labels


def level_labels() -> dict[str, str]:
    """The levels an explanation names (security/explain.py), in the page language."""
    return {"login": gettext("Sign-in"), "operation": gettext("Operation"),
            "role": gettext("Role"), "department": gettext("Department"),
            "person": gettext("Person"), "status": gettext("Status or lock"),
            "field": gettext("Field")}


@bp.get("/explain")
def explain() -> tuple[str, int]:
    """The form, and with user, object and operation (or a field) chosen, the answer
    beside it. A field asks the field level: hidden, read or edit, and for a field derived
    from a hidden one, which source hides it."""
    args = {k: (request.args.get(k) or "").strip() for k in ("user", "object", "operation",
                                                             "record", "field")}
    decision: dict[str, Any] | None = None
    general: list[str] = []
    status = 200
    if args["user"] and args["object"] and args["field"]:
        try:
            decision = explain_field_for(args["user"], args["object"], args["field"]).as_dict()
        except CRMError as exc:
            general, status = [exc.message], exc.status
    elif args["user"] and args["object"] and args["operation"]:
        try:
            decision = explain_for(args["user"], args["object"], args["operation"],
                                   args["record"] or None).as_dict()
        except CRMError as exc:
            general, status = [exc.message], exc.status
    with current_tenant().read() as conn:
        users = [(u["username"], u["display_name"] or u["username"])
                 for u in org.list_users(conn)]
    language = lang()
    objects = sorted(((o.name, o.label(language)) for o in designer().snapshot().objects.values()),
                     key=lambda p: p[1].lower())
    labels = operation_labels()
    return render_template(
        "admin/explain.html", values=args, decision=decision, general=general,
        users=[(name, f"{shown} ({name})" if shown != name else name) for name, shown in users],
        objects=[(name, f"{label} ({name})") for name, label in objects],
        operations=[(op, labels.get(op, op)) for op in OPERATIONS],
        levels=level_labels(), status=status), status
