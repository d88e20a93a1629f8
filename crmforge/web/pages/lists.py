"""The list page ``/records/<object>``: the API's list parameters in the address (filters
``<field>__<op>=value``, ``sort``, ``q``, ``cursor``), rendered with the list layout.

It reads one page at a time through the record service (keyset pagination, no count), so
it stays fast however many records there are.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...core.errors import CRMError
from ...core.filters import OPERATORS, RESERVED_PARAMS, parse_list_query, parse_sort
from . import bp
from .display import list_columns, page_for, shown, titles

#: Parameters of the page itself, not of the list query.
PAGE_PARAMS = frozenset({"lang", "ff", "fo", "fv"})
#: Operators offered by the filter form (``isnull`` takes true or false).
FILTER_OPERATORS = ("eq", "ne", "contains", "startswith", "lt", "lte", "gt", "gte", "in",
                    "between", "isnull")
PAGE_SIZE = 50
NOT_FILTERS = RESERVED_PARAMS | PAGE_PARAMS | {"total"}


def _params(drop: frozenset[str] | set[str] = frozenset(), **changes: str | None) -> str:
    """The current list parameters with some dropped or changed, as a query string."""
    pairs = [(k, v) for k, v in request.args.items(multi=True)
             if k not in PAGE_PARAMS and k not in drop and k not in changes]
    pairs += [(k, v) for k, v in changes.items() if v is not None]
    return urlencode(pairs)


def _href(object_name: str, query: str) -> str:
    base = url_for("pages.record_list", object_name=object_name)
    return f"{base}?{query}" if query else base


@bp.get("/records/<object_name>")
def record_list(object_name: str) -> Response | tuple[str, int]:
    page = page_for(object_name)
    field, op, value = (request.args.get(k, "").strip() for k in ("ff", "fo", "fv"))
    if field:  # the filter form adds one condition in the API's syntax
        key = field if op in ("", "eq") else f"{field}__{op}"
        return redirect(_href(object_name, _params(drop={"cursor"}, **{key: value})), 303)
    columns = list_columns(page)
    title = page.obj.title_field
    wanted = list(dict.fromkeys([*columns, *([title] if title in page.readable else [])]))
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGE_PARAMS]
    if not any(k == "sort" for k, _ in params) and page.layout.sort:
        params.append(("sort", page.layout.sort))
    params = [(k, v) for k, v in params if k != "fields"] + [("fields", ",".join(wanted))]
    params.append(("limit", str(PAGE_SIZE)))
    error: CRMError | None = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    status = 200
    if page.may("read"):
        try:
            result = page.service().list(page.principal, object_name, parse_list_query(params))
        except CRMError as exc:  # a bad filter or sort: say so above an empty list
            error, status = exc, exc.status
    found = titles(page, result["items"], columns)
    rows = [{"id": r["id"], "cells": [shown(page, c, r, found) for c in columns]}
            for r in result["items"]]
    sort = parse_sort(request.args.get("sort") or page.layout.sort or "")
    headers = []
    for c in columns:
        current = next((k for k in sort[:1] if k.field == c), None)
        flip = f"-{c}" if current is not None and not current.descending else c
        headers.append({
            "name": c, "label": page.label(c),
            "sorted": None if current is None else ("descending" if current.descending
                                                    else "ascending"),
            "href": _href(object_name, _params(drop={"cursor"}, sort=flip))})
    filters = [{"key": k, "value": v, "href": _href(object_name, _params(drop={k, "cursor"}))}
               for k, v in request.args.items(multi=True) if k not in NOT_FILTERS]
    filterable = [(f.name, f.label(page.lang)) for f in page.obj.fields
                  if f.name in page.readable and f.stored and f.kind.operators]
    next_href = _href(object_name, _params(cursor=result["next_cursor"])) \
        if result.get("next_cursor") else None
    export = None
    if page.may("export"):
        query = _params(drop={"cursor"})
        export = f"/api/v1/records/{object_name}/export" + (f"?{query}" if query else "")
    return render_template(
        "list.html", page=page, headers=headers, rows=rows, filters=filters,
        filterable=filterable, operators=[o for o in FILTER_OPERATORS if o in OPERATORS],
        next_href=next_href, first_href=_href(object_name, _params(drop={"cursor"}))
        if request.args.get("cursor") else None, export=export, error=error,
        search=request.args.get("q", "")), status
