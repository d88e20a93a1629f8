"""Files on the record page: the "Attachments" related list (upload by drag and drop or a
file input, download links, image thumbnails, remove), the upload control of file fields,
and removed files in the recycle bin. Every action goes through the file service, which
asks the record service and the permission engine; a refusal comes back as a message on
the record page (the form posts, then the browser is sent back: no re-post on reload).

Without scripts the forms work as they are (choose files, press Upload); ``files.js``
adds the drop zone, starts the upload when files are chosen or dropped and refuses a file
above the size limit before sending it.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import BadRequest, CRMError, PayloadTooLarge, ValidationFailed
from ...rules.object_rules import ALL
from ...runtime.files.content import human_size
from ...runtime.files.service import FileService
from .. import uploads
from ..context import current_tenant
from . import bp, confirmations
from .display import Page, page_for
from .server_messages import translated


def _service() -> FileService:
    return FileService(current_tenant(), uploads.policy())


def panel(page: Page, rid: int) -> dict[str, Any]:
    """What the record page shows of the record's attachments (it is visible: the page
    read it), and whether this reader may add and remove them."""
    service = _service()
    items = service.attachments(page.principal, page.obj.name, rid)
    base = f"/api/v1/records/{page.obj.name}/{rid}/attachments"
    for item in items:
        item["href"] = f"{base}/{item['id']}"
        item["size_text"] = human_size(int(item["size"]))
    limit = service.policy.max_bytes
    return {"items": items, "editable": service.may_change(page.principal, page.obj.name, rid),
            "max_bytes": limit, "limit_text": human_size(limit)}


def file_controls(page: Page, record: dict[str, Any], name: str) -> dict[str, Any]:
    """The upload control of a file field: on a saved record, its own form that uploads
    and saves at once (``upload``); on a new record, a file input of the record's form,
    sent with it (``on_create``)."""
    f = page.obj.field(name)
    if f is None or f.type != "file" or name not in page.writable:
        return {}
    accept = ",".join(str(a) for a in f.options.get("accept") or [])
    if record.get("id"):
        return {"upload": page.may("update"), "accept": accept}
    return {"on_create": page.may("create"), "accept": accept}


def new_record_files(page: Page, names: list[str]) -> dict[str, int]:
    """The files chosen on a new record's form, uploaded: field -> upload id. A refused
    file is an error beside its field (the form is shown again)."""
    out: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    service = _service()
    for name in names:
        part = request.files.get(name)
        if part is None or not (part.filename or part.content_length):
            continue
        try:
            out[name] = int(service.upload(page.principal, part.stream, part.filename)["id"])
        except (ValidationFailed, PayloadTooLarge) as exc:
            errors[name] = [translated(exc.message)]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
    return out


def _back(page: Page, rid: int, anchor: str = "") -> Response:
    target = url_for("pages.record_page", object_name=page.obj.name, record_id=rid)
    return redirect(target + anchor, 303)


def _refused(page: Page, exc: CRMError) -> None:
    """A refusal as a message on the record page: the file's problem as the service says
    it, a field's problems (a file field's limits) under the field's label."""
    fields = {k: v for k, v in exc.fields.items() if k not in ("file", ALL)}
    if fields:
        text = "; ".join(f"{page.label(k)}: {translated(m)}" for k, msgs in fields.items()
                         for m in msgs)
    else:
        text = translated(exc.message)
    flash(text, "error")


@bp.post("/records/<object_name>/<int:record_id>/attachments")
def attachment_upload(object_name: str, record_id: int) -> Response:
    page = page_for(object_name, single=True)
    service = _service()
    try:
        parts = uploads.uploaded_files()
    except BadRequest:
        flash(gettext("Choose a file to upload."), "error")
        return _back(page, record_id, "#attachments")
    added = 0
    for part in parts:
        try:
            service.attach(page.principal, object_name, record_id, part.stream, part.filename)
            added += 1
        except CRMError as exc:
            if exc.status == 404:
                raise
            _refused(page, exc)
    if added:
        flash(gettext("%(n)s file(s) attached.", n=added), "ok")
    return _back(page, record_id, "#attachments")


@bp.post("/records/<object_name>/<int:record_id>/attachments/<int:attachment_id>/remove")
def attachment_remove(object_name: str, record_id: int,
                      attachment_id: int) -> Response | tuple[str, int]:
    page = page_for(object_name, single=True)
    names = [str(a["name"]) for a in _service().attachments(page.principal, object_name,
                                                             record_id)
             if a["id"] == attachment_id]
    back = url_for("pages.record_page", object_name=object_name,
                   record_id=record_id) + "#attachments"
    asked = confirmations.ask(
        gettext("Remove the attachment %(name)s?", name=names[0]),
        gettext("It moves to the recycle bin and can be restored from there."), back,
        gettext("Yes, move it to the recycle bin"), names) if names else None
    if asked is not None:
        return asked, 200
    try:
        _service().remove(page.principal, object_name, record_id, attachment_id)
        flash(gettext("The attachment is in the recycle bin."), "ok")
    except CRMError as exc:
        if exc.status == 404:
            raise
        _refused(page, exc)
    return _back(page, record_id, "#attachments")


@bp.post("/records/<object_name>/<int:record_id>/files/<field>")
def file_field_upload(object_name: str, record_id: int,
                      field: str) -> Response | tuple[str, int]:
    """Set (or clear, with ``clear``) a file field: an upload, then a record update with
    the version the page was rendered from (a stale page is refused, nothing is lost)."""
    page = page_for(object_name, single=True)
    f = page.obj.field(field)
    if f is None or f.type != "file" or field not in page.readable:
        raise BadRequest(f"no file field named '{field[:40]}'")
    version = request.form.get("version", "")
    if request.form.get("clear"):
        asked = confirmations.ask(
            gettext("Remove the file of %(field)s?", field=f.label(page.lang)),
            gettext("The field is emptied; the file moves to the recycle bin and can be "
                    "restored from there."),
            url_for("pages.record_page", object_name=object_name, record_id=record_id),
            gettext("Yes, remove the file"))
        if asked is not None:
            return asked, 200
    try:
        if request.form.get("clear"):
            value: Any = None
        else:
            try:
                part = uploads.uploaded_file()
            except BadRequest:
                flash(gettext("Choose a file to upload."), "error")
                return _back(page, record_id)
            value = _service().upload(page.principal, part.stream, part.filename)["id"]
        page.service().update(page.principal, object_name, record_id, {
            field: value, "version": int(version) if version.isdigit() else version},
            lang=page.lang)
        flash("saved", "ok")
    except CRMError as exc:
        if exc.status == 404:
            raise
        _refused(page, exc)
    return _back(page, record_id)


@bp.post("/recycle-bin/<object_name>/<int:record_id>/files/<int:file_id>/restore")
def recycle_file_restore(object_name: str, record_id: int, file_id: int) -> Response:
    page = page_for(object_name, single=True)
    _service().restore(page.principal, object_name, record_id, file_id)
    flash(gettext("The file is back among the record's attachments."), "ok")
    return _back(page, record_id, "#attachments")


def removed_files(principal: Any) -> list[dict[str, Any]]:
    """The files part of the recycle bin page."""
    return _service().removed(principal)


__all__ = ["file_controls", "new_record_files", "panel", "removed_files"]
