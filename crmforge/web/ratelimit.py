"""Rate limits on sign-in (Flask-Limiter): per client address and per submitted username,
shared by ``POST /api/v1/auth/token`` and ``POST /login``.

Lockout (``accounts.sign_in``) stops guessing one account's password; these limits also
slow down an attacker spraying one password over many names and keep sign-in, which
costs an argon2 hash, from being a cheap way to load the server. Only failed attempts
(any answer of 400 or more) use up the budget: guessing is what is limited, and a whole
office signing in through one NAT address in the morning is not. Once the budget is
spent every attempt is refused, the right password included. Each refused attempt
answers 429 with ``Retry-After`` and is one ``rate limited`` row in the sign-in audit.

Config: ``CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS`` and ``CRMFORGE_SIGNIN_LIMIT_PER_USERNAME``
(limit strings such as "10 per minute", read on each request), ``RATELIMIT_STORAGE_URI``
(default ``memory://``, which counts per process: with several workers use a shared store
such as ``redis://``), ``RATELIMIT_ENABLED``. The address is ``request.remote_addr``; see
``crmforge.web.context`` for proxies. The per-address default is higher than the per-name
one because an office behind one NAT address shares it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from werkzeug.wrappers import Response

from ..core.errors import CRMError
from ..security import accounts
from .context import instance
from .errors import envelope
from .session import LOGIN_ENDPOINT, TOKEN_ENDPOINT, render_login, signin_tenant_name, wants_html

DEFAULTS: dict[str, Any] = {
    "CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS": "30 per minute",
    "CRMFORGE_SIGNIN_LIMIT_PER_USERNAME": "10 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": False,  # Retry-After is set on the 429 answer below
}

SIGNIN_ENDPOINTS = (TOKEN_ENDPOINT, LOGIN_ENDPOINT)


def _address() -> str:
    return request.remote_addr or "unknown"


def submitted_username() -> str:
    if request.endpoint == LOGIN_ENDPOINT:
        value: Any = request.form.get("username")
    else:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nested deeper than json parses (silent covers ValueError only)
            body = None
        value = body.get("username") if isinstance(body, dict) else None
    if not isinstance(value, str):
        return ""
    # A key and, on a 429, an audit row: never NUL or a lone surrogate (no database stores them).
    return value[:150].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _username_key() -> str:
    # Case-folded so "Admin" and "admin" share one budget; the tenant keeps names apart.
    try:
        tenant = signin_tenant_name()
    except CRMError:
        tenant = "?"
    return f"{tenant}/{submitted_username().casefold()}"


def _failed(response: Response) -> bool:
    return response.status_code >= 400


def _config(key: str) -> Callable[[], str]:
    return lambda: str(current_app.config[key])


def _audit_breach(limit: RequestLimit) -> None:
    """One audit row per refused attempt, in the tenant the attempt was for."""
    try:
        tenant = instance().tenant(signin_tenant_name())
    except CRMError:
        return  # no such tenant: nowhere to write, and nothing to protect there
    channel = "form" if request.endpoint == LOGIN_ENDPOINT else "token"
    with tenant.write() as conn:
        accounts.audit_signin(conn, submitted_username() or "?", None, False, "rate limited",
                              request.remote_addr, channel)


def install(app: Flask) -> Limiter:
    """A limiter for this app (its own counters) wrapped around the sign-in views; call
    after the views are registered."""
    limiter = Limiter(_address, app=app, on_breach=_audit_breach)
    per_address = limiter.shared_limit(
        _config("CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS"), scope="signin-address",
        key_func=_address, methods=["POST"], deduct_when=_failed)
    per_username = limiter.shared_limit(
        _config("CRMFORGE_SIGNIN_LIMIT_PER_USERNAME"), scope="signin-username",
        key_func=_username_key, methods=["POST"], deduct_when=_failed)
    for endpoint in SIGNIN_ENDPOINTS:
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = per_address(per_username(view))

    def too_many(exc: RateLimitExceeded) -> Any:
        current = limiter.current_limit
        wait = max(1, int(current.reset_at - time.time())) if current else 60
        message = f"too many sign-in attempts; try again in {wait} seconds"
        response: Response
        if request.endpoint == LOGIN_ENDPOINT and wants_html():
            page, status = render_login(message, 429)
            response = app.make_response((page, status))
        else:
            response, status = envelope(429, "rate_limited", message)
            response.status_code = status
        response.headers["Retry-After"] = str(wait)
        return response

    app.register_error_handler(RateLimitExceeded, too_many)
    _only_for_signin(app, limiter)
    return limiter


def _only_for_signin(app: Flask, limiter: Limiter) -> None:
    """Run the limiter's request hooks for the sign-in views only.

    Flask-Limiter hooks into every request (application-wide limits, headers, deferred
    deductions) although the limits here are on sign-in alone: a fifth of a record read's
    own cost went to finding no limit. Its hooks are the ones bound to this limiter; each
    is wrapped to run only when the request is for a sign-in view, where it is needed
    (``deduct_when`` is settled in the after-request hook)."""
    def owned(hook: Any) -> bool:
        bound = getattr(hook, "__self__", None)
        if bound is limiter:
            return True
        return isinstance(hook, partial) and any(a is limiter for a in hook.args)

    def gate(hook: Callable[..., Any], passthrough: bool) -> Callable[..., Any]:
        @wraps(hook)
        def gated(*args: Any) -> Any:
            if request.endpoint in SIGNIN_ENDPOINTS:
                return hook(*args)
            return args[0] if passthrough and args else None
        return gated

    registries: list[tuple[Any, bool]] = [(app.before_request_funcs, False),
                                          (app.after_request_funcs, True),
                                          (app.teardown_request_funcs, False)]
    for registry, passthrough in registries:
        hooks = registry.get(None, [])
        registry[None] = [gate(h, passthrough) if owned(h) else h for h in hooks]
