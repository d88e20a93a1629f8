"""Browser sessions: the sign-in form (``GET/POST /login``), ``POST /logout`` and CSRF
protection for everything a session cookie authenticates.

The session itself is a ``sys_tokens`` row of kind "session" (revocable, with an absolute
lifetime and an idle timeout); its random secret travels in Flask's signed session cookie
(``crmforge_session``: Secure, HttpOnly, SameSite=Lax) next to the CSRF secret of
Flask-WTF. Signing in replaces the whole cookie, so neither a session id nor a CSRF token
planted before sign-in survives it. See docs/decisions/0004-sessions.md.

CSRF: a browser attaches cookies to cross-site requests but never an ``Authorization``
header, so only requests a cookie would authenticate need a token. An unsafe request
(POST, PUT, PATCH, DELETE) that carries the session cookie and no bearer token (except
``POST /api/v1/auth/token``, which uses no cookie), and every ``POST /login``, must send
the token in ``X-CSRF-Token`` or the ``csrf_token`` form field; otherwise it is refused
with 403 before the view runs. Bearer requests are exempt.
Templates get the token from ``csrf_token()`` or ``csrf_meta_tag()``; scripts from
``GET /api/v1/auth/me`` or the meta tag.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from ..core.errors import CRMError, Forbidden, NotFound
from ..security import accounts
from .context import (
    SESSION_ID_KEY,
    SESSION_TENANT_KEY,
    has_bearer,
    instance,
    login_policy,
    resolve_tenant_name,
    role_source,
    session_token,
)

#: App config defaults; ``create_app(instance, config)`` overrides any of them.
DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "crmforge_session",
    # Plain-HTTP development on a host other than localhost needs False here.
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_CHECK_DEFAULT": False,  # checked here, only where a cookie authenticates
    "WTF_CSRF_TIME_LIMIT": None,  # bound to the session, which expires on its own
    "CRMFORGE_LOCKOUT_THRESHOLD": 5,
    "CRMFORGE_LOCKOUT_MINUTES": 15,
    "CRMFORGE_TOKEN_HOURS": 12,
    "CRMFORGE_SESSION_HOURS": 12,
    "CRMFORGE_SESSION_IDLE_MINUTES": 60,
}

LOGIN_ENDPOINT = "session.login"
#: Issues bearer tokens and authenticates nothing by cookie, so a forged cross-site call
#: gains nothing (its answer cannot be read); scripts need no CSRF token for it.
TOKEN_ENDPOINT = "api.auth.token"  # noqa: S105 (an endpoint name, not a secret)

csrf = CSRFProtect()
bp = Blueprint("session", __name__)


def csrf_required() -> bool:
    if request.method not in current_app.config["WTF_CSRF_METHODS"] or request.endpoint is None:
        return False
    if request.endpoint == LOGIN_ENDPOINT:
        return True
    if request.endpoint == TOKEN_ENDPOINT:
        return False
    return not has_bearer() and session_token() is not None


def _check_csrf() -> tuple[str, int] | None:
    if not current_app.config["WTF_CSRF_ENABLED"] or not csrf_required():
        return None
    try:
        csrf.protect()
    except CSRFError as exc:
        if request.endpoint == LOGIN_ENDPOINT and wants_html():
            # A browser with a stale form (cookies cleared, server restarted) gets a fresh one.
            return render_login("the sign-in form expired; please sign in again", 403)
        raise Forbidden(f"the CSRF token is missing or invalid ({exc.description}); send it "
                        "in the X-CSRF-Token header or the csrf_token form field") from None
    return None


def start_session(token: str, tenant: str) -> None:
    """Replace the cookie's contents: the new session id, its tenant, a fresh CSRF secret."""
    session.clear()
    g.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)
    session[SESSION_ID_KEY] = token
    session[SESSION_TENANT_KEY] = tenant


def wants_html() -> bool:
    """A browser's form post (Accept prefers HTML) gets a page, API clients the envelope."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def signin_tenant_name() -> str:
    """The tenant a sign-in is for: the form's field on ``POST /login``, else the request's."""
    if request.endpoint == LOGIN_ENDPOINT:
        chosen = (request.form.get("tenant") or "").strip()
        if chosen:
            return chosen
    return resolve_tenant_name()


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def render_login(error: str | None = None, status: int = 200, *,
                 tenant: str | None = None) -> tuple[str, int]:
    if tenant is None:
        try:
            tenant = signin_tenant_name()
        except CRMError:
            tenant = "default"
    form = request.form if request.method == "POST" else request.args
    page = render_template(
        "login.html", error=error, tenant=tenant, username=form.get("username", ""),
        next=_safe_next(form.get("next")))
    return page, status


@bp.get("/login")
def login_form() -> tuple[str, int]:
    return render_login(tenant=(request.args.get("tenant") or "").strip() or None)


@bp.post("/login")
def login() -> Response | tuple[str, int]:
    name = signin_tenant_name()
    try:
        tenant = instance().tenant(name)
    except NotFound:
        return render_login("no organisation of that name", 404, tenant=name)
    failure: CRMError | None = None
    with tenant.write() as conn:
        previous = session_token() if session.get(SESSION_TENANT_KEY) == name else None
        try:
            token, _ = accounts.sign_in(
                conn, request.form.get("username"), request.form.get("password"),
                request.remote_addr, kind=accounts.SESSION, roles=role_source(tenant),
                policy=login_policy())
        except CRMError as exc:  # audited inside; the audit row commits with the block
            failure = exc
        else:
            if previous:
                accounts.revoke_token(conn, previous)
    if failure is not None:
        return render_login(failure.message, failure.status, tenant=name)
    start_session(token, name)
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.post("/logout")
def logout() -> Response:
    token, name = session_token(), session.get(SESSION_TENANT_KEY)
    if token and isinstance(name, str):
        try:
            tenant = instance().tenant(name)
        except NotFound:
            pass
        else:
            with tenant.write() as conn:
                accounts.revoke_token(conn, token)
    session.clear()
    return redirect(url_for("session.login_form"), 303)


def end_session() -> None:
    """Forget the browser session (the caller revokes its row)."""
    session.clear()


class BearerAwareSessions(SecureCookieSessionInterface):
    """The signed session cookie, not read for a request that carries a bearer token.

    Such a request is judged by its token alone (``context``), so its cookie can decide
    nothing: an empty session spares an API call the cookie's signature check (a tenth of
    a record read's own cost), and an empty, unmodified session sets no cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if has_bearer_header(request):
            return self.session_class()
        return super().open_session(app, request)


def has_bearer_header(request: Request) -> bool:
    return request.headers.get("Authorization", "").partition(" ")[0].lower() == "bearer"


def install(app: Flask) -> None:
    """CSRF protection, the login pages and their blueprint (after ``context.register``,
    so the tenant is resolved before the CSRF check)."""
    app.session_interface = BearerAwareSessions()
    csrf.init_app(app)
    app.before_request(_check_csrf)
    app.register_blueprint(bp)
