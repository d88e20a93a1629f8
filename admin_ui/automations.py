"""The automation rule designer: the list of rules (enable or disable each), a new rule,
the rule form (when, watched fields, date, condition, actions) and its run log.

Every save goes through ``AutomationService`` (the same checks and versions as
``/api/v1/meta/automations``); its JSON-path errors come back beside the inputs they
concern (``automation_forms.place_errors``).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, NotFound, ValidationFailed
from crmforge.web.context import current_tenant
from crmforge.workflow.automation import AutomationService
from crmforge.workflow.automation.documents import is_date_field

from . import bp
from .automation_forms import ACTION_TYPES, WHENS, document, place_errors, rows, values_of
from .base import admin, designer, lang
from .processes import object_choices

CONFIRM = "confirm"


def service() -> AutomationService:
    return AutomationService(current_tenant())


def rule_label(doc: dict[str, Any]) -> str:
    labels = doc.get("label") or {}
    return str(labels.get(lang()) or labels.get("en") or labels.get("zh") or doc["name"])


def when_labels() -> dict[str, str]:
    return {"created": gettext("A record is created"), "updated": gettext("A record is updated"),
            "saved": gettext("A record is created or updated"),
            "deleted": gettext("A record is deleted"),
            "date": gettext("A date of the record comes (or passes)")}


def type_labels() -> dict[str, str]:
    return {"update": gettext("Update the record"), "create": gettext("Create a record"),
            "notify": gettext("Notify users"), "email": gettext("Send an e-mail"),
            "webhook": gettext("Call a webhook")}


@bp.get("/automations")
def automations() -> tuple[str, int]:
    return render_list()


def render_list(general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    snap = designer().snapshot()
    objects = object_choices(snap)
    names = dict(objects)
    whens = when_labels()
    rules = [{"name": a["name"], "label": rule_label(a),
              "object": names.get(a["object"], a["object"]),
              "when": whens.get(a["when"], a["when"]), "enabled": a.get("enabled", True),
              "version": a.get("version", 1), "pack": a.get("pack")} for a in service().list()]
    rules.sort(key=lambda r: str(r["label"]).lower())
    return render_template("admin/automations.html", rules=rules, objects=objects,
                           general=general or [], status=status), status


@bp.post("/automations/<name>/enabled")
def toggle_automation(name: str) -> Response | tuple[str, int]:
    """Enable or disable a rule from the list (``enabled=1`` or empty)."""
    on = bool(request.form.get("enabled"))
    try:
        service().update(admin(), name, {"enabled": on})
    except (ValidationFailed, Conflict) as exc:
        return render_list([exc.message], exc.status)
    flash(gettext("Rule enabled.") if on else gettext("Rule disabled."), "ok")
    return redirect(url_for("admin_ui.automations"), 303)


def render_rule(doc: dict[str, Any] | None, values: dict[str, str], *,
                errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                status: int = 200) -> tuple[str, int]:
    snap = designer().snapshot()
    language = lang()
    obj = snap.object(values.get("object", ""))
    fields = [(f.name, f"{f.label(language)} ({f.name})") for f in (obj.fields if obj else [])]
    dates = [(n, t) for n, t in fields if obj is not None and is_date_field(obj, n)]
    people = [(f.name, f"{f.label(language)} ({f.name})") for f in (obj.fields if obj else [])
              if f.type in ("user", "email")]
    roles = sorted((str(r["name"]), str(r["name"])) for r in snap.data.get("roles", []))
    run_log = service().runs(doc["name"], 20) if doc else []
    return render_template(
        "admin/automation.html", rule=doc, title=rule_label(doc) if doc else None,
        values=values, errors=errors or {}, general=general or [], rows=rows(values),
        whens=[(w, when_labels()[w]) for w in WHENS],
        types=[(t, type_labels()[t]) for t in ACTION_TYPES], fields=fields, dates=dates,
        people=people, roles=roles, objects=object_choices(snap),
        object_label=obj.label(language) if obj else values.get("object", ""),
        runs=run_log, status=status), status


@bp.route("/automations/new", methods=["GET", "POST"])
def new_automation() -> Response | tuple[str, int]:
    if request.method == "GET":
        values = {"name": request.args.get("name", ""), "object": request.args.get("object", ""),
                  "when": "created", "enabled": "1"}
        return render_rule(None, values)
    values = dict(request.form)
    doc, problems = document(request.form)
    if problems:
        return render_rule(None, values, errors=problems, status=422)
    try:
        created = service().create(admin(), doc)
    except (ValidationFailed, Conflict) as exc:
        errors, general = place_errors(exc.fields, request.form)
        return render_rule(None, values, errors=errors,
                           general=general or ([] if errors else [exc.message]),
                           status=exc.status)
    flash(gettext("Rule created."), "ok")
    return redirect(url_for("admin_ui.automation", name=created["name"]), 303)


@bp.route("/automations/<name>", methods=["GET", "POST"])
def automation(name: str) -> Response | tuple[str, int]:
    current = service().get(name)
    if request.method == "GET":
        return render_rule(current, values_of(current))
    values = {**request.form, "name": name, "object": current["object"]}
    doc, problems = document(request.form, name=name, obj=current["object"])
    if problems:
        return render_rule(current, values, errors=problems, status=422)
    patch = {**doc, **{k: None for k in ("label", "condition", "fields", "date_field",
                                         "offset_days", "yearly", "timezone")
                       if k not in doc}}
    try:
        service().update(admin(), name, patch)
    except (ValidationFailed, Conflict) as exc:
        errors, general = place_errors(exc.fields, request.form)
        return render_rule(current, values, errors=errors,
                           general=general or ([] if errors else [exc.message]),
                           status=exc.status)
    flash(gettext("Saved."), "ok")
    return redirect(url_for("admin_ui.automation", name=name), 303)


@bp.post("/automations/<name>/delete")
def delete_automation(name: str) -> Response | tuple[str, int]:
    current = service().get(name)
    if not request.form.get(CONFIRM):
        return render_rule(current, values_of(current),
                           errors={CONFIRM: [gettext("Tick the box to confirm.")]}, status=422)
    try:
        service().delete(admin(), name)
    except NotFound as exc:
        return render_rule(current, values_of(current), general=[exc.message],
                           status=exc.status)
    flash(gettext("Rule deleted."), "ok")
    return redirect(url_for("admin_ui.automations"), 303)
