"""One JSON error envelope for the whole API (DESIGN §9): ``{"error": {code, message, fields}}``.

The envelope is written here and only here, so this is where its messages take the
request's language (``?lang=`` or ``Accept-Language``, else English): the message and every
field message, for every error class, through the service-message templates the pages use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from ..core.errors import CRMError
from .languages import request_lang
from .observability import request_id
from .server_messages import translated_in

log = logging.getLogger("crmforge.web")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_failed", 429: "rate_limited",
}


def envelope(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None,
             details: Any = None) -> tuple[Response, int]:
    """The envelope, its message and field messages in the request's language."""
    message, fields = translated_in(request_lang(), message, fields or {})
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields}
    if details is not None:
        body["details"] = details
    return jsonify({"error": body}), status


#: Where a page layer registers how it shows an error as a page (``app.extensions``): the
#: browser asked for a page, so a JSON envelope would show as raw text. Called with the
#: status and, for unexpected errors, the request id; ``None`` means "not a page".
PAGE_ERRORS = "crmforge.page_errors"
PageErrors = Callable[[int, str | None], "tuple[str, int] | None"]


def _as_page(app: Flask, status: int, rid: str | None = None) -> tuple[str, int] | None:
    render: PageErrors | None = app.extensions.get(PAGE_ERRORS)
    return render(status, rid) if render is not None and has_request_context() else None


def register(app: Flask) -> None:
    @app.errorhandler(CRMError)
    def _crm(exc: CRMError) -> tuple[Response, int]:
        return envelope(exc.status, exc.code, exc.message, exc.fields, exc.details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        page = _as_page(app, status)
        if page is not None:
            response = app.make_response(page)
        else:
            limit = request.max_content_length if has_request_context() else None
            message = {413: "the request body is larger than the limit of "
                            f"{limit or app.config['MAX_CONTENT_LENGTH']} bytes"
                       }.get(status, exc.description or "")
            response, status = envelope(status, _HTTP_CODES.get(status, "error"), message)
        # The exception's own headers say what to do next (a 405's ``Allow``, a 401's
        # ``WWW-Authenticate``, a 429's ``Retry-After``); only its HTML content type is
        # replaced by the envelope's (or the page's).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int] | tuple[str, int]:
        rid = request_id()
        log.exception("unexpected error")  # the log line carries the request id too
        page = _as_page(app, 500, rid)
        if page is not None:
            return page
        return envelope(500, "internal_error", "an unexpected error occurred; it has been "
                        f"logged with request id {rid}", details={"request_id": rid})
