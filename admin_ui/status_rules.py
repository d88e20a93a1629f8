"""Status rules of an object (DESIGN §5): which operations and which fields stay open while
a record is in a given status (a contracted booth is read and exported, only its notes
change). The permission engine enforces them for everybody, administrators included; this
page only edits the object's ``status_rules`` through the ``Designer``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.metadata.model import ObjectDef

from . import bp
from .base import admin, designer, lang, object_or_404
from .roles import operations_of

#: A submit button of this name shows the values of the chosen field without saving.
REFRESH = "_refresh"


def _choices(obj: ObjectDef, field: str) -> list[tuple[str, str]]:
    """(value, label) of a picklist field of ``obj`` (none for another field)."""
    f = obj.field(field) if field else None
    if f is None or f.type != "picklist":
        return []
    language = lang()
    out = []
    for c in f.options.get("choices") or []:
        label = c.get("label") or {}
        out.append((str(c["value"]), str(label.get(language) or label.get("en") or c["value"])))
    return out


def _render(obj: ObjectDef, rules: Mapping[str, Any], *,
            errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
            status: int = 200) -> tuple[str, int]:
    language = lang()
    field = str(rules.get("field") or "")
    return render_template(
        "admin/status_rules.html", obj=obj, title=obj.label(language), field=field,
        states=rules.get("states") or {}, values=_choices(obj, field),
        picklists=[(f.name, f"{f.label(language)} ({f.name})") for f in obj.fields
                   if f.type == "picklist"],
        operations=operations_of(obj), errors=errors or {}, general=general or [],
        status=status), status


@bp.get("/objects/<name>/status-rules")
def status_rules(name: str) -> tuple[str, int]:
    obj = object_or_404(designer().snapshot(), name)
    return _render(obj, obj.options.get("status_rules") or {})


def rules_of(form: MultiDict[str, str], obj: ObjectDef) -> dict[str, Any] | None:
    """The ``status_rules`` a form describes: the ``field``, and for each value ticked in
    ``restrict`` its ``ops.<value>`` and ``editable.<value>``; None without a field."""
    field = (form.get("field") or "").strip()
    if not field:
        return None
    states: dict[str, Any] = {}
    for value, _label in _choices(obj, field):
        if value not in form.getlist("restrict"):
            continue
        rule: dict[str, Any] = {"operations": list(dict.fromkeys(form.getlist(f"ops.{value}")))}
        editable = list(dict.fromkeys(form.getlist(f"editable.{value}")))
        if editable:
            rule["editable_fields"] = editable
        states[value] = rule
    return {"field": field, "states": states}


def rule_errors(fields: Mapping[str, list[str]],
                values: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """``$.status_rules.states.<value>.operations`` is the input ``ops.<value>``;
    ``editable_fields`` is ``editable.<value>``; anything else shows above the form."""
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for path, messages in fields.items():
        key = "field" if path == "$.status_rules.field" else None
        for value in values:
            base = f"$.status_rules.states.{value}"
            if path == base + ".operations" or path.startswith(base + ".operations["):
                key = f"ops.{value}"
            elif path == base + ".editable_fields" or path.startswith(base + ".editable_fields["):
                key = f"editable.{value}"
        if key is None:
            general.extend(f"{path}: {m}" for m in messages)
        else:
            placed.setdefault(key, []).extend(messages)
    return placed, general


@bp.post("/objects/<name>/status-rules")
def save_status_rules(name: str) -> Response | tuple[str, int]:
    obj = object_or_404(designer().snapshot(), name)
    rules = rules_of(request.form, obj)
    if request.form.get(REFRESH):
        return _render(obj, {"field": request.form.get("field") or "",
                             "states": (rules or {}).get("states") or {}})
    try:
        designer().update_object(admin(), name, {"status_rules": rules})
    except (ValidationFailed, Conflict) as exc:
        values = [v for v, _ in _choices(obj, rules["field"] if rules else "")]
        errors, general = rule_errors(exc.fields, values)
        return _render(obj, rules or {}, errors=errors,
                       general=general or ([] if errors else [exc.message]), status=exc.status)
    flash(gettext("Status rules saved."), "ok")
    return redirect(url_for("admin_ui.status_rules", name=name), 303)
