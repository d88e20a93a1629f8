"""Apps in the designer (decision 0034): list, create, edit and delete the groups of
objects the top bar of the business pages shows.

An app's objects are ordered with up and down buttons, added from a list and removed,
without JavaScript: those buttons post the form, which comes back with the new order and
nothing published; "Save" hands the document to the ``Designer``, which checks it as the
REST API does, and its JSON paths (``$.objects[2]``) come back beside the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.metadata.apps import is_link_object
from crmforge.metadata.model import Snapshot

from . import bp, confirm
from .base import admin, designer, lang
from .forms import label_of, place_errors

#: The inputs of the form creating an app.
CREATE_INPUTS = ("name", "label_zh", "label_en", "objects")
#: The inputs of the form editing one (``objects.<i>``: the i-th object's row).
EDIT_INPUTS = ("label_zh", "label_en", "icon", "objects")


def title_of(doc: Mapping[str, Any], language: str) -> str:
    labels = doc.get("label") or {}
    return str(labels.get(language) or labels.get("en") or labels.get("zh") or doc["name"])


def menu_objects(snap: Snapshot) -> list[tuple[str, str]]:
    """(name, label) of the objects an app may list, by label: link objects stay out."""
    language = lang()
    return sorted(((o.name, o.label(language)) for o in snap.objects.values()
                   if not is_link_object(o)), key=lambda item: item[1].lower())


def app_errors(fields: Mapping[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Designer errors by input: ``$.objects[2]`` is the row ``objects.2``."""
    rows: dict[str, list[str]] = {}
    rest: dict[str, list[str]] = {}
    for path, messages in fields.items():
        if path.startswith("$.objects[") and path.endswith("]"):
            rows[f"objects.{path[len('$.objects['):-1]}"] = list(messages)
        else:
            rest[path] = list(messages)
    placed, general = place_errors(rest, "$", inputs=(*CREATE_INPUTS, *EDIT_INPUTS))
    return {**placed, **rows}, general


# -- the list ---------------------------------------------------------------------------------
@bp.get("/apps")
def apps() -> tuple[str, int]:
    return render_apps()


def render_apps(values: MultiDict[str, str] | None = None,
                errors: dict[str, list[str]] | None = None,
                general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    d = designer()
    snap = d.snapshot()
    language = lang()
    labels = {o.name: o.label(language) for o in snap.objects.values()}
    rows = [{"name": a["name"], "title": title_of(a, language), "pack": a.get("pack"),
             "objects": [labels.get(n, n) for n in a.get("objects", [])]}
            for a in d.apps(snap)]
    form = values or MultiDict()
    return render_template(
        "admin/apps.html", rows=rows, choices=menu_objects(snap),
        values={k: form.get(k, "") for k in ("name", "label_zh", "label_en")},
        chosen=set(form.getlist("objects")), errors=errors or {}, general=general or [],
        status=status), status


@bp.post("/apps")
def create_app() -> Response | tuple[str, int]:
    form = request.form
    doc: dict[str, Any] = {"name": (form.get("name") or "").strip(), "label": label_of(form),
                           "objects": [n for n in form.getlist("objects") if n]}
    try:
        created = designer().create_app(admin(), doc)
    except (ValidationFailed, Conflict) as exc:
        errors, general = app_errors(exc.fields)
        # A row of the checkbox list has no place of its own: its error goes under the list.
        for key in [k for k in errors if k.startswith("objects.")]:
            errors.setdefault("objects", []).extend(errors.pop(key))
        return render_apps(form, errors, general or ([] if errors else [exc.message]),
                           exc.status)
    flash(gettext("App created."), "ok")
    return redirect(url_for("admin_ui.app_page", name=created["name"]), 303)


# -- one app ----------------------------------------------------------------------------------
@bp.get("/apps/<name>")
def app_page(name: str) -> tuple[str, int]:
    doc = designer().app(name)
    labels = doc.get("label") or {}
    form = {"label_zh": str(labels.get("zh", "")), "label_en": str(labels.get("en", "")),
            "icon": str(doc.get("icon", ""))}
    return render_app(doc, form, list(doc.get("objects", [])))


def render_app(doc: Mapping[str, Any], form: Mapping[str, str], objects: Sequence[str], *,
               errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
               changed: bool = False, status: int = 200) -> tuple[str, int]:
    snap = designer().snapshot()
    choices = menu_objects(snap)
    labels = dict(choices)
    return render_template(
        "admin/app.html", app=doc, title=title_of(doc, lang()), form=form,
        rows=[{"name": n, "label": labels.get(n) or n} for n in objects],
        addable=[(n, label) for n, label in choices if n not in objects],
        errors=errors or {}, general=general or [], changed=changed,
        status=status), status


def arranged(form: MultiDict[str, str]) -> tuple[list[str], bool]:
    """The object list the form describes after its button: ``move=up:<i>``,
    ``move=down:<i>`` and ``move=remove:<i>`` change the rows, ``action=add`` appends the
    chosen object. Returns the list and whether a button other than "Save" was pressed."""
    objects = [n for n in form.getlist("objects") if n]
    move = form.get("move") or ""
    what, _, at = move.partition(":")
    if at.isdigit() and int(at) < len(objects):
        i = int(at)
        if what == "up" and i > 0:
            objects[i - 1], objects[i] = objects[i], objects[i - 1]
        elif what == "down" and i + 1 < len(objects):
            objects[i + 1], objects[i] = objects[i], objects[i + 1]
        elif what == "remove":
            del objects[i]
        return objects, True
    if form.get("action") == "add":
        added = form.get("add") or ""
        if added and added not in objects:
            objects.append(added)
        return objects, True
    return objects, False


@bp.post("/apps/<name>")
def save_app(name: str) -> Response | tuple[str, int]:
    d = designer()
    doc = d.app(name)
    form = request.form
    typed = {k: (form.get(k) or "").strip() for k in EDIT_INPUTS if k != "objects"}
    objects, rearranged = arranged(form)
    if rearranged:  # the page again with the new order; nothing is published yet
        return render_app(doc, typed, objects, changed=True)
    patch: dict[str, Any] = {"label": label_of(form), "objects": objects,
                             "icon": typed["icon"] or None}
    try:
        d.update_app(admin(), name, patch)
    except (ValidationFailed, Conflict) as exc:
        errors, general = app_errors(exc.fields)
        return render_app(doc, typed, objects, errors=errors, changed=True,
                          general=general or ([] if errors else [exc.message]),
                          status=exc.status)
    flash(gettext("App saved."), "ok")
    return redirect(url_for("admin_ui.app_page", name=name), 303)


@bp.post("/apps/<name>/delete")
def delete_app(name: str) -> Response | tuple[str, int]:
    labels = designer().app(name).get("label") or {}  # an unknown app: 404, unasked
    asked = confirm.ask(
        gettext("Delete the app %(name)s?", name=labels.get(lang()) or labels.get("en") or name),
        gettext("The app leaves the top bar; its objects and their records stay."),
        url_for("admin_ui.app_page", name=name), gettext("Yes, delete the app"))
    if asked is not None:
        return asked
    designer().delete_app(admin(), name)  # an unknown app: 404
    flash(gettext("App deleted."), "ok")
    return redirect(url_for("admin_ui.apps"), 303)
