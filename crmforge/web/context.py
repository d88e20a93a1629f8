"""Per-request context: the tenant (from ``X-Tenant`` or the host name) and the principal
(from a bearer token). Views read ``g.tenant`` and ``g.principal`` and nothing else."""

from __future__ import annotations

from flask import Flask, current_app, g, request

from ..core.errors import Unauthorized
from ..runtime import Instance, Tenant
from ..security import Principal, principal_for_token


def instance() -> Instance:
    inst: Instance = current_app.extensions["crmforge"]
    return inst


def resolve_tenant_name() -> str:
    """``X-Tenant`` wins; else the first label of a host like ``acme.crm.example.com`` when it
    names a tenant; else ``default``."""
    header = request.headers.get("X-Tenant")
    if header is not None:
        return header.strip()
    host = (request.host or "").split(":")[0]
    labels = host.split(".")
    if len(labels) > 2 and instance().has_tenant(labels[0]):
        return labels[0]
    return "default"


def current_tenant() -> Tenant:
    if "tenant" not in g:
        g.tenant = instance().tenant(resolve_tenant_name())
    tenant: Tenant = g.tenant
    return tenant


def current_principal() -> Principal:
    if "principal" not in g:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' "
                               "(POST /api/v1/auth/token gives one)")
        with current_tenant().read() as conn:
            g.principal = principal_for_token(conn, token.strip())
    principal: Principal = g.principal
    return principal


def register(app: Flask) -> None:
    @app.before_request
    def _tenant() -> None:
        # Resolve early so an unknown tenant answers 404 before anything else runs.
        if request.path.startswith("/api/"):
            current_tenant()
