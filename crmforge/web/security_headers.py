"""Security headers on every answer, set in one place (an ``after_request`` hook).

Pages get a Content-Security-Policy that allows scripts, styles, images and fonts from
this origin only: no inline scripts, no ``eval``, no inline styles, no plugins, no
framing by other sites. The templates carry no inline script, style block, style
attribute or event handler attribute, so the policy needs no nonces: data for scripts
travels in ``<script type="application/json">`` blocks (data, never run) and in data
attributes, and htmx's injected indicator style is turned off (base.html) with its rules
in crmforge.css. Two exceptions, each its own policy:

- the API docs page (``/api/v1/docs``): Swagger UI renders with inline styles and shows
  images from ``data:`` addresses;
- JSON and files (the API, exports, attachments): nothing in them is ever run or
  rendered as a page, so they get ``default-src 'none'``.

Every answer also gets ``X-Content-Type-Options: nosniff`` (a browser never runs a file
as a type other than the one sent), ``Referrer-Policy: strict-origin-when-cross-origin``
(record addresses do not leave the site in the Referer header) and ``X-Frame-Options:
DENY`` for browsers older than ``frame-ancestors``. A view that set one of these headers
itself keeps its own value.
"""

from __future__ import annotations

from flask import Flask, Response, request

PAGE_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",  # bpmn-js embeds its icon font as a data: address
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
API_DOCS_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # Swagger UI's rendering
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

API_DOCS_PATH = "/api/v1/docs"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


#: Every header this module sets (one look at an answer tells whether it set any).
_NAMES = ("Content-Security-Policy", *COMMON)
_LOWER = frozenset(n.lower() for n in _NAMES)


def policy_for(path: str, mimetype: str | None) -> str:
    """The Content-Security-Policy of an answer: by what it is, not only by its path
    (an HTML error page under /records/ is a page; a JSON error under /admin/ is data)."""
    if path == API_DOCS_PATH or path.startswith(API_DOCS_PATH + "/"):
        return API_DOCS_POLICY
    if mimetype == "text/html":
        return PAGE_POLICY
    return DATA_POLICY


def install(app: Flask) -> None:
    every = [(name, value) for name, value in COMMON.items()]

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        policy = ("Content-Security-Policy", policy_for(request.path, response.mimetype))
        # Most answers set none of these themselves: add them at once. One pass over the
        # few headers an answer has (a miss of ``name in headers`` raises and catches an
        # exception inside werkzeug; this runs on every answer).
        present = {name.lower() for name, _ in headers}
        if not present & _LOWER:
            headers.extend([policy, *every])
            return response
        for name, value in (policy, *every):
            if name.lower() not in present:
                headers.add(name, value)
        return response
