"""Checks every request passes before any view runs.

A NUL character is text no database here stores, and PostgreSQL refuses it even as a
query's parameter: a username, a department name or a filter value holding one would
make the driver raise, a server error instead of an answer. No product value can hold
one (text fields refuse it), so a request carrying one in its path, query string or form
is malformed: a 400 before anything is read or written. JSON bodies are checked member
by member where they are parsed (``api.util.json_body``: a 422 naming the member).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request

from ..core.errors import BadRequest

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
#: Endpoint -> the largest body it takes, for uploads above ``MAX_CONTENT_LENGTH`` (set
#: here, before this check or the CSRF check reads the form).
UPLOAD_LIMITS: dict[str, Callable[[], int]] = {}


def install(app: Flask) -> None:
    @app.before_request
    def _no_nul() -> None:
        limit = UPLOAD_LIMITS.get(request.endpoint or "")
        if limit is not None:
            request.max_content_length = limit()
        if not request.query_string and not request.content_type:
            # the common read: nothing but the path to look at (no query, no form)
            if "\x00" in request.path:
                raise BadRequest("the request contains a NUL character, which no value may hold")
            return
        texts = [request.path, *(t for pair in request.args.items(multi=True) for t in pair)]
        if request.mimetype in FORM_TYPES:
            texts += [t for pair in request.form.items(multi=True) for t in pair]
        if any("\x00" in t for t in texts):
            raise BadRequest("the request contains a NUL character, which no value may hold")
