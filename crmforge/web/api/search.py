"""Global search endpoint: a thin adapter over the runtime's search service."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ...runtime.search import SearchService
from ..context import current_principal, current_tenant
from ..languages import request_lang

bp = Blueprint("search", __name__)


@bp.get("/search")
def search() -> dict[str, Any]:
    """Records of every readable object whose title (or its pinyin) matches ``q``."""
    return SearchService(current_tenant()).search(
        current_principal(), request.args.get("q"), request.args.get("limit"), request_lang())
