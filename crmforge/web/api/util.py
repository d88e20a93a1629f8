"""Small helpers shared by the API views."""

from __future__ import annotations

from typing import Any

from flask import request

from ...core.errors import BadRequest


def json_body() -> Any:
    """The request's JSON document; malformed or missing JSON is a 400 with a clear message."""
    if not request.data:
        raise BadRequest("the request needs a JSON body")
    if not request.is_json:
        raise BadRequest("send JSON with 'Content-Type: application/json'")
    try:
        return request.get_json(force=True, silent=False)
    except Exception:
        raise BadRequest("the request body is not valid JSON") from None


def flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")
