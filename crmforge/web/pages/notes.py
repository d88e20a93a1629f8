"""Changing and deleting a note from the record's page (decision 0035, amended).

Each action is a page of its own with a plain form, so it needs no script: the edit page
shows the note's text and date with any refusal beside its field; the delete page asks
first; after a deletion the record's page offers to undo it. The service decides who may
(a note's author edits and deletes it, an administrator deletes any) and keeps every
earlier text, so these views only translate forms to calls.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import ValidationFailed
from ...runtime.notes import NoteService
from ..context import current_tenant
from . import bp
from .display import page_for
from .server_messages import translated

BASE = "/records/<object_name>/<int:record_id>/notes/<int:note_id>"


def _service() -> NoteService:
    return NoteService(current_tenant())


def _back(object_name: str, record_id: int, deleted: int | None = None) -> Response:
    """The record's page at its activity (after a deletion, offering to undo it)."""
    address = url_for("pages.record_page", object_name=object_name, record_id=record_id)
    if deleted is not None:
        address += f"?deleted_note={deleted}"
    return redirect(address + "#activity", 303)


@bp.route(BASE + "/edit", methods=["GET", "POST"])
def note_edit(object_name: str, record_id: int, note_id: int) -> Response | tuple[str, int]:
    """GET: the note in a form; POST: save it (bad input comes back beside its field)."""
    page = page_for(object_name, single=True)
    note = _service().one(page.principal, object_name, record_id, note_id, to_edit=True)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        body, follow_up = request.form.get("body", ""), request.form.get("follow_up", "")
        try:
            _service().edit(page.principal, object_name, record_id, note_id, body, follow_up)
        except ValidationFailed as exc:
            errors = {k: [translated(m) for m in v] for k, v in exc.fields.items()}
            note = {**note, "body": body, "follow_up": follow_up}
            status = 422
        else:
            flash(gettext("The note is changed."), "ok")
            return _back(object_name, record_id)
    return render_template("note_edit.html", page=page, rid=record_id, note=note,
                           errors=errors), status


@bp.route(BASE + "/delete", methods=["GET", "POST"])
def note_delete(object_name: str, record_id: int, note_id: int) -> Response | str:
    """GET asks (the note shown, and that it can be brought back); POST deletes it."""
    page = page_for(object_name, single=True)
    if request.method == "GET":
        note = _service().one(page.principal, object_name, record_id, note_id)
        return render_template("note_delete.html", page=page, rid=record_id, note=note)
    _service().delete(page.principal, object_name, record_id, note_id)
    return _back(object_name, record_id, deleted=note_id)


@bp.post(BASE + "/restore")
def note_restore(object_name: str, record_id: int, note_id: int) -> Response:
    page = page_for(object_name, single=True)
    _service().restore(page.principal, object_name, record_id, note_id)
    flash(gettext("The note is back."), "ok")
    return _back(object_name, record_id)
