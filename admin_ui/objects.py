"""The designer home (objects and the metadata recycle bin) and the object page."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.runtime.list_views import index_suggestions

from . import bp, confirm
from .base import admin, designer, lang, object_or_404
from .forms import label_of, place_errors, rule_doc, rule_values


@bp.get("/")
def home() -> tuple[str, int]:
    return render_home()


def render_home(values: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None,
                general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    d = designer()
    snap = d.snapshot()
    language = lang()
    objects = sorted(snap.objects.values(), key=lambda o: o.label(language).lower())
    bin_ = d.recycle_bin()
    for o in bin_["objects"]:
        labels = o["label"] or {}
        o["title"] = labels.get(language) or labels.get("en") or labels.get("zh") or o["name"]
    return render_template(
        "admin/home.html", objects=objects, removed=bin_, version=snap.version,
        values=values or {"first_field": "name"}, errors=errors or {}, general=general or [],
        status=status), status


@bp.post("/objects")
def create_object() -> Response | tuple[str, int]:
    form = request.form
    first: dict[str, Any] = {"name": (form.get("first_field") or "").strip(), "type": "text"}
    if label_of(form, "first_label"):
        first["label"] = label_of(form, "first_label")
    doc: dict[str, Any] = {"name": (form.get("name") or "").strip(), "fields": [first]}
    if label_of(form):
        doc["label"] = label_of(form)
    try:
        created = designer().create_object(admin(), doc)
    except (ValidationFailed, Conflict) as exc:
        errors, general = place_errors(exc.fields, "$", {"$.fields": "first_field"})
        return render_home(dict(form), errors, general or ([] if errors else [exc.message]),
                           exc.status)
    flash(gettext("Object created."), "ok")
    return redirect(url_for("admin_ui.object_page", name=created["name"]), 303)


@bp.get("/objects/<name>")
def object_page(name: str) -> tuple[str, int]:
    """The object page; ``?rule=<name>`` opens that validation rule in the rule form."""
    wanted = request.args.get("rule")
    if wanted:
        snap = designer().snapshot()
        for r in object_or_404(snap, name).options.get("validation_rules") or []:
            if r.get("name") == wanted:
                return render_object(name, rule=rule_values(r))
    return render_object(name)


def render_object(name: str, *, rule: dict[str, str] | None = None,
                  rule_errors: dict[str, list[str]] | None = None,
                  rename: dict[str, str] | None = None,
                  rename_errors: dict[str, list[str]] | None = None,
                  index_form: dict[str, str] | None = None,
                  index_errors: dict[str, list[str]] | None = None,
                  general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """The object page; a refused validation rule comes back with its form and errors."""
    d = designer()
    snap = d.snapshot()
    obj = object_or_404(snap, name)
    language = lang()
    labels = {f"label_{k}": str(v) for k, v in (obj.options.get("label") or {}).items()}
    return render_template(
        "admin/object.html", obj=obj, labels=labels,
        rules=list(obj.options.get("validation_rules") or []),
        field_choices=[(f.name, f"{f.label(language)} ({f.name})") for f in obj.fields],
        rule=rule or {}, rule_errors=rule_errors or {}, rename=rename,
        rename_errors=rename_errors, index_advice=index_suggestions(d.tenant, obj),
        index_form=index_form, index_errors=index_errors, general=general or [],
        status=status), status


@bp.post("/objects/<name>/labels")
def object_labels(name: str) -> Response | tuple[str, int]:
    try:
        designer().update_object(admin(), name, {"label": label_of(request.form) or None})
    except ValidationFailed as exc:
        return render_object(name, general=[f"{k}: {'; '.join(v)}" for k, v in exc.fields.items()]
                             or [exc.message], status=exc.status)
    flash(gettext("Saved."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name), 303)


@bp.post("/objects/<name>/rename")
def rename_object(name: str) -> Response | tuple[str, int]:
    """A new API name; the Designer rewrites every reference to the object in the same
    version, so nothing that named it breaks."""
    new_name = (request.form.get("new_name") or "").strip()
    try:
        renamed = designer().update_object(admin(), name, {"name": new_name})
    except (ValidationFailed, Conflict) as exc:
        messages = [m for k, v in exc.fields.items() if k in ("$", "$.name", "name") for m in v]
        others = [f"{k}: {'; '.join(v)}" for k, v in exc.fields.items()
                  if k not in ("$", "$.name", "name")]
        return render_object(name, rename={"new_name": new_name},
                             rename_errors={"new_name": messages or [exc.message]},
                             general=others, status=exc.status)
    flash(gettext("Object renamed."), "ok")
    return redirect(url_for("admin_ui.object_page", name=renamed["name"]), 303)


@bp.post("/objects/<name>/remove")
def remove_object(name: str) -> Response | tuple[str, int]:
    obj = object_or_404(designer().snapshot(), name)
    asked = confirm.ask(
        gettext("Remove the object %(object)s?", object=obj.label(lang())),
        gettext("The object and its records go to the metadata recycle bin; they can be restored."),
        url_for("admin_ui.object_page", name=name), gettext("Yes, remove it"))
    if asked is not None:
        return asked
    designer().remove_object(admin(), name)
    flash(gettext("Object moved to the metadata recycle bin."), "ok")
    return redirect(url_for("admin_ui.home"), 303)


@bp.post("/recycle/objects/<object_id>/restore")
def restore_object(object_id: str) -> Response:
    restored = designer().restore_object(admin(), object_id)
    flash(gettext("Restored."), "ok")
    return redirect(url_for("admin_ui.object_page", name=restored["name"]), 303)


@bp.post("/objects/<name>/rules")
def save_rule(name: str) -> Response | tuple[str, int]:
    """Add a validation rule, or change the one named ``original``; the record service
    enforces it from the next write on."""
    snap = designer().snapshot()
    current = list(object_or_404(snap, name).options.get("validation_rules") or [])
    rule = rule_doc(request.form)
    original = request.form.get("original", "")
    index = next((i for i, r in enumerate(current) if original and r.get("name") == original),
                 len(current))  # an edited rule keeps its place
    rules = [*current[:index], rule, *current[index + 1:]]
    try:
        designer().update_object(admin(), name, {"validation_rules": rules})
    except (ValidationFailed, Conflict) as exc:
        errors, general = place_errors(exc.fields, f"$.validation_rules[{index}]")
        return render_object(name, rule=dict(request.form), rule_errors=errors,
                             general=general or ([] if errors else [exc.message]),
                             status=exc.status)
    flash(gettext("Validation rule saved."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name) + "#rules", 303)


@bp.post("/objects/<name>/rules/<rule>/remove")
def remove_rule(name: str, rule: str) -> Response | tuple[str, int]:
    asked = confirm.ask(
        gettext("Remove the validation rule %(rule)s?", rule=rule),
        gettext("Records are no longer checked by it."),
        url_for("admin_ui.object_page", name=name) + "#rules", gettext("Yes, remove it"))
    if asked is not None:
        return asked
    snap = designer().snapshot()
    current = list(object_or_404(snap, name).options.get("validation_rules") or [])
    kept = [r for r in current if r.get("name") != rule]
    designer().update_object(admin(), name, {"validation_rules": kept or None})
    flash(gettext("Validation rule removed."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name) + "#rules", 303)


# -- composite indexes (decision 0019: proposed from saved views and slow lists) -------------
def _spec(form_value: str | None) -> list[str]:
    return [p.strip() for p in (form_value or "").split(",") if p.strip()]


@bp.post("/objects/<name>/indexes")
def add_index(name: str) -> Response | tuple[str, int]:
    """Create a composite index (a proposal's, or typed in): a metadata change whose
    migration builds the index."""
    spec = _spec(request.form.get("fields"))
    snap = designer().snapshot()
    current = [[f.name for f in ix] for ix in object_or_404(snap, name).composite_indexes]
    try:
        if not spec:
            raise ValidationFailed("name the index's fields", {"fields": ["required"]})
        designer().update_object(admin(), name, {"indexes": [*current, spec]})
    except (ValidationFailed, Conflict) as exc:
        messages = [m for k, v in exc.fields.items() for m in v] or [exc.message]
        return render_object(name, index_form={"fields": request.form.get("fields", "")},
                             index_errors={"fields": messages}, status=exc.status)
    flash(gettext("Index created."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name) + "#indexes", 303)


@bp.post("/objects/<name>/indexes/remove")
def remove_index(name: str) -> Response | tuple[str, int]:
    asked = confirm.ask(
        gettext("Remove the index on %(fields)s?", fields=request.form.get("fields", "")),
        gettext("Lists filtered or sorted by these fields may get slower; no data is lost."),
        url_for("admin_ui.object_page", name=name) + "#indexes", gettext("Yes, remove it"))
    if asked is not None:
        return asked
    spec = _spec(request.form.get("fields"))
    snap = designer().snapshot()
    current = [[f.name for f in ix] for ix in object_or_404(snap, name).composite_indexes]
    kept = [ix for ix in current if ix != spec]
    designer().update_object(admin(), name, {"indexes": kept or None})
    flash(gettext("Index removed."), "ok")
    return redirect(url_for("admin_ui.object_page", name=name) + "#indexes", 303)
