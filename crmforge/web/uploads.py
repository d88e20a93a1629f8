"""Uploads and downloads over HTTP: the request size of upload endpoints, the instance's
upload policy, and how a stored file is sent back.

Request bodies are limited to ``MAX_BODY_BYTES`` (1 MiB) everywhere except on the
endpoints that receive files, where the limit is the instance's file size limit
(``CRMFORGE_FILES_MAX_BYTES``, 25 MB by default) plus room for the multipart envelope.
The limit is raised before anything reads the body (the NUL check and the CSRF check
parse forms), so it is installed ahead of them. A body beyond it answers 413 naming the
file limit; the service checks the file's exact size again and stores nothing above it.

Downloads are sent with the sniffed type (markup as ``application/octet-stream``), as
attachments unless they are images or plain text, with ``X-Content-Type-Options:
nosniff``, a sandboxing Content-Security-Policy, an RFC 6266 ``Content-Disposition``
whose ``filename*`` carries any name (RFC 5987, UTF-8) and an ASCII fallback, and the
content's SHA-256 as ETag (a matching ``If-None-Match`` answers 304).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, render_template, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from ..core.errors import BadRequest, PayloadTooLarge
from ..runtime.files.content import DEFAULT_MAX_BYTES, UploadPolicy, human_size
from ..runtime.files.service import Download
from .errors import envelope

#: Settings (app config keys, from the environment like every ``CRMFORGE_*`` setting).
DEFAULTS: dict[str, Any] = {
    "CRMFORGE_FILES_MAX_BYTES": DEFAULT_MAX_BYTES,
    "CRMFORGE_FILES_ALLOW_TYPES": "",
    "CRMFORGE_FILES_DENY_TYPES": "",
}
#: Room for the multipart envelope and the small form fields around a file.
ENVELOPE_BYTES = 256 * 1024
#: Endpoints that receive files (API and pages).
UPLOAD_ENDPOINTS = frozenset({
    "api.files.upload", "api.files.add_attachment",
    "pages.attachment_upload", "pages.file_field_upload", "pages.record_new",
})
#: Downloads are never run or rendered as a page, even when opened directly.
DOWNLOAD_POLICY = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"


def policy() -> UploadPolicy:
    """The instance's upload policy (size limit, refused and allowed types)."""
    return policy_of(current_app.config)


def policy_of(c: Mapping[str, Any]) -> UploadPolicy:
    return UploadPolicy.from_env({
        "CRMFORGE_FILES_MAX_BYTES": str(c["CRMFORGE_FILES_MAX_BYTES"]),
        "CRMFORGE_FILES_ALLOW_TYPES": str(c["CRMFORGE_FILES_ALLOW_TYPES"] or ""),
        "CRMFORGE_FILES_DENY_TYPES": str(c["CRMFORGE_FILES_DENY_TYPES"] or "")})


def uploaded_files(name: str = "file") -> list[FileStorage]:
    """The files of a multipart request's part ``name`` (a browser sends a part without a
    file, named "", when none was chosen: it does not count)."""
    if request.mimetype != "multipart/form-data":
        raise BadRequest(f"send the file as multipart/form-data in a part named '{name}'")
    found = [f for f in request.files.getlist(name) if f.filename or f.content_length]
    if not found:
        raise BadRequest(f"the request has no file in a part named '{name}'",
                         {name: ["no file was sent"]})
    return found


def uploaded_file(name: str = "file") -> FileStorage:
    return uploaded_files(name)[0]


def content_disposition(name: str, inline: bool) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients and ``filename*`` (RFC 5987,
    UTF-8, percent-encoded) with the real name, e.g. a Chinese one."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    ascii_stem = _ascii(stem)
    if not re.search(r"[A-Za-z0-9]", ascii_stem):
        ascii_stem = "file"
    ascii_ext = re.sub(r"[^A-Za-z0-9]", "", _ascii(ext))[:16]
    ascii_name = ascii_stem + (f".{ascii_ext}" if ascii_ext else "")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _ascii(text: str) -> str:
    """``text`` in safe ASCII (accents dropped, anything else as ``_``), for old clients."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9._ ()+-]", "_", plain).strip(" ._")


def send(download: Download, *, attachment: bool = False) -> Response:
    """The answer carrying a stored file (see the module's docstring)."""
    etag = download.etag
    common = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache",
              "X-Content-Type-Options": "nosniff", "Content-Security-Policy": DOWNLOAD_POLICY}
    if etag in request.if_none_match:
        return Response(status=304, headers=common)
    blob = download.open()
    response = Response(iter(blob), mimetype=None, headers={
        **common, "Content-Type": download.served_type, "Content-Length": str(download.size),
        "Content-Disposition": content_disposition(download.name,
                                                   download.inline and not attachment)},
        direct_passthrough=True)
    response.call_on_close(blob.close)
    return response


def install(app: Flask) -> None:
    """Before the checks that read request bodies: raise the body limit of uploads."""

    @app.before_request
    def _upload_limit() -> None:
        if request.endpoint in UPLOAD_ENDPOINTS:
            request.max_content_length = int(app.config["CRMFORGE_FILES_MAX_BYTES"]) \
                + ENVELOPE_BYTES

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response | str, int]:
        if request.endpoint in UPLOAD_ENDPOINTS:
            limit = human_size(int(app.config["CRMFORGE_FILES_MAX_BYTES"]))
            message = f"the file is larger than the limit of {limit}"
            if str(request.endpoint).startswith("pages."):  # a page, in the page's language
                return render_template("error.html", error=PayloadTooLarge(message)), 413
            return envelope(413, "payload_too_large", message,
                            {"file": [f"is larger than {limit}"]})
        return envelope(413, "payload_too_large", "the request body is larger than the limit "
                        f"of {app.config['MAX_CONTENT_LENGTH']} bytes")


__all__ = ["DEFAULTS", "UPLOAD_ENDPOINTS", "content_disposition", "install", "policy", "send",
           "uploaded_file", "uploaded_files"]
