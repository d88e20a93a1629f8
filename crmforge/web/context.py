"""Per-request context: the tenant (from ``X-Tenant``, the host name or the browser session)
and the principal (from a bearer token or the session cookie). Views read ``g.tenant`` and
``g.principal`` through these functions and nothing else.

Two kinds of credential reach the same checks (``accounts.authenticate``): a bearer token
in ``Authorization`` and a browser session whose id travels in Flask's signed session
cookie (``crmforge.web.session``). A request carrying ``Authorization`` is judged by it
alone; a bad bearer token never falls back to the cookie.

The client address is ``request.remote_addr``. Behind a reverse proxy set
``CRMFORGE_TRUSTED_PROXIES`` to the number of proxies so werkzeug's ProxyFix takes the
address from ``X-Forwarded-For``; without it that header is ignored, because any client
can send it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, request, session

from ..core.errors import Unauthorized, Unavailable
from ..core.ids import hash_token
from ..metadata import store as meta_store
from ..metadata.roles import role_docs
from ..runtime import Instance, Tenant, shared_reads
from ..security import Principal, accounts
from ..security.accounts import RoleSource
from ..security.login import LoginPolicy, LoginRefused

#: Keys of the browser session (Flask's signed cookie): the session secret and its tenant.
SESSION_ID_KEY = "sid"
SESSION_TENANT_KEY = "tenant"


def instance() -> Instance:
    inst: Instance = current_app.extensions["crmforge"]
    return inst


def resolve_tenant_name() -> str:
    """``X-Tenant`` wins; else the first label of a host like ``acme.crm.example.com`` when it
    names a tenant; else the tenant of the browser session; else ``default``."""
    header = request.headers.get("X-Tenant")
    if header is not None:
        return header.strip()
    host = (request.host or "").split(":")[0]
    labels = host.split(".")
    if len(labels) > 2 and instance().has_tenant(labels[0]):
        return labels[0]
    remembered = session.get(SESSION_TENANT_KEY)
    if isinstance(remembered, str) and remembered:
        return remembered
    return "default"


def current_tenant() -> Tenant:
    if "tenant" not in g:
        g.tenant = instance().tenant(resolve_tenant_name())
    tenant: Tenant = g.tenant
    return tenant


def login_policy() -> LoginPolicy:
    """The level-1 numbers of this app (config keys in ``crmforge.web.session.DEFAULTS``)."""
    c = current_app.config
    return LoginPolicy(
        max_failed_logins=int(c["CRMFORGE_LOCKOUT_THRESHOLD"]),
        lockout=dt.timedelta(minutes=float(c["CRMFORGE_LOCKOUT_MINUTES"])),
        token_lifetime=dt.timedelta(hours=float(c["CRMFORGE_TOKEN_HOURS"])),
        session_lifetime=dt.timedelta(hours=float(c["CRMFORGE_SESSION_HOURS"])),
        session_idle=dt.timedelta(minutes=float(c["CRMFORGE_SESSION_IDLE_MINUTES"])),
    )


def role_source(tenant: Tenant) -> RoleSource:
    """Role documents through the tenant's snapshot cache (one parse per metadata version)."""
    def load(conn: sa.Connection, version: int | None) -> Mapping[str, Mapping[str, Any]]:
        return role_docs(meta_store.load(conn, tenant.key, version))
    return load


def bearer_token() -> str | None:
    """The bearer token of the request; None without an ``Authorization`` header.
    A header of another scheme is refused rather than ignored."""
    auth = request.headers.get("Authorization")
    if auth is None:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <token>' (POST /api/v1/auth/token "
                           "gives one)")
    return token.strip()


def has_bearer() -> bool:
    auth = request.headers.get("Authorization", "")
    return auth.partition(" ")[0].lower() == "bearer"


def session_token() -> str | None:
    token = session.get(SESSION_ID_KEY)
    return token if isinstance(token, str) and token else None


def current_credential() -> accounts.Credential:
    if "credential" not in g:
        g.credential = _authenticate()
    credential: accounts.Credential = g.credential
    return credential


def current_principal() -> Principal:
    g.principal = current_credential().principal
    principal: Principal = g.principal
    return principal


def _authenticate() -> accounts.Credential:
    token = bearer_token()
    kind = accounts.API
    if token is None:
        token, kind = session_token(), accounts.SESSION
        if token is None:
            raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' "
                               "(POST /api/v1/auth/token gives one) or sign in at /login")
        if session.get(SESSION_TENANT_KEY) != current_tenant().name:
            raise Unauthorized("the session belongs to another tenant; sign in again")
    tenant = current_tenant()
    refused: LoginRefused | None = None
    with tenant.read() as conn:
        try:
            credential = accounts.authenticate(
                conn, token, kind=kind, remote_addr=request.remote_addr,
                roles=role_source(tenant), policy=login_policy(), cache=tenant.credentials)
        except LoginRefused as exc:
            refused = exc
        except Unauthorized:
            if kind == accounts.SESSION:
                session.pop(SESSION_ID_KEY, None)  # the browser stops sending a dead session
            raise
    if refused is not None:
        with tenant.write() as conn:
            accounts.audit_signin(conn, refused.username or "?", refused.user_id, False,
                                  refused.reason, request.remote_addr, "request")
        raise refused
    if credential.stale:
        try:
            with tenant.write() as conn:
                accounts.touch(conn, credential.token_id)
            tenant.credentials.forget(hash_token(token))  # its last use is now newer
        except Unavailable:  # a read must not fail because its session could not be touched
            pass  # the next request touches it; the idle limit is far longer than a retry
    return credential


def register(app: Flask) -> None:
    @app.before_request
    def _one_read_transaction() -> None:
        # Authentication, the snapshot and the record reads of a request share one
        # connection and read transaction per tenant (runtime.shared_reads).
        scope = shared_reads()
        scope.__enter__()
        g.read_scope = scope

    @app.teardown_request
    def _end_reads(_exc: BaseException | None) -> None:
        scope: shared_reads | None = g.pop("read_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)

    @app.before_request
    def _tenant() -> None:
        # Resolve early so an unknown tenant answers 404 before anything else runs.
        if request.path.startswith("/api/"):
            current_tenant()
