"""The layout designer: how an object's record form (sections of fields in columns) and its
list (columns, default sort) are arranged, for everyone or for one role; and a preview of
the record form as a holder of one role sees it.

The page's script (``static/layout-designer.js``) arranges fields by drag and drop or with
buttons and posts the whole layout document (the one ``PUT /api/v1/meta/objects/<object>/
layout`` takes) as JSON in a hidden input. The ``Designer`` validates and stores it, so a
layout saved here is exactly one the API would store; a refused one comes back with the
Designer's messages (422) and the arrangement as it was posted, nothing saved.

The preview builds a principal that holds only the chosen role and renders the record
form through the business pages' own pieces (``runtime.forms``, ``web.pages.records``):
which layout applies and which fields are hidden or read-only is decided by the layout
resolver and the permission engine, not here.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import CRMError, NotFound, ValidationFailed
from crmforge.metadata.layouts import SYSTEM_COLUMNS, layout_for
from crmforge.metadata.model import ObjectDef, Snapshot
from crmforge.runtime import forms
from crmforge.security import engine as permissions
from crmforge.security.principal import Principal
from crmforge.web.context import current_tenant
from crmforge.web.pages import records as record_pages
from crmforge.web.pages.display import Page, list_columns

from . import bp, confirm
from .base import admin, designer, lang, object_or_404

#: The parts of a layout document the page edits (``object``, ``generated`` and
#: ``version`` are the server's).
PARTS = ("form", "list", "roles")
#: Section widths the designer offers (the schema allows up to 4; a stored 4 is kept).
COLUMN_CHOICES = (1, 2, 3)
#: Longest JSON document the page accepts (the schema's limits keep real ones far below).
MAX_DOCUMENT = 1_000_000


def _document(public: Mapping[str, Any]) -> dict[str, Any]:
    """The editable parts of a public layout document."""
    return {k: copy.deepcopy(public[k]) for k in PARTS if public.get(k)}


def _digest(doc: Mapping[str, Any]) -> str:
    """What the page was opened on: saving over someone else's newer layout is a conflict."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _shown_form(form: Any, fallback: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A form part in the shape the page's script draws (a posted, refused document may
    have any shape; what cannot be drawn falls back to the stored arrangement)."""
    if not isinstance(form, Mapping) or not isinstance(form.get("sections"), list):
        return copy.deepcopy(dict(fallback)) if fallback is not None else None
    sections = []
    for s in form["sections"]:
        if not isinstance(s, Mapping):
            continue
        given = s.get("label")
        label: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        columns = s.get("columns")
        sections.append({
            "label": {k: str(label[k]) for k in ("zh", "en") if isinstance(label.get(k), str)},
            "columns": columns if isinstance(columns, int) and not isinstance(columns, bool)
            else 1,
            "fields": _texts(s.get("fields"))})
    return {"sections": sections}


def _shown_list(listing: Any, fallback: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(listing, Mapping) or not isinstance(listing.get("columns"), list):
        return copy.deepcopy(dict(fallback)) if fallback is not None else None
    out: dict[str, Any] = {"columns": _texts(listing["columns"])}
    if isinstance(listing.get("sort"), str) and listing["sort"]:
        out["sort"] = listing["sort"]
    return out


def _shown(doc: Any, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The document the editor starts from: ``doc`` (a refused post) drawn as far as it can
    be, the stored document for what cannot."""
    if not isinstance(doc, Mapping):
        return copy.deepcopy(dict(stored))
    out: dict[str, Any] = {"form": _shown_form(doc.get("form"), stored["form"]),
                           "list": _shown_list(doc.get("list"), stored["list"])}
    roles = doc.get("roles")
    if isinstance(roles, Mapping):
        shown: dict[str, Any] = {}
        for name, part in roles.items():
            if not isinstance(part, Mapping):
                continue
            entry = {"form": _shown_form(part.get("form"), None),
                     "list": _shown_list(part.get("list"), None)}
            shown[str(name)] = {k: v for k, v in entry.items() if v is not None}
        if shown:
            out["roles"] = shown
    return out


def _label(labels: Any, language: str, default: str) -> str:
    if isinstance(labels, Mapping):
        for key in (language, "en", "zh"):
            if labels.get(key):
                return str(labels[key])
    return default


def _role_choices(snap: Snapshot, language: str) -> list[dict[str, str]]:
    roles = designer().roles(snap)
    return sorted(({"name": str(r["name"]), "label": _label(r.get("label"), language,
                                                            str(r["name"]))}
                   for r in roles), key=lambda r: r["label"].lower())


def _checked_role(role: str | None, choices: list[dict[str, str]]) -> str | None:
    if role and role not in {c["name"] for c in choices}:
        raise NotFound(f"no role named '{role[:40]}'")
    return role or None


def _system_labels() -> dict[str, str]:
    return {"id": gettext("ID"), "owner_id": gettext("Owner"),
            "department_id": gettext("Department"), "created_at": gettext("Created at"),
            "created_by": gettext("Created by"), "updated_at": gettext("Updated at"),
            "updated_by": gettext("Updated by")}


def _editor_data(obj: ObjectDef, doc: Mapping[str, Any], role: str | None,
                 language: str) -> dict[str, Any]:
    """What the page's script draws from: the fields, the list's system columns, the
    document and the role being edited."""
    system = _system_labels()
    return {
        "role": role,
        "doc": doc,
        "columnChoices": list(COLUMN_CHOICES),
        "fields": [{"name": f.name, "label": f.label(language), "type": f.type,
                    "required": f.required} for f in obj.fields],
        "system": [{"name": name, "label": system.get(name, name)} for name in SYSTEM_COLUMNS],
    }


@bp.get("/objects/<name>/layout")
def layouts(name: str) -> tuple[str, int]:
    """The layout designer; ``?role=<name>`` edits that role's own layout."""
    return render_layouts(name, request.args.get("role"))


def render_layouts(name: str, role: str | None, *, posted: Any = None, base: str | None = None,
                   general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    d = designer()
    snap = d.snapshot()
    obj = object_or_404(snap, name)
    language = lang()
    choices = _role_choices(snap, language)
    role = _checked_role(role, choices)
    public = d.layout(snap, name)
    stored = _document(public)
    doc = _shown(posted, stored) if posted is not None else stored
    own = set((stored.get("roles") or {}).keys())
    record = public.get("record") or {}
    return render_template(
        "admin/layouts.html", obj=obj, role=role, roles=choices, own=own,
        record_fields=[{"name": f.name, "label": f.label(language), "picklist": f.type == "picklist",
                        "key": f.name in (record.get("highlights") or [])}
                       for f in obj.fields if f.name != obj.title_field],
        record_stage=record.get("stage") or "",
        role_label=next((c["label"] for c in choices if c["name"] == role), role),
        generated=bool(public.get("generated")), data=_editor_data(obj, doc, role, language),
        document=json.dumps(doc, ensure_ascii=False), base=base or _digest(stored),
        general=general or [], status=status), status


def _refused(exc: ValidationFailed) -> list[str]:
    if not exc.fields:
        return [exc.message]
    return [f"{path}: {'; '.join(messages)}" for path, messages in sorted(exc.fields.items())]


@bp.post("/objects/<name>/layout")
def save_layout(name: str) -> Response | tuple[str, int]:
    """Store the posted layout document (``layout``: JSON) or, with ``remove_role``, drop
    that role's own layout so the role gets the default again."""
    form = request.form
    role = form.get("role") or None
    d = designer()
    snap = d.snapshot()
    object_or_404(snap, name)
    current = _document(d.layout(snap, name))
    dropped = form.get("remove_role")
    if dropped:
        choices = _role_choices(snap, lang())
        _checked_role(dropped, choices)
        roles = dict(current.get("roles") or {})
        label = next(c["label"] for c in choices if c["name"] == dropped)
        asked = confirm.ask(
            gettext("Remove the layout of the role %(role)s?", role=label),
            gettext("Users holding the role see the default layout again."),
            url_for("admin_ui.layouts", name=name, role=dropped), gettext("Yes, remove it"),
        ) if dropped in roles else None
        if asked is not None:
            return asked
        if dropped in roles:
            del roles[dropped]
            d.set_layout(admin(), name, {**{k: v for k, v in current.items() if k != "roles"},
                                         **({"roles": roles} if roles else {})})
        flash(gettext("The role now gets the default layout."), "ok")
        return redirect(url_for("admin_ui.layouts", name=name, role=dropped), 303)
    raw = form.get("layout", "")
    try:
        if len(raw) > MAX_DOCUMENT:
            raise ValueError("too long")
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return render_layouts(name, role, base=form.get("base"), status=422, general=[
            gettext("The layout could not be read; nothing was saved.")])
    if form.get("base") and form["base"] != _digest(current):
        # Someone saved this layout after the page was opened: refuse rather than overwrite
        # it silently. The posted arrangement stays on the page, which now stands on their
        # version, so saving again replaces it knowingly.
        return render_layouts(name, role, posted=doc, base=_digest(current), status=409, general=[
            gettext("Someone else changed this layout meanwhile. Saving again replaces their change.")])
    record = d.layout(snap, name).get("record")
    if isinstance(doc, dict) and "record" not in doc and record:
        doc = {**doc, "record": record}  # the editor arranges the form and list only
    try:
        d.set_layout(admin(), name, doc)
    except ValidationFailed as exc:
        return render_layouts(name, role, posted=doc, base=form.get("base"),
                              general=_refused(exc), status=exc.status)
    flash(gettext("Layout saved."), "ok")
    return redirect(url_for("admin_ui.layouts", name=name, role=role), 303)


@bp.post("/objects/<name>/layout/record")
def save_record_layout(name: str) -> Response | tuple[str, int]:
    """The record page's part of the layout: its key fields (none ticked: the page takes
    the first list columns) and the picklist its stage path follows (blank: chosen by the
    page). The form and list stay as stored."""
    d = designer()
    snap = d.snapshot()
    object_or_404(snap, name)
    current = _document(d.layout(snap, name))
    chosen = [n for n in request.form.getlist("highlight") if n]
    record: dict[str, Any] = {}
    if chosen:
        record["highlights"] = chosen
    if request.form.get("stage"):
        record["stage"] = request.form["stage"]
    doc = {**current, **({"record": record} if record else {})}
    try:
        d.set_layout(admin(), name, doc)
    except ValidationFailed as exc:
        return render_layouts(name, None, general=_refused(exc), status=exc.status)
    flash(gettext("Layout saved."), "ok")
    return redirect(url_for("admin_ui.layouts", name=name), 303)


def preview_principal(role: str) -> Principal:
    """A user who holds only ``role``: no administrator, no department, no records of
    their own (the preview shows a new record's form, which needs none)."""
    return Principal(user_id=None, username=f"preview:{role}", roles=frozenset({role}))


@bp.get("/objects/<name>/layout/preview")
def preview_layout(name: str) -> tuple[str, int]:
    """The new-record form as a holder of ``?role=`` sees it, read-only."""
    d = designer()
    snap = d.snapshot()
    obj = object_or_404(snap, name)
    language = lang()
    choices = _role_choices(snap, language)
    role = _checked_role(request.args.get("role"), choices)
    context: dict[str, Any] = {"obj": obj, "roles": choices, "role": role, "sections": [],
                               "columns": [], "hidden": [], "access": None}
    if role is not None:
        context.update(_preview(snap, obj, role, language))
        context["role_label"] = next(c["label"] for c in choices if c["name"] == role)
    return render_template("admin/layout_preview.html", **context), 200


def _preview(snap: Snapshot, obj: ObjectDef, role: str, language: str) -> dict[str, Any]:
    principal = preview_principal(role)
    access = permissions.access(principal, snap)
    page = Page(principal, snap, obj, access, layout_for(snap, obj, principal.roles), language)
    stored = designer().layout(snap, obj.name)
    own = (stored.get("roles") or {}).get(role) or {}
    out: dict[str, Any] = {
        "own_form": own.get("form") is not None, "own_list": own.get("list") is not None,
        "generated": bool(stored.get("generated")),
    }
    if not (page.may("read") or page.may("create")):
        out["access"] = "none"
        return out
    creating = page.may("create")
    out["access"] = "create" if creating else "read"
    editable = record_pages.editable_fields(page, creating)  # the record page's own rule
    record = forms.defaults(obj, snap) if creating else {}
    form = forms.form_class(obj, editable, language)(data=forms.form_data(obj, record))
    try:
        state = forms.draft_state(current_tenant(), principal, obj.name,
                                  forms.payload(obj, form, editable))
    except CRMError:
        state = {"states": {}, "values": {}}
    sections = record_pages.form_sections(  # the record page's own sections
        page, form, {**record, **state["values"]}, editable, state["states"], {})
    placed = {it["name"] for s in sections for it in s["entries"]}
    readable = page.readable
    out.update(
        sections=sections,
        hidden=[f.label(language) for f in obj.fields if f.name not in readable],
        off_form=[f.label(language) for f in obj.fields
                  if f.name in readable and f.name not in placed],
        columns=[page.label(c) if obj.field(c) is not None else _system_labels().get(c, c)
                 for c in list_columns(page)])
    return out
