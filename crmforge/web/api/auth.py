"""Token sign-in: ``POST /api/v1/auth/token`` and ``POST /api/v1/auth/revoke``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ...core.errors import BadRequest, Unauthorized
from ...security import revoke_token, sign_in
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("auth", __name__)


@bp.post("/auth/token")
def token() -> tuple[dict[str, Any], int]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("send {\"username\": ..., \"password\": ...}")
    # A failed attempt still commits its audit row and failure count, then answers 401.
    failure: Unauthorized | None = None
    with current_tenant().write() as conn:
        try:
            value, expires = sign_in(conn, body.get("username"), body.get("password"),
                                     request.remote_addr)
        except Unauthorized as exc:
            failure = exc
    if failure is not None:
        raise failure
    return {"token": value, "expires_at": expires.isoformat(timespec="seconds") + "Z",
            "token_type": "Bearer"}, 200


@bp.post("/auth/revoke")
def revoke() -> tuple[str, int]:
    current_principal()
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    with current_tenant().write() as conn:
        revoke_token(conn, token)
    return "", 204
