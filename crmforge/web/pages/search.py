"""The search page ``/search?q=``: the runtime's global search, grouped by object, with
links to the records. An empty term shows the form only; a refused term (too long) says
why on the page instead of an error page, so the user can correct it in place."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from ...core.errors import BadRequest
from ...runtime.search import SearchService
from ..context import current_principal, current_tenant
from . import bp
from .i18n import current_lang


@bp.get("/search")
def search_page() -> str:
    q = request.args.get("q", "").strip()
    result: dict[str, Any] | None = None
    too_long = False
    if q:
        try:
            result = SearchService(current_tenant()).search(current_principal(), q, 50,
                                                            current_lang())
        except BadRequest:
            too_long = True
    return render_template("search.html", q=q, result=result, too_long=too_long)
