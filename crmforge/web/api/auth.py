"""Credentials over the API: ``POST /api/v1/auth/token`` (sign in), ``GET /auth/me``,
``POST /auth/revoke`` (this credential), ``POST /auth/revoke-all`` (every token and session
of the caller) and, for administrators, ``GET /admin/signin-audit``.

Revocation works the same for a bearer token and a browser session; a request
authenticated by the session cookie also has its cookie cleared.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_wtf.csrf import generate_csrf

from ...core.errors import BadRequest, Unauthorized
from ...security import accounts, api_keys, org
from ...security import engine as permissions
from ..context import (
    current_credential,
    current_principal,
    current_tenant,
    login_policy,
    role_source,
)
from ..session import end_session
from .util import json_body

bp = Blueprint("auth", __name__)

_NO_STORE = {"Cache-Control": "no-store"}


def _time(value: Any) -> str:
    return str(value.isoformat(timespec="seconds")) + "Z"


@bp.post("/auth/token")
def token() -> tuple[dict[str, Any], int, dict[str, str]]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("send {\"username\": ..., \"password\": ...}")
    tenant = current_tenant()
    # A failed attempt still commits its audit row and failure count, then answers 401.
    failure: Unauthorized | None = None
    with tenant.write() as conn:
        try:
            value, expires = accounts.sign_in(
                conn, body.get("username"), body.get("password"), request.remote_addr,
                kind=accounts.API, roles=role_source(tenant), policy=login_policy())
        except Unauthorized as exc:
            failure = exc
    if failure is not None:
        raise failure
    return {"token": value, "expires_at": _time(expires), "token_type": "Bearer"}, 200, _NO_STORE


@bp.get("/auth/me")
def me() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Who is signed in, how, until when; for a browser session also the CSRF token its
    scripts send in ``X-CSRF-Token`` (readable by same-origin scripts only)."""
    credential = current_credential()
    p = credential.principal
    session_auth = credential.kind == accounts.SESSION
    return {"username": p.username, "is_admin": p.is_admin, "roles": sorted(p.roles),
            "tenant": current_tenant().name, "auth": "session" if session_auth else "bearer",
            "expires_at": _time(credential.expires_at),
            "csrf_token": generate_csrf() if session_auth else None}, 200, _NO_STORE


@bp.post("/auth/revoke")
def revoke() -> tuple[str, int]:
    credential = current_credential()
    with current_tenant().write() as conn:
        accounts.revoke_credential(conn, credential.token_id)
    if credential.kind == accounts.SESSION:
        end_session()
    return "", 204


@bp.post("/auth/revoke-all")
def revoke_all() -> dict[str, int]:
    """Sign out everywhere: every token and browser session of the caller, this one too."""
    credential = current_credential()
    assert credential.principal.user_id is not None
    with current_tenant().write() as conn:
        count = accounts.revoke_all(conn, credential.principal.user_id)
    if credential.kind == accounts.SESSION:
        end_session()
    return {"revoked": count}


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


@bp.get("/admin/signin-audit")
def signin_audit() -> dict[str, Any]:
    """Sign-in attempts, newest first: ``?user=&success=true|false&limit=&cursor=``."""
    permissions.check_admin(current_principal())
    success_arg = request.args.get("success")
    if success_arg not in (None, "true", "false"):
        raise BadRequest("success is true or false")
    limit = _int_arg("limit", 100, 1, 1000)
    assert limit is not None
    cursor = _int_arg("cursor", None, 1, 2**62)
    with current_tenant().read() as conn:
        items = accounts.signin_log(
            conn, username=request.args.get("user"),
            success=None if success_arg is None else success_arg == "true",
            before=cursor, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": str(items[-1]["id"]) if more else None}


# -- API keys (DESIGN §9: POST, GET /auth/api-keys; DELETE /auth/api-keys/<id>) ---------------
def _key_owner(conn: Any, principal: Any) -> int:
    """Whose keys: the caller's, or (administrators) ``?user=`` / ``"user"``'s, such as
    a service user's."""
    body = request.get_json(silent=True) if request.method == "POST" else None
    named = request.args.get("user") or (body.get("user") if isinstance(body, dict) else None)
    if named is None:
        return int(principal.user_id)
    permissions.check_admin(principal)
    return int(org.user_row(conn, str(named)).id)


@bp.post("/auth/api-keys")
def create_api_key() -> tuple[dict[str, Any], int, dict[str, str]]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest('send {"name": ..., "expires_at": ... (optional)}')
    principal = current_principal()
    with current_tenant().write() as conn:
        owner = _key_owner(conn, principal)
        created = api_keys.create(conn, owner, body.get("name"), body.get("expires_at"),
                                  principal)
    return created, 201, _NO_STORE


@bp.get("/auth/api-keys")
def list_api_keys() -> dict[str, Any]:
    principal = current_principal()
    with current_tenant().write() as conn:  # may create the keys table on first use
        return {"items": api_keys.list_for(conn, _key_owner(conn, principal))}


@bp.delete("/auth/api-keys/<key_id>")
def revoke_api_key(key_id: str) -> tuple[str, int]:
    principal = current_principal()
    with current_tenant().write() as conn:
        api_keys.revoke(conn, _key_owner(conn, principal), key_id)
    return "", 204
