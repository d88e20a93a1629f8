"""Imports over HTTP (DESIGN §9): thin adapters over ``runtime.imports.service``.

An upload is a multipart form. Its size is refused (413) from ``Content-Length`` before
the body is read, and a body without one stops at the limit; werkzeug keeps a file part
above 500 KB in a temporary file, never in memory. Messages come in the caller's language
(``?lang=`` or ``Accept-Language``): the record service's and the import's own through
the interface catalog, validation rule messages in the language the import ran in.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from flask_babel import force_locale
from werkzeug.datastructures import FileStorage

from ...core.errors import BadRequest, PayloadTooLarge
from ...runtime import jobs
from ...runtime.imports import errorfile
from ...runtime.imports.service import ImportService, Options, max_bytes
from ..context import current_principal, current_tenant
from ..languages import request_lang
from ..request_checks import UPLOAD_LIMITS
from ..server_messages import translated
from .records import XLSX

bp = Blueprint("imports", __name__)
#: Room for the form's other fields and the multipart framing around the file.
FORM_SLACK = 256 * 1024
for _endpoint in ("api.imports.submit", "api.imports.preview"):
    UPLOAD_LIMITS[_endpoint] = lambda: max_bytes() + FORM_SLACK


def _service() -> ImportService:
    return ImportService(current_tenant())


def _upload() -> tuple[FileStorage, int, Options, str]:
    limit = max_bytes()
    length = request.content_length
    if length is not None and length > limit + FORM_SLACK:
        raise PayloadTooLarge(f"the file is larger than the limit of {limit:,} bytes")
    if not request.mimetype.startswith("multipart/form-data"):
        raise BadRequest("send the file as multipart/form-data with the fields file, object, "
                         "mode, key, mapping, dry_run")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("the form needs a file", {"file": ["required"]})
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if size > limit:
        raise PayloadTooLarge(f"the file is larger than the limit of {limit:,} bytes")
    return upload, size, Options.parse(request.form), str(request.form.get("object") or "")


def _translate(lang: str) -> Any:
    def translate(message: str) -> str:
        with force_locale(lang):
            return translated(message)
    return translate


@bp.post("/imports")
def submit() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Store the file and start its import job: 202 ``{"id", "status"}``."""
    upload, size, options, object_name = _upload()
    result = _service().submit(current_principal(), object_name,
                               upload.stream, upload.filename or "upload",
                               size, options, request_lang())
    return result, 202, {"Location": f"/api/v1/imports/{result['id']}"}


@bp.post("/imports/preview")
def preview() -> dict[str, Any]:
    """Headers, the proposed mapping, the fields to choose from and the first rows."""
    upload, size, options, object_name = _upload()
    return _service().preview(current_principal(), object_name,
                              upload.stream, size, options)


@bp.get("/imports")
def list_imports() -> dict[str, Any]:
    limit = request.args.get("limit", "50")
    return {"items": _service().recent(current_principal(),
                                     int(limit) if limit.isdigit() else 50)}


@bp.get("/imports/<iid>")
def status(iid: str) -> dict[str, Any]:
    return _service().status(current_principal(), jobs.job_id(iid),
                             _translate(request_lang()))


@bp.get("/imports/<iid>/rows")
def rows(iid: str) -> dict[str, Any]:
    after = request.args.get("after", "0")
    limit = request.args.get("limit", "500")
    return _service().rows(current_principal(), jobs.job_id(iid),
                           int(after) if after.isdigit() else 0,
                           int(limit) if limit.isdigit() else 500)


@bp.get("/imports/<iid>/errors")
def error_file(iid: str) -> Response:
    """The refused rows with their row number and an error column: XLSX, or CSV with
    ``?format=csv``."""
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        raise BadRequest("format is xlsx or csv", {"format": ["xlsx or csv"]})
    import_id = jobs.job_id(iid)
    lang = request_lang()
    headers, found, columns = _service().failed_rows(current_principal(), import_id)
    with force_locale(lang):
        from flask_babel import gettext

        row_header, error_header = gettext("Row"), gettext("Errors")
        translate = _translate(lang)
        if fmt == "csv":
            handle = errorfile.csv_file(headers, found, columns, translate, row_header,
                                        error_header)
            mimetype = "text/csv"
        else:
            handle = errorfile.xlsx_file(headers, found, columns, translate, row_header,
                                         error_header, gettext("Errors"))
            mimetype = XLSX
    name = f"import-{import_id}-errors.{fmt}"
    return Response(errorfile.chunks(handle), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/imports/<iid>/cancel")
def cancel(iid: str) -> dict[str, Any]:
    return _service().cancel(current_principal(), jobs.job_id(iid))


@bp.post("/imports/<iid>/undo")
def undo(iid: str) -> tuple[dict[str, Any], int]:
    """The records the import created go to the recycle bin (a job): 202."""
    return _service().undo(current_principal(), jobs.job_id(iid)), 202
