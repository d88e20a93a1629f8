"""Record pages: ``/records/<object>/new`` (the form), ``/records/<object>/<id>`` (the read
view on GET, the form's save on POST), ``.../<id>/edit`` (the form), notes added from the
page, delete, the live form state, lookup search and the recycle bin. What the read view
shows besides the fields (header, stage path, activity, related tables) is shaped in
``record_view`` (decision 0035).

Saving goes through the record service with the version the form was rendered from, so a
stale form answers 409 and nothing is overwritten; its 422 field errors are shown beside
their fields. Live states and formula values come from ``runtime.forms.draft_state``: the
server is the only evaluator.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ...rules.object_rules import ALL
from ...runtime import RecordService, dependent_picklists, forms
from ...runtime.notes import NoteService
from ..context import current_principal, current_tenant
from . import attachments, bp, lookups, record_view
from .display import REFERENCES, Page, page_for, shown, titles
from .i18n import current_lang
from .inbox import record_approval
from .server_messages import translated

OPTIONS_LIMIT = 20


def editable_fields(page: Page, creating: bool,
                    limit: forms.EditLimit | None = None) -> list[str]:
    """Form fields the user may edit: on the layout, writable for them, the object allows
    the operation at all, and the record's lock or status (``limit``) lets them change."""
    if not page.may("create" if creating else "update"):
        return []
    return [n for n in page.layout.form_fields if n in page.writable
            and forms.has_input(page.obj, n)
            and (limit is None or limit.updatable or n in limit.editable)]


def _limit(page: Page, rid: int | None) -> forms.EditLimit | None:
    return None if rid is None else forms.edit_limit(current_tenant(), page.principal,
                                                     page.obj.name, rid)


def lock_notice(page: Page, limit: forms.EditLimit | None, editable: list[str]
                ) -> dict[str, Any] | None:
    """Why a record is (partly) read-only, for the page: the lock's kind, the status in the
    page's language and the fields that may still change, named by their labels."""
    if limit is None:
        return None
    state = limit.state
    rules = page.obj.options.get("status_rules") or {}
    f = page.obj.field(str(rules.get("field") or ""))
    if f is not None and state is not None and f.type == "picklist":
        state = f.choice_label(state, page.lang)
    return {"reason": limit.reason, "state": state or "", "updatable": limit.updatable,
            "deletable": limit.deletable,
            "fields": ", ".join(page.label(n) for n in editable) if not limit.updatable
            else ""}


def form_sections(page: Page, form: Any, record: dict[str, Any], editable: list[str],
                  states: dict[str, Any], errors: dict[str, list[str]],
                  found: dict[tuple[str, Any], str] | None = None) -> list[dict[str, Any]]:
    """The layout's sections with the fields this reader may see (hidden ones are absent)."""
    if found is None:
        found = titles(page, [record], page.layout.form_fields)
    out = []
    for section in page.layout.sections:
        items = []
        for name in section.fields:
            f = page.obj.field(name)
            if f is None or name not in page.readable:
                continue
            state = states.get(name, {"visible": True, "required": f.required,
                                      "readonly": False})
            items.append({
                "name": name, "label": f.label(page.lang), "type": f.type,
                "field": form[name] if name in editable else None,
                "value": shown(page, name, record, found), "state": state,
                "errors": errors.get(name, []), "target": f.target,
                "help": _in_lang(f.options.get("help"), page.lang),
                **attachments.file_controls(page, record, name)})
        if items:
            out.append({"title": section.title(page.lang), "columns": section.columns,
                        "entries": items})
    return out


def _in_lang(text: Any, lang: str) -> str | None:
    """A multilingual text (``{"zh", "en"}``) in ``lang``, else English, else Chinese."""
    if isinstance(text, str):
        return text or None
    if isinstance(text, dict):
        return next((str(text[k]) for k in (lang, "en", "zh") if text.get(k)), None)
    return None


def _lookup_choices(page: Page, form: Any, record: dict[str, Any], editable: list[str]) -> None:
    """A lookup's select: its current choice, recent and other records (``lookups``)."""
    lookups.fill_choices(page, form, editable)


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _render(page: Page, record: dict[str, Any], rid: int | None, *, form: Any = None,
            errors: dict[str, list[str]] | None = None, message: str | None = None,
            status: int = 200, editing: bool = True,
            note: dict[str, Any] | None = None) -> tuple[str, int]:
    """The record's page: its read view (``editing`` False, a saved record only) or its
    form. Both compute the same states, so what the read view hides (a hidden field, a
    field whose ``visible_if`` is false) is what the form hides."""
    creating = rid is None
    editing = editing or creating
    limit = _limit(page, rid)
    editable = editable_fields(page, creating, limit)
    cls = forms.form_class(page.obj, editable, page.lang)
    if form is None:
        form = cls(data=forms.form_data(page.obj, record, page.zone))
    _lookup_choices(page, form, record, editable)
    draft = forms.payload(page.obj, form, editable, page.zone)
    states = forms.draft_state(current_tenant(), page.principal, page.obj.name, draft, rid)
    related: list[dict[str, Any]] = []
    approval: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    activity: list[dict[str, Any]] = []
    header: dict[str, Any] | None = None
    shown_record = {**record, **states["values"]}
    found = titles(page, [shown_record], {*page.layout.form_fields, *page.layout.columns})
    if rid is not None:
        approval = record_approval(page.principal, page.obj.name, rid)
        notes = _notes().list(page.principal, page.obj.name, rid)
        activity = record_view.timeline(page, _history(page, rid), approval, notes)
        related = record_view.related(page, rid)
        files = attachments.panel(page, rid)
        header = record_view.header(page, shown_record, found, _notes(), notes)
    errors = errors or {}
    sections = form_sections(page, form, shown_record, editable if editing else [],
                             states["states"], errors, found)
    placed = {it["name"] for s in sections for it in s["entries"]}
    file_inputs = [it["name"] for s in sections for it in s["entries"] if it.get("on_create")]
    general = list(map(translated, errors.get(ALL, []))) + [  # no field on the form to sit by
        f"{page.label(name)}: {'; '.join(map(translated, msgs))}" for name, msgs in errors.items()
        if name != ALL and name not in placed]
    return render_template(
        "record.html", page=page, record=record, rid=rid, form=form, editable=editable,
        editing=editing, sections=sections, values=states["values"], errors=general,
        message=message, status=status,
        picklist_deps=_picklist_deps(page, record, editable) if editing else {},
        related=related, approval=approval, attachments=files, activity=activity,
        header=header, path=record_view.stage_path(page, shown_record) if rid else None,
        note=note or {}, file_inputs=file_inputs, lock=lock_notice(page, limit, editable),
        deleted_note=_deleted_note() if rid is not None and not editing else None,
        deletable=limit is None or limit.deletable), status


def _deleted_note() -> int | None:
    """The note just deleted from this page (``?deleted_note=``), to offer undoing it; the
    restore asks the service, which refuses what the reader may not bring back."""
    raw = request.args.get("deleted_note", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _notes() -> NoteService:
    return NoteService(current_tenant())


def _picklist_deps(page: Page, record: dict[str, Any], editable: list[str]
                   ) -> dict[str, Any]:
    """For forms.js: each editable dependent picklist's controlling field, the controlling
    value saved on the record (used when that field is not on the form) and, per choice,
    the controlling values it goes with (None: all)."""
    out: dict[str, Any] = {}
    for f, ctrl in dependent_picklists.dependents(page.obj):
        if f.name in editable:
            out[f.name] = {
                "controller": ctrl,
                "current": dependent_picklists.controlling_value(record.get(ctrl)),
                "choices": {str(c["value"]): c.get("depends_on")
                            for c in f.options.get("choices") or []}}
    return out


def _history(page: Page, rid: int) -> list[dict[str, Any]]:
    """The record's history, newest first, values shown like on the form."""
    entries = list(reversed(page.service().history(page.principal, page.obj.name, rid)))
    rows = [{h["field"]: h[side]} for h in entries if h["field"] for side in ("old", "new")]
    found = titles(page, rows, {h["field"] for h in entries if h["field"]})
    for h in entries:
        if h["field"]:
            h["old_text"] = shown(page, h["field"], {h["field"]: h["old"]}, found)["text"]
            h["new_text"] = shown(page, h["field"], {h["field"]: h["new"]}, found)["text"]
    return entries


def _save(page: Page, rid: int | None) -> Response | tuple[str, int]:
    creating = rid is None
    limit = _limit(page, rid)
    editable = editable_fields(page, creating, limit)
    if not editable and limit is not None and rid is not None and page.may("update"):
        # Locked meanwhile (or a stale tab): the page again, saying why, nothing written.
        return _render(page, page.service().get(page.principal, page.obj.name, rid), rid,
                       status=409, editing=False)
    if not editable:
        raise Forbidden(f"you may not {'create' if creating else 'update'} "
                        f"{page.obj.label(page.lang)} records")
    form = forms.form_class(page.obj, editable, page.lang)(request.form)
    data = forms.payload(page.obj, form, editable, page.zone)
    states = forms.draft_state(current_tenant(), page.principal, page.obj.name, data, rid)
    data = {k: v for k, v in data.items() if not states["states"].get(k, {}).get("readonly")}
    record: dict[str, Any] = {}
    try:
        if creating:
            data.update(attachments.new_record_files(page, [
                n for n in page.layout.form_fields if n in page.writable
                and (f := page.obj.field(n)) is not None and f.type == "file"]))
            saved = page.service().create(page.principal, page.obj.name, data, page.lang)
        else:
            record = page.service().get(page.principal, page.obj.name, rid)
            version = request.form.get("version", "")
            data["version"] = int(version) if version.isdigit() else version
            saved = page.service().update(page.principal, page.obj.name, rid, data,
                                          lang=page.lang)
    except ValidationFailed as exc:
        return _render(page, record, rid, form=form, errors=exc.fields, message=exc.message,
                       status=422)
    except Conflict as exc:
        return _render(page, record, rid, form=form, message=exc.message, status=409)
    flash("saved", "ok")
    return redirect(url_for("pages.record_page", object_name=page.obj.name,
                            record_id=saved["id"]), 303)


@bp.route("/records/<object_name>/new", methods=["GET", "POST"])
def record_new(object_name: str) -> Response | tuple[str, int]:
    page = page_for(object_name)
    if request.method == "POST":
        return _save(page, None)
    if not page.may("create"):
        raise Forbidden(f"you may not create {page.obj.label(page.lang)} records")
    return _render(page, {**forms.defaults(page.obj, page.snapshot), **_prefilled(page)}, None)


def _prefilled(page: Page) -> dict[str, Any]:
    """Reference fields named in the address (``?account=7``: a related list's "New"
    button) start the form pointing at that record; the save checks it like any value."""
    out: dict[str, Any] = {}
    for name, value in request.args.items():
        f = page.obj.field(name)
        if f is not None and f.type in REFERENCES and value.isdigit():
            out[name] = int(value)
    return out


@bp.route("/records/<object_name>/<int:record_id>", methods=["GET", "POST"])
def record_page(object_name: str, record_id: int) -> Response | tuple[str, int]:
    """GET: the record's read view; POST: save the form (as before the read view came)."""
    page = page_for(object_name, single=request.method == "GET")
    if request.method == "POST":
        return _save(page, record_id)
    return _render(page, _visible(page, record_id), record_id, editing=False)


@bp.get("/records/<object_name>/<int:record_id>/edit")
def record_edit(object_name: str, record_id: int) -> tuple[str, int]:
    """The record's form (it posts to the record's own address)."""
    page = page_for(object_name, single=True)
    return _render(page, _visible(page, record_id), record_id)


def _visible(page: Page, record_id: int) -> dict[str, Any]:
    try:
        return page.service().get(page.principal, page.obj.name, record_id, opened=True)
    except NotFound:
        if page.may("read") or page.may("create"):
            raise
        raise NotFound(f"no object named '{page.obj.name[:40]}'") from None  # no leak


@bp.post("/records/<object_name>/<int:record_id>/notes")
def record_note(object_name: str, record_id: int) -> Response | tuple[str, int]:
    """Add a note from the record's page: a plain form post; bad input comes back beside
    its field, nothing stored. A record the user cannot see is a 404 (the service's)."""
    page = page_for(object_name, single=True)
    body, follow_up = request.form.get("body", ""), request.form.get("follow_up", "")
    try:
        _notes().add(page.principal, object_name, record_id, body, follow_up)
    except ValidationFailed as exc:
        note = {"body": body, "follow_up": follow_up,
                "errors": {k: [translated(m) for m in v] for k, v in exc.fields.items()}}
        return _render(page, _visible(page, record_id), record_id, editing=False, note=note,
                       status=422)
    flash(gettext("The note is added."), "ok")
    return redirect(url_for("pages.record_page", object_name=object_name,
                            record_id=record_id, _anchor="activity"), 303)


@bp.route("/records/<object_name>/<int:record_id>/delete", methods=["GET", "POST"])
def record_delete(object_name: str, record_id: int) -> Response | str:
    """GET asks (the record named, what happens to it, a way back); POST moves it to the
    recycle bin. The question is a page of its own, so it needs no script."""
    page = page_for(object_name)
    if request.method == "GET":
        record = page.service().get(page.principal, object_name, record_id)
        title = record.get(page.obj.title_field) if page.obj.title_field in page.readable \
            else None
        return render_template("confirm_delete.html", page=page, rid=record_id,
                               title=str(title) if title else f"#{record_id}")
    page.service().delete(page.principal, object_name, record_id)
    flash("deleted", "ok")
    return redirect(url_for("pages.record_list", object_name=object_name), 303)


@bp.post("/records/<object_name>/_state")
def record_state(object_name: str) -> tuple[str, int, dict[str, str]]:
    """The draft's field states (in the ``HX-Trigger`` header, applied by forms.js) and its
    formula values (out-of-band swaps of their outputs)."""
    page = page_for(object_name)
    raw_id = request.form.get("_record", "")
    rid = int(raw_id) if raw_id.isdigit() else None
    editable = editable_fields(page, rid is None)
    form = forms.form_class(page.obj, editable, page.lang)(request.form)
    state = forms.draft_state(current_tenant(), page.principal, object_name,
                              forms.payload(page.obj, form, editable, page.zone), rid)
    values = {name: shown(page, name, state["values"], {}) for name in state["values"]}
    trigger = json.dumps({"crmforge:states": state["states"]})
    return render_template("_state.html", values=values), 200, {"HX-Trigger": trigger}


@bp.get("/records/<object_name>/_options")
def lookup_options(object_name: str) -> str:
    """Options for a lookup's select: the target's records matching the search text."""
    return lookups.options_fragment(page_for(object_name))


@bp.get("/recycle-bin")
def recycle_bin() -> str:
    principal = current_principal()
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    lang = current_lang()
    entries = RecordService(tenant).recycle_bin(principal)
    for e in entries:
        obj = snap.object(e["object"])
        e["label"] = obj.label(lang) if obj is not None else e["object"]
    files = attachments.removed_files(principal)
    for f in files:
        obj = snap.object(f["object"])
        field = obj.field(f["field"]) if obj is not None and f["field"] else None
        f["label"] = obj.label(lang) if obj is not None else f["object"]
        f["field_label"] = field.label(lang) if field is not None else None
    return render_template("recycle.html", entries=entries, files=files)


@bp.post("/recycle-bin/<object_name>/<int:record_id>/restore")
def recycle_restore(object_name: str, record_id: int) -> Response:
    page = page_for(object_name)
    page.service().restore(page.principal, object_name, record_id)
    flash("restored", "ok")
    return redirect(url_for("pages.record_page", object_name=object_name,
                            record_id=record_id), 303)
