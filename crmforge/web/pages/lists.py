"""The list page ``/records/<object>``: the API's list parameters in the address (filters
``<field>__<op>=value``, ``sort``, ``q``, ``cursor``), rendered with the list layout, with
the user's saved views (``runtime.list_views``) and a bar of mass actions over the ticked
rows (``mass_actions``).

It reads one page at a time through the record service (keyset pagination, no count), so
it stays fast however many records there are.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import CRMError
from ...core.filters import OPERATORS, RESERVED_PARAMS, parse_list_query, parse_sort
from ...metadata.processes import process_docs
from ...runtime import ListViews
from ...runtime.list_views import normalize_query
from ...runtime.query import filter_operators
from ..context import current_tenant
from . import bp
from .display import Page, list_columns, list_sort, page_for, shown, titles

#: Parameters of the page itself, not of the list query.
#: ``app`` names the app the top bar shows (decision 0034).
PAGE_PARAMS = frozenset({"lang", "ff", "fo", "fv", "view", "app"})
#: Operators offered by the filter form (``isnull`` takes true or false).
FILTER_OPERATORS = ("eq", "ne", "contains", "startswith", "lt", "lte", "gt", "gte", "in",
                    "between", "isnull")
PAGE_SIZE = 50
NOT_FILTERS = RESERVED_PARAMS | PAGE_PARAMS | {"total"}
#: Mass actions in the order the action bar offers them, with the operation each needs.
MASS_ACTIONS = (("delete", "delete"), ("transfer", "transfer"), ("submit", "submit"))


def _params(drop: frozenset[str] | set[str] = frozenset(), **changes: str | None) -> str:
    """The current list parameters with some dropped or changed, as a query string."""
    pairs = [(k, v) for k, v in request.args.items(multi=True)
             if k not in PAGE_PARAMS and k not in drop and k not in changes]
    pairs += [(k, v) for k, v in changes.items() if v is not None]
    return urlencode(pairs)


def _href(object_name: str, query: str) -> str:
    base = url_for("pages.record_list", object_name=object_name)
    return f"{base}?{query}" if query else base


def list_href(object_name: str) -> str:
    """The list at the current address (its page parameters left out)."""
    return _href(object_name, _params())


def mass_actions_for(page: Page) -> list[str]:
    """The mass actions the user may perform on the object (the permission engine's
    operation level; each record is still checked when the action runs). Submitting needs
    an active approval process of the object."""
    if not page.may("read"):
        return []
    has_process = any(p.get("object") == page.obj.name and p.get("active", True) is not False
                      for p in process_docs(page.snapshot).values())
    return [name for name, op in MASS_ACTIONS
            if page.may(op) and (name != "submit" or has_process)]


@bp.get("/records/<object_name>")
def record_list(object_name: str) -> Response | tuple[str, int]:
    page = page_for(object_name)
    field, op, value = (request.args.get(k, "").strip() for k in ("ff", "fo", "fv"))
    if field:  # the filter form adds one condition in the API's syntax
        key = field if op in ("", "eq") else f"{field}__{op}"
        return redirect(_href(object_name, _params(drop={"cursor"}, **{key: value})), 303)
    chosen = request.args.get("view", "").strip()
    if chosen:  # a saved view opens as its address, so the link stays shareable
        view = ListViews(current_tenant()).get(page.principal, object_name, chosen)
        return redirect(_href(object_name, view["query"]), 303)
    return render_list(page)


def render_list(page: Page, *, problem: CRMError | None = None, report: Any = None,
                status: int = 200) -> tuple[str, int]:
    """The list for the current address; ``problem`` (a refused view or mass action) and
    ``report`` (a mass action's outcome) are shown above it."""
    object_name = page.obj.name
    columns = list_columns(page)
    title = page.obj.title_field
    wanted = list(dict.fromkeys([*columns, *([title] if title in page.readable else [])]))
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGE_PARAMS]
    default_sort = list_sort(page)
    if not any(k == "sort" for k, _ in params) and default_sort:
        params.append(("sort", default_sort))
    params = [(k, v) for k, v in params if k != "fields"] + [("fields", ",".join(wanted))]
    params.append(("limit", str(PAGE_SIZE)))
    error: CRMError | None = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    views: list[dict[str, Any]] = []
    if page.may("read"):
        try:
            result = page.service().list(page.principal, object_name, parse_list_query(params))
        except CRMError as exc:  # a bad filter or sort: say so above an empty list
            error = exc
            status = exc.status if status < 400 else status
        views = ListViews(current_tenant()).list(page.principal, object_name)
    found = titles(page, result["items"], columns)
    rows = []
    for r in result["items"]:
        cells = [shown(page, c, r, found) for c in columns]
        rows.append({"id": r["id"], "cells": cells, "title": cells[0]["text"] or f"#{r['id']}"})
    try:
        sort = parse_sort(request.args.get("sort") or default_sort)
    except CRMError:  # too many sort keys: the list above already says so
        sort = ()
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
                  if f.name in page.readable and f.stored and filter_operators(f)]
    next_href = _href(object_name, _params(cursor=result["next_cursor"])) \
        if result.get("next_cursor") else None
    export = None
    if page.may("export"):
        query = _params(drop={"cursor"})
        export = f"/api/v1/records/{object_name}/export" + (f"?{query}" if query else "")
    query = normalize_query(_params(drop={"cursor"}))
    current = next((v["id"] for v in views if v["query"] == query), None)
    here = _params()
    return render_template(
        "list.html", page=page, headers=headers, rows=rows, filters=filters,
        filterable=filterable, operators=[o for o in FILTER_OPERATORS if o in OPERATORS],
        next_href=next_href, first_href=_href(object_name, _params(drop={"cursor"}))
        if request.args.get("cursor") else None, export=export, error=error,
        search=request.args.get("q", ""), views=views, current_view=current,
        save_view_href=_with(url_for("pages.list_view_save", object_name=object_name), query),
        mass_href=_with(url_for("pages.mass_action", object_name=object_name), here),
        actions=mass_actions_for(page), problem=problem, report=report), status


def _with(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


@bp.post("/records/<object_name>/_views")
def list_view_save(object_name: str) -> Response | tuple[str, int]:
    """Save the list's current query (the form's address carries it) as a view."""
    page = page_for(object_name)
    try:
        view = ListViews(current_tenant()).save(
            page.principal, object_name, request.form.get("name", ""),
            _params(drop={"cursor"}), request.form.get("shared") == "1")
    except CRMError as exc:
        return render_list(page, problem=exc, status=exc.status)
    flash(gettext("View saved."), "ok")
    return redirect(_href(object_name, view["query"]), 303)


@bp.post("/records/<object_name>/_views/delete")
def list_view_delete(object_name: str) -> Response | tuple[str, int]:
    page = page_for(object_name)
    try:
        ListViews(current_tenant()).delete(page.principal, object_name,
                                           request.form.get("view", ""))
    except CRMError as exc:
        return render_list(page, problem=exc, status=exc.status)
    flash(gettext("View deleted."), "ok")
    return redirect(_href(object_name, _params(drop={"cursor"})), 303)
