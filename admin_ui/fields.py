"""Field pages: add a field (a form per type), edit it (rename, options, conditions), change
its type after a dry run that lists the values that would not convert, remove and restore.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, NotFound, ValidationFailed
from crmforge.metadata.model import ObjectDef

from . import bp, confirm
from .base import admin, designer, lang, object_or_404
from .forms import (
    FIELD_INPUTS,
    RESULT_TYPES,
    TYPES,
    field_doc,
    field_patch,
    field_values,
    place_errors,
)

#: A submit button of this name re-renders the form for the chosen type without saving.
REFRESH = "_refresh"
#: Set by the dry-run report's button: apply the type change it reported.
CONFIRM = "confirm_type"


def _render(obj: ObjectDef, field: dict[str, Any] | None, values: dict[str, str], *,
            errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
            report: dict[str, Any] | None = None, status: int = 200) -> tuple[str, int]:
    snap = designer().snapshot()
    language = lang()
    objects = sorted(((o.name, o.label(language)) for o in snap.objects.values()),
                     key=lambda p: p[1].lower())
    children = sorted({(o.name, o.label(language)) for o, _ in obj.children(snap)})
    return render_template(
        "admin/field.html", obj=obj, field=field, values=values, errors=errors or {},
        general=general or [], report=report, types=TYPES, result_types=RESULT_TYPES,
        objects=objects, children=children,
        status=status), status


def _refusal(obj: ObjectDef, field: dict[str, Any] | None, index: int,
             exc: ValidationFailed | Conflict) -> tuple[str, int]:
    """The form again with the Designer's errors beside their inputs."""
    errors, general = place_errors(exc.fields, f"$.fields[{index}]", inputs=FIELD_INPUTS)
    return _render(obj, field, dict(request.form), errors=errors,
                   general=general or ([] if errors else [exc.message]), status=exc.status)


@bp.route("/objects/<name>/fields/new", methods=["GET", "POST"])
def new_field(name: str) -> Response | tuple[str, int]:
    obj = object_or_404(designer().snapshot(), name)
    if request.method == "GET" or request.form.get(REFRESH):
        values = dict(request.form) if request.method == "POST" else {
            "type": request.args.get("type", "text")}
        return _render(obj, None, values)
    try:
        added = designer().add_field(admin(), name, field_doc(request.form))
    except (ValidationFailed, Conflict) as exc:
        return _refusal(obj, None, len(obj.fields), exc)
    flash(gettext("Field added."), "ok")
    return redirect(url_for("admin_ui.edit_field", name=name, field=added["name"]), 303)


@bp.route("/objects/<name>/fields/<field>", methods=["GET", "POST"])
def edit_field(name: str, field: str) -> Response | tuple[str, int]:
    obj = object_or_404(designer().snapshot(), name)
    current = obj.field(field)
    if current is None:
        raise NotFound(f"'{name}' has no field named '{field[:40]}'")
    doc = current.doc()
    if request.method == "GET":
        return _render(obj, doc, field_values(doc))
    if request.form.get(REFRESH):
        return _render(obj, doc, dict(request.form))
    patch = field_patch(field_doc(request.form, doc), doc)
    index = obj.fields.index(current)
    try:
        if patch.get("type") != current.type and request.form.get(CONFIRM) != patch.get("type"):
            # A type change converts stored values: show what would not convert first.
            report = designer().update_field(admin(), name, field, patch, dry_run=True)
            return _render(obj, doc, dict(request.form), report=report)
        saved = designer().update_field(admin(), name, field, patch)
    except (ValidationFailed, Conflict) as exc:
        return _refusal(obj, doc, index, exc)
    flash(gettext("Saved."), "ok")
    return redirect(url_for("admin_ui.edit_field", name=name, field=saved["name"]), 303)


@bp.post("/objects/<name>/fields/<field>/remove")
def remove_field(name: str, field: str) -> Response | tuple[str, int]:
    obj = object_or_404(designer().snapshot(), name)
    f = obj.field(field)
    if f is None:
        raise NotFound(f"'{name}' has no field named '{field[:40]}'")
    asked = confirm.ask(
        gettext("Remove the field %(field)s of %(object)s?", field=f.label(lang()),
                object=obj.label(lang())),
        gettext("The field and its values go to the metadata recycle bin; they can be restored."),
        url_for("admin_ui.object_page", name=name), gettext("Yes, remove it"))
    if asked is not None:
        return asked
    designer().remove_field(admin(), name, field)
    flash(gettext("Field moved to the metadata recycle bin."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name), 303)


@bp.post("/objects/<name>/removed-fields/<field_id>/restore")
def restore_field(name: str, field_id: str) -> Response:
    designer().restore_field(admin(), name, field_id)
    flash(gettext("Restored."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name), 303)
