"""``GET /api/v1/recent``: the caller's recently viewed records (decision 0037), a thin
adapter over ``runtime.recent``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ...core.errors import BadRequest
from ...runtime import recent
from ...security import engine as permissions
from ..context import current_principal, current_tenant
from ..languages import request_lang

bp = Blueprint("recent", __name__)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return recent.SHOWN
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= recent.KEEP:
        raise BadRequest(f"limit must be a whole number from 1 to {recent.KEEP}")
    return int(raw)


@bp.get("/recent")
def recent_items() -> dict[str, Any]:
    """The records the caller opened last, newest first, that they may still read."""
    principal = current_principal()
    items = recent.recent_for(current_tenant(), principal,
                              lambda snap: permissions.access(principal, snap),
                              request_lang(), _limit(request.args.get("limit")))
    return {"items": items}
