"""The approval process designer: the list of processes, a new process, a BPMN file's
import, the process form (entry criteria, steps and their approvers, field updates) beside
the saved version's diagram, its BPMN export and removal.

Every save goes through ``ProcessService`` (the same checks and versions as
``/api/v1/meta/processes``); its errors come back beside the inputs they concern. The
BPMN editor's pages are in ``process_diagrams``.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, NotFound, ValidationFailed
from crmforge.metadata.model import ObjectDef, Snapshot
from crmforge.metadata.processes import OWNER_UPDATE, RELATED
from crmforge.web.context import current_tenant
from crmforge.workflow.definitions import ProcessService
from crmforge.workflow.importer import read_bpmn

from . import bp
from .base import admin, designer, lang
from .process_forms import (
    MODES,
    apply_operation,
    counts,
    new_process,
    place_process_errors,
    process_patch,
    process_values,
)

#: A submit button of this name changes the step rows without saving.
OPERATION = "_op"
#: The checkbox confirming a removal.
CONFIRM = "confirm"


def service() -> ProcessService:
    return ProcessService(current_tenant())


def process_label(doc: dict[str, Any]) -> str:
    labels = doc.get("label") or {}
    return str(labels.get(lang()) or labels.get("en") or labels.get("zh") or doc["name"])


def object_choices(snap: Snapshot) -> list[tuple[str, str]]:
    language = lang()
    return sorted(((o.name, o.label(language)) for o in snap.objects.values()),
                  key=lambda p: p[1].lower())


def _refused(exc: ValidationFailed | Conflict, values: dict[str, str],
             aliases: dict[str, str] | None = None
             ) -> tuple[dict[str, list[str]], list[str]]:
    """Errors beside their inputs; ``aliases`` names inputs of errors without a JSON path."""
    aliases = aliases or {}
    errors, general = place_process_errors(
        {k: v for k, v in exc.fields.items() if k not in aliases}, values)
    for key, alias in aliases.items():
        if key in exc.fields:
            errors[alias] = list(exc.fields[key])
    return errors, general or ([] if errors else [exc.message])


@bp.get("/processes")
def processes() -> tuple[str, int]:
    return render_list()


def render_list(values: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None,
                general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    snap = designer().snapshot()
    objects = object_choices(snap)
    names = dict(objects)
    rows = [{"name": p["name"], "label": process_label(p),
             "object": names.get(p["object"], p["object"]), "steps": len(p["steps"]),
             "version": p.get("version", 1)} for p in service().list()]
    rows.sort(key=lambda r: str(r["label"]).lower())
    return render_template("admin/processes.html", rows=rows, objects=objects,
                           values=values or {}, errors=errors or {}, general=general or [],
                           status=status), status


@bp.post("/processes/import")
def import_process() -> Response | tuple[str, int]:
    """A ``.bpmn`` file (bpmn-js, Camunda Modeler) as a new process."""
    form = {k: (request.form.get(k) or "").strip() for k in ("import_name", "import_object")}
    upload = request.files.get("file")
    try:
        xml = upload.read() if upload is not None else b""
        imported = read_bpmn(xml, form["import_name"], form["import_object"])
        created = service().create(admin(), imported.doc)
    except (ValidationFailed, Conflict) as exc:
        errors, general = _refused(exc, {}, {"bpmn": "file"})
        for key in ("name", "object"):
            if key in errors:
                errors["import_" + key] = errors.pop(key)
        # What the imported document got wrong (an unknown user, role or field) has no
        # input on this form: it is listed above it, not lost.
        shown = ("file", "import_name", "import_object")
        general = [*general, *(m for k, v in errors.items() if k not in shown for m in v)]
        errors = {k: v for k, v in errors.items() if k in shown}
        return render_list(form, errors, general, exc.status)
    flash(gettext("Process imported."), "ok")
    for left_out in imported.warnings:  # shown translated (server_messages)
        flash(left_out.message, "warn")
    return redirect(url_for("admin_ui.process", name=created["name"]), 303)


def render_process(doc: dict[str, Any] | None, values: dict[str, str], *,
                   errors: dict[str, list[str]] | None = None,
                   general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """The process form; ``doc`` is the saved process (None for a new one)."""
    snap = designer().snapshot()
    language = lang()
    obj = snap.object(values.get("object", ""))
    user_fields = [(f.name, f"{f.label(language)} ({f.name})")
                   for f in (obj.fields if obj else []) if f.type == "user"]
    writable = update_targets(obj, snap, language) if obj else []
    roles = sorted((str(r["name"]), str(r["name"])) for r in snap.data.get("roles", []))
    return render_template(
        "admin/process.html", proc=doc, title=process_label(doc) if doc else None,
        values=values, errors=errors or {}, general=general or [], counts=counts(values),
        modes=MODES, roles=roles, user_fields=user_fields, writable=writable,
        objects=object_choices(snap), object_label=obj.label(language) if obj else "",
        status=status), status


def update_targets(obj: ObjectDef, snap: Snapshot, language: str) -> list[tuple[str, str]]:
    """What an approval may set, as (key, label) choices: the object's writable fields and
    its owner, then the same of each record one of its lookups points to
    (``<lookup>.<field>``, metadata.processes.related_update)."""
    def own(target: ObjectDef, prefix: str, lead: str) -> list[tuple[str, str]]:
        fields = [(prefix + f.name, f"{lead}{f.label(language)} ({prefix}{f.name})")
                  for f in target.fields if f.kind.writable]
        return [*fields, (prefix + OWNER_UPDATE, f"{lead}{gettext('Owner')} "
                                                 f"({prefix}{OWNER_UPDATE})")]

    choices = own(obj, "", "")
    for f in obj.fields:
        target = snap.object(f.target or "") if f.type in ("lookup", "master_detail") else None
        if target is not None:
            choices += own(target, f.name + RELATED, f"{f.label(language)} → ")
    return choices


@bp.route("/processes/new", methods=["GET", "POST"])
def new_process_form() -> Response | tuple[str, int]:
    if request.method == "GET":
        values = {"name": request.args.get("name", ""), "object": request.args.get("object", ""),
                  "steps-0-mode": "single", "steps-0-manager": "1"}
        return render_process(None, values)
    if request.form.get(OPERATION):
        return render_process(None, apply_operation(request.form, request.form[OPERATION]))
    try:
        created = service().create(admin(), new_process(request.form))
    except (ValidationFailed, Conflict) as exc:
        errors, general = _refused(exc, dict(request.form))
        return render_process(None, dict(request.form), errors=errors, general=general,
                              status=exc.status)
    flash(gettext("Process created."), "ok")
    return redirect(url_for("admin_ui.process", name=created["name"]), 303)


@bp.route("/processes/<name>", methods=["GET", "POST"])
def process(name: str) -> Response | tuple[str, int]:
    current = service().get(name)
    if request.method == "GET":
        return render_process(current, process_values(current))
    if request.form.get(OPERATION):
        values = apply_operation(request.form, request.form[OPERATION])
        return render_process(current, {**values, "object": current["object"]})
    values = {**request.form, "object": current["object"]}
    try:
        service().update(admin(), name, process_patch(request.form, current))
    except (ValidationFailed, Conflict) as exc:
        errors, general = _refused(exc, values)
        return render_process(current, values, errors=errors, general=general,
                              status=exc.status)
    flash(gettext("Saved."), "ok")
    return redirect(url_for("admin_ui.process", name=name), 303)


@bp.get("/processes/<name>/bpmn")
def process_bpmn(name: str) -> Response:
    """The saved version as BPMN 2.0 (the diagram beside the form, and "Export BPMN")."""
    xml = service().bpmn(name)
    response = Response(xml, mimetype="application/xml")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.bpmn"'
    return response


@bp.post("/processes/<name>/delete")
def delete_process(name: str) -> Response | tuple[str, int]:
    current = service().get(name)
    if not request.form.get(CONFIRM):
        return render_process(current, process_values(current),
                              errors={CONFIRM: [gettext("Tick the box to confirm.")]},
                              status=422)
    try:
        service().delete(admin(), name)
    except (Conflict, NotFound) as exc:
        return render_process(current, process_values(current), general=[exc.message],
                              status=exc.status)
    flash(gettext("Process deleted."), "ok")
    return redirect(url_for("admin_ui.processes"), 303)
