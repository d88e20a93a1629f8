"""The permission matrix (DESIGN §5): roles × objects at a glance with the role hierarchy,
one role's grants per object (operations, data scope, hierarchy switch, field access),
creating and deleting roles.

Roles are metadata documents, so the pages only translate forms into the role document
and hand it to the ``Designer``: it checks the document exactly as the REST API does
(schema, objects, fields, the reporting hierarchy) and its JSON paths come back beside
the inputs. What a grant means is the permission engine's business, not these views'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.metadata.model import ObjectDef, Snapshot
from crmforge.metadata.roles import FIELD_ACCESS, HIERARCHY_DEFAULT, SCOPES
from crmforge.metadata.validation import OPERATIONS
from crmforge.runtime.designer_documents import StaleRole, role_version

from . import bp
from .base import admin, designer, lang
from .forms import label_of, place_errors

#: Short marks of the operations in the matrix cells (the page explains them).
LETTERS = {"create": "C", "read": "R", "update": "U", "delete": "D", "export": "E",
           "import": "I", "transfer": "T", "share": "S", "submit": "Sb", "approve": "A",
           "print": "P"}
#: The inputs of the form creating a role.
CREATE_INPUTS = ("name", "label_zh", "label_en", "reports_to")
#: The inputs of the form copying a role, by the role document path they fill.
COPY_INPUTS = {"$.name": "copy_name", "$.label.zh": "copy_label_zh",
               "$.label.en": "copy_label_en", "$.label": "copy_label_en"}

_PERMISSION_PATH = re.compile(r"^\$\.permissions\.([a-z0-9_]+)"
                              r"(?:\.(operations|scope|fields|hierarchy)(?:\.([a-z0-9_]+))?)?")
#: The hierarchy switch posts ``off`` from a hidden input and ``on`` from the checkbox after
#: it, so a form without the input (an older page, a script) leaves the grant's default.
SWITCH_OFF, SWITCH_ON = "off", "on"


def operation_labels() -> dict[str, str]:
    """The engine's operations in the page language (custom actions keep their own)."""
    return {"create": gettext("Create"), "read": gettext("Read"), "update": gettext("Update"),
            "delete": gettext("Delete"), "export": gettext("Export"),
            "import": gettext("Import"), "transfer": gettext("Transfer"),
            "share": gettext("Share"), "submit": gettext("Submit for approval"),
            "approve": gettext("Approve"), "print": gettext("Print")}


def scope_labels() -> dict[str, str]:
    """The data scopes, narrowest first, in the page language."""
    labels = {"none": gettext("None"), "own": gettext("Own records"),
              "department": gettext("Own department"),
              "department_tree": gettext("Department and below"),
              "all": gettext("All records")}
    return {s: labels.get(s, s) for s in SCOPES}


def access_labels() -> dict[str, str]:
    labels = {"hidden": gettext("Hidden"), "read": gettext("Read only"),
              "edit": gettext("Edit")}
    return {a: labels.get(a, a) for a in FIELD_ACCESS}


def title_of(doc: Mapping[str, Any], language: str) -> str:
    labels = doc.get("label") or {}
    return str(labels.get(language) or labels.get("en") or labels.get("zh") or doc["name"])


def operations_of(obj: ObjectDef) -> list[tuple[str, str]]:
    """(operation, label) the engine knows for ``obj``: the standard ones, then the
    object's custom actions."""
    labels = operation_labels()
    language = lang()
    out = [(op, labels.get(op, op)) for op in OPERATIONS]
    for action in obj.options.get("actions") or []:
        name = str(action.get("name"))
        if name not in OPERATIONS:
            label = action.get("label") or {}
            out.append((name, str(label.get(language) or label.get("en") or name)))
    return out


def _objects(snap: Snapshot) -> list[ObjectDef]:
    language = lang()
    return sorted(snap.objects.values(), key=lambda o: o.label(language).lower())


def _cell(grant: Mapping[str, Any] | None, labels: Mapping[str, str],
          has_below: bool = False) -> dict[str, Any] | None:
    """A matrix cell: operation marks (their names as a tooltip), scope, the number of
    field rules and, for a role others report to, whether the hierarchy switch is on."""
    if not grant:
        return None
    ops = [str(op) for op in grant.get("operations") or []]
    scope = str(grant.get("scope", "none"))
    return {"letters": "".join(LETTERS.get(op, "+") for op in ops),
            "names": ", ".join(labels.get(op, op) for op in ops),
            "scope": scope, "fields": len(grant.get("fields") or {}),
            "hierarchy": (None if not has_below or scope == "none" else
                          bool(grant.get("hierarchy", HIERARCHY_DEFAULT)))}


def below_of(docs: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Role -> the roles reporting to it directly, by name."""
    out: dict[str, list[str]] = {}
    for doc in sorted(docs, key=lambda r: str(r["name"])):
        if doc.get("reports_to"):
            out.setdefault(str(doc["reports_to"]), []).append(str(doc["name"]))
    return out


def hierarchy_tree(docs: Sequence[Mapping[str, Any]], language: str) -> list[dict[str, Any]]:
    """The reporting hierarchy as nested ``{"name", "title", "below"}`` nodes, top roles
    first: who reports to whom is easier to read as a tree than as arrows in a table."""
    titles = {str(d["name"]): title_of(d, language) for d in docs}
    children = below_of(docs)

    def node(name: str) -> dict[str, Any]:
        return {"name": name, "title": titles[name],
                "below": [node(c) for c in children.get(name, [])]}

    return [node(str(d["name"])) for d in sorted(docs, key=lambda r: str(r["name"]))
            if not d.get("reports_to") or d["reports_to"] not in titles]


def subordinates_of(docs: Sequence[Mapping[str, Any]], role: str) -> list[str]:
    """Every role below ``role``, directly or not, by name."""
    children = below_of(docs)
    out: list[str] = []
    stack = list(children.get(role, []))
    while stack:
        name = stack.pop(0)
        if name not in out:
            out.append(name)
            stack.extend(children.get(name, []))
    return sorted(out)


# -- the matrix -----------------------------------------------------------------------------
@bp.get("/roles")
def roles() -> tuple[str, int]:
    return render_matrix()


def render_matrix(values: dict[str, str] | None = None,
                  errors: dict[str, list[str]] | None = None,
                  general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    d = designer()
    snap = d.snapshot()
    language = lang()
    objects = _objects(snap)
    labels = operation_labels()
    docs = d.roles(snap)
    children = below_of(docs)
    rows = []
    for doc in sorted(docs, key=lambda r: str(r["name"])):
        perms = doc.get("permissions") or {}
        has_below = bool(children.get(str(doc["name"])))
        rows.append({"name": doc["name"], "title": title_of(doc, language),
                     "reports_to": doc.get("reports_to"),
                     "cells": {o.name: _cell(perms.get(o.name), labels, has_below)
                               for o in objects}})
    return render_template(
        "admin/roles.html", objects=objects, rows=rows, letters=LETTERS,
        tree=hierarchy_tree(docs, language),
        operation_labels=labels, scope_labels=scope_labels(),
        role_choices=[(r["name"], f"{r['title']} ({r['name']})") for r in rows],
        values=values or {}, errors=errors or {}, general=general or [],
        status=status), status


@bp.post("/roles")
def create_role() -> Response | tuple[str, int]:
    form = request.form
    doc: dict[str, Any] = {"name": (form.get("name") or "").strip()}
    if label_of(form):
        doc["label"] = label_of(form)
    if form.get("reports_to"):
        doc["reports_to"] = form["reports_to"]
    try:
        created = designer().create_role(admin(), doc)
    except (ValidationFailed, Conflict) as exc:
        errors, general = place_errors(exc.fields, "$", inputs=CREATE_INPUTS)
        return render_matrix(dict(form), errors, general or ([] if errors else [exc.message]),
                             exc.status)
    flash(gettext("Role created."), "ok")
    return redirect(url_for("admin_ui.role_page", role=created["name"]), 303)


# -- one role ---------------------------------------------------------------------------------
@bp.get("/roles/<role>")
def role_page(role: str) -> tuple[str, int]:
    return render_role(role)


def _matches(obj: ObjectDef, query: str, language: str) -> bool:
    """Whether the filter ``query`` finds ``obj`` by its label (either language) or name."""
    words = [obj.name, obj.label(language), obj.label("zh"), obj.label("en")]
    return not query or any(query in w.lower() for w in words)


def summary_of(obj: ObjectDef, grant: Mapping[str, Any]) -> dict[str, int]:
    """What an object's row says without opening it: operations granted and how many of the
    object's fields the role hides or makes read-only."""
    rules = grant.get("fields") or {}
    return {"operations": len(grant.get("operations") or []),
            "hidden": sum(1 for f in obj.fields if rules.get(f.name) == "hidden"),
            "read": sum(1 for f in obj.fields if rules.get(f.name) == "read")}


def render_role(role: str, *, values: dict[str, Any] | None = None,
                errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                confirm_delete: bool = False, status: int = 200,
                copy_values: dict[str, str] | None = None) -> tuple[str, int]:
    """The role form; ``values`` (a role document) is what was typed when it was refused.
    ``?q=`` shows only the objects it finds: with seventy objects the role is edited one
    group (or one object) at a time, and a save changes only the objects shown."""
    d = designer()
    snap = d.snapshot()
    doc = d.role(role)
    query = (request.values.get("q") or "").strip()[:100]
    shown = values if values is not None else doc
    labels = shown.get("label") or {}
    form = {"label_zh": str(labels.get("zh", "")), "label_en": str(labels.get("en", "")),
            "reports_to": str(shown.get("reports_to") or "")}
    language = lang()
    docs = d.roles(snap)
    titles = {str(r["name"]): title_of(r, language) for r in docs}
    below = subordinates_of(docs, role)
    others = [(r["name"], f"{title_of(r, language)} ({r['name']})")
              for r in sorted(docs, key=lambda r: str(r["name"])) if r["name"] != role]
    objects = _objects(snap)
    shown_objects = [o for o in objects if _matches(o, query.lower(), language)]
    perms = shown.get("permissions") or {}
    return render_template(
        "admin/role.html", role=doc, title=title_of(doc, language), form=form,
        version=role_version(doc), query=query, all_objects=len(objects),
        standard_ops=[(op, operation_labels().get(op, op)) for op in OPERATIONS],
        standard_names=set(OPERATIONS),
        summaries={o.name: summary_of(o, perms.get(o.name) or {}) for o in shown_objects},
        copy_values=copy_values or {},
        below_text=", ".join(f"{titles[name]} ({name})" for name in below),
        hierarchy_default=HIERARCHY_DEFAULT,
        permissions=perms, objects=shown_objects,
        operations_of=operations_of, scope_labels=scope_labels(),
        access_labels=access_labels(), others=others, errors=errors or {},
        open_objects={k.split(".")[1] for k in errors or {} if k.startswith("field.")},
        general=general or [], confirm_delete=confirm_delete, status=status), status


def grant_of(form: MultiDict[str, str], obj: ObjectDef) -> dict[str, Any]:
    """One object's grant from the role form: the ``ops.<object>`` checkboxes, the
    ``scope.<object>`` select, the ``hierarchy.<object>`` switch and the
    ``field.<object>.<field>`` selects (blank: the field follows the operations); empty when
    it grants nothing. The switch is stored only when it differs from the default
    (``hierarchy: false``), so grants saved with it on stay as short as before."""
    ops = list(dict.fromkeys(v for v in form.getlist(f"ops.{obj.name}") if v))
    scope = form.get(f"scope.{obj.name}") or "none"
    fields = {f.name: value for f in obj.fields
              if (value := form.get(f"field.{obj.name}.{f.name}") or "")}
    switch = form.getlist(f"hierarchy.{obj.name}")
    grant: dict[str, Any] = {}
    if ops:
        grant["operations"] = ops
    if ops or scope != "none":
        grant["scope"] = scope
        if switch and (switch[-1] == SWITCH_ON) != HIERARCHY_DEFAULT:
            grant["hierarchy"] = switch[-1] == SWITCH_ON
    if fields:
        grant["fields"] = fields
    return grant


def permissions_of(form: MultiDict[str, str], snap: Snapshot) -> dict[str, Any]:
    """The ``permissions`` of a whole role form (``grant_of`` per object); objects granting
    nothing are left out."""
    out: dict[str, Any] = {}
    for obj in snap.objects.values():
        if grant := grant_of(form, obj):
            out[obj.name] = grant
    return out


def apply_shortcuts(form: MultiDict[str, str], snap: Snapshot,
                    shown: Sequence[str]) -> MultiDict[str, str]:
    """The form as the "all" buttons mean it, so they work without a script: ``row=<object>``
    ticks every operation of that object, ``column=<operation>`` ticks that operation on
    every object shown, and ``all_fields=<object>`` sets each of the object's field selects
    to ``all_access.<object>``. Everything else typed on the page is kept as typed."""
    out = form.copy()
    row, column, fields_of = form.get("row"), form.get("column"), form.get("all_fields")
    if row and row in shown and (obj := snap.object(row)) is not None:
        out.setlist(f"ops.{row}", [op for op, _ in operations_of(obj)])
    if column in OPERATIONS:
        for name in shown:
            ops = out.getlist(f"ops.{name}")
            if column not in ops:
                out.setlist(f"ops.{name}", [*ops, column])
    if fields_of and fields_of in shown and (obj := snap.object(fields_of)) is not None:
        access = form.get(f"all_access.{fields_of}") or ""
        if access in ("", *FIELD_ACCESS):
            for f in obj.fields:
                out.setlist(f"field.{fields_of}.{f.name}", [access])
    return out


def role_errors(fields: Mapping[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Designer errors by input: ``$.permissions.deal.fields.amount`` is the select
    ``field.deal.amount``; paths the form has no input for are general messages."""
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for path, messages in fields.items():
        key: str | None = None
        m = _PERMISSION_PATH.match(path)
        if m and m.group(2) == "fields" and m.group(3):
            key = f"field.{m.group(1)}.{m.group(3)}"
        elif m and m.group(2) == "scope":
            key = f"scope.{m.group(1)}"
        elif m and m.group(2) == "operations":
            key = f"ops.{m.group(1)}"
        elif m and m.group(2) == "hierarchy":
            key = f"hierarchy.{m.group(1)}"
        elif path in ("$.label.zh", "$.label.en"):
            key = "label_" + path[-2:]
        elif path == "$.reports_to":
            key = "reports_to"
        if key is None:
            general.extend(f"{path}: {msg}" for msg in messages)
        else:
            placed.setdefault(key, []).extend(messages)
    return placed, general


@bp.post("/roles/<role>")
def save_role(role: str) -> Response | tuple[str, int]:
    """Save the objects the page showed (``shown``) and the labels and manager role, or with
    ``only=<object>`` that object's grant alone; the role's other objects and settings stay
    as stored, and a role changed since the page was opened (``version``) is a 409. A form
    without ``editor=objects`` and naming no objects (an older page, a script) replaces the
    whole permissions as before; the page always sends ``editor``, so a filter that finds
    nothing saves the labels and leaves every grant alone."""
    d = designer()
    snap = d.snapshot()
    shown = [n for n in dict.fromkeys(request.form.getlist("shown")) if snap.object(n) is not None]
    if not shown and request.form.get("editor") != "objects":
        return _replace_role(role)
    form = apply_shortcuts(request.form, snap, shown)
    only = form.get("only")
    names = [only] if only in shown else shown
    grants = {n: grant_of(form, snap.objects[n]) for n in names}
    patch = None if only in shown else {"label": label_of(form) or None,
                                        "reports_to": form.get("reports_to") or None}
    try:
        d.set_role_grants(admin(), role, grants, form.get("version") or None, patch)
    except (ValidationFailed, Conflict) as exc:
        errors, general = role_errors(exc.fields)
        if isinstance(exc, StaleRole):
            general = [gettext("Someone else changed this role after you opened it, so nothing was saved. Your choices are still on the page: check them against the role as it is now and save again.")]  # noqa: E501
        stored = d.role(role)
        typed = {**stored, "label": label_of(form) or stored.get("label"),
                 "reports_to": form.get("reports_to") if patch else stored.get("reports_to"),
                 "permissions": {**(stored.get("permissions") or {}),
                                 **{n: grant_of(form, snap.objects[n]) for n in shown}}}
        return render_role(role, values=typed, errors=errors,
                           general=general or ([] if errors else [exc.message]),
                           status=exc.status)
    target = url_for("admin_ui.role_page", role=role, q=form.get("q") or None)
    if only in shown:
        label = snap.objects[str(only)].label(lang())
        flash(gettext("Permissions on %(object)s saved.", object=label), "ok")
        return redirect(f"{target}#grant-{only}", 303)
    flash(gettext("Role saved."), "ok")
    focus = form.get("row") or form.get("all_fields")
    return redirect(f"{target}#grant-{focus}" if focus in shown else target, 303)


def _replace_role(role: str) -> Response | tuple[str, int]:
    """Replace the role's labels, manager role and permissions; its other settings (sign-in
    hours, addresses, description) stay as they are."""
    d = designer()
    form = request.form
    patch: dict[str, Any] = {"label": label_of(form) or None,
                             "reports_to": form.get("reports_to") or None,
                             "permissions": permissions_of(form, d.snapshot()) or None}
    try:
        d.update_role(admin(), role, patch)
    except (ValidationFailed, Conflict) as exc:
        errors, general = role_errors(exc.fields)
        typed = {**patch, "permissions": patch["permissions"] or {}}
        return render_role(role, values=typed, errors=errors,
                           general=general or ([] if errors else [exc.message]),
                           status=exc.status)
    flash(gettext("Role saved."), "ok")
    return redirect(url_for("admin_ui.role_page", role=role), 303)


@bp.post("/roles/<role>/copy")
def copy_role(role: str) -> Response | tuple[str, int]:
    """A new role granting what this one grants, under the typed name and labels; the same
    service as ``POST /api/v1/admin/roles/<role>/copy``."""
    form = request.form
    doc: dict[str, Any] = {"name": (form.get("copy_name") or "").strip()}
    if label := label_of(form, "copy_label"):
        doc["label"] = label
    try:
        created = designer().copy_role(admin(), role, doc)
    except (ValidationFailed, Conflict) as exc:
        errors: dict[str, list[str]] = {}
        general: list[str] = []
        for path, messages in exc.fields.items():
            if path in COPY_INPUTS:
                errors.setdefault(COPY_INPUTS[path], []).extend(messages)
            else:
                general.extend(f"{path}: {m}" for m in messages)
        return render_role(role, errors=errors,
                           general=general or ([] if errors else [exc.message]),
                           status=exc.status, copy_values=dict(form))
    flash(gettext("Role copied."), "ok")
    return redirect(url_for("admin_ui.role_page", role=created["name"]), 303)


@bp.get("/roles/<role>/delete")
def role_delete_confirm(role: str) -> tuple[str, int]:
    return render_role(role, confirm_delete=True)


@bp.post("/roles/<role>/delete")
def delete_role(role: str) -> Response | tuple[str, int]:
    """Delete a role; the Designer refuses while users hold it or roles report to it."""
    try:
        designer().delete_role(admin(), role)
    except Conflict as exc:
        return render_role(role, general=[exc.message], status=exc.status)
    flash(gettext("Role deleted."), "ok")
    return redirect(url_for("admin_ui.roles"), 303)
