"""The list page ``/records/<object>``: the API's list parameters in the address (filters
``<field>__<op>=value``, ``sort``, ``q``, ``cursor``), rendered with the user's columns
(else the list layout's), with a filter form fitted to each field's type
(``list_filters``), the user's saved views (``runtime.list_views``), a bar of mass actions
over the ticked rows (``mass_actions``) and a board view per picklist (``kanban``).

It reads one page at a time through the record service (keyset pagination both ways, a
count bounded by ``total=estimate``), so it stays fast however many records there are.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import CRMError, ValidationFailed
from ...core.filters import RESERVED_PARAMS, parse_list_query, parse_sort
from ...metadata.layouts import SYSTEM_COLUMNS
from ...metadata.processes import process_docs
from ...runtime import ListViews
from ...runtime.list_views import normalize_query
from ...runtime.plans import COUNT_CAP
from ..context import current_tenant
from . import bp, confirmations
from .display import Page, list_columns, list_sort, page_for, shown, titles
from .kanban import board_fields, board_href, render_board
from .list_cells import cell_hrefs, inline_fields
from .list_filters import (
    FormProblem,
    chips,
    column_label,
    condition_from_form,
    editor,
    filter_fields,
)

#: Parameters of the page itself, not of the list query.
#: ``app`` names the app the top bar shows (decision 0034); ``ff``/``fo``/``fv``/``fv2``/
#: ``pick`` are the filter form's; ``page`` numbers the page shown and ``back`` says that
#: its cursor is read backward (decision 0036); ``view=kanban`` and ``by`` ask for the
#: board (``kanban.py``).
PAGE_PARAMS = frozenset({"lang", "ff", "fo", "fv", "fv2", "pick", "view", "app", "page",
                         "back", "by"})
PAGE_SIZE = 50
NOT_FILTERS = RESERVED_PARAMS | PAGE_PARAMS | {"total"}
#: Mass actions in the order the action bar offers them, with the operation each needs.
MASS_ACTIONS = (("delete", "delete"), ("transfer", "transfer"), ("submit", "submit"))
#: The furthest page number a link carries (a keyset list has no offset to check it by).
MAX_PAGE = 1_000_000


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
    field, op = (request.args.get(k, "").strip() for k in ("ff", "fo"))
    if field and op and "pick" not in request.args:
        # The filter form adds one condition in the API's syntax, checked first.
        try:
            key, value = condition_from_form(page, field, op, request.args.getlist("fv"),
                                             request.args.get("fv2", ""))
        except FormProblem as exc:
            return render_list(page, form_problem=exc, status=400)
        return redirect(_href(object_name, _params(drop={"cursor"}, **{key: value})), 303)
    chosen = request.args.get("view", "").strip()
    if chosen == "kanban":
        return render_board(page, list(request.args.items(multi=True)))
    if chosen:  # a saved view opens as its address, so the link stays shareable
        view = ListViews(current_tenant()).get(page.principal, object_name, chosen)
        return redirect(_href(object_name, view["query"]), 303)
    return render_list(page)


def _page_number() -> int:
    raw = request.args.get("page", "")
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 8 else 1
    return min(max(number, 1), MAX_PAGE) if request.args.get("cursor") else 1


def chosen_columns(page: Page, stored: list[str] | None) -> list[str]:
    """The list's columns: the address's ``fields`` (a bookmark or a saved view that names
    them), else the user's choice, else the layout's; only fields the reader may read."""
    asked = request.args.get("fields")
    if asked:
        names = [n.strip() for n in asked.split(",") if n.strip()]
        kept = [n for n in names if n in page.readable or n in SYSTEM_COLUMNS]
        if kept:
            return list(dict.fromkeys(kept))
    return stored or list_columns(page)


def render_list(page: Page, *, problem: CRMError | None = None, report: Any = None,
                form_problem: FormProblem | None = None, status: int = 200
                ) -> tuple[str, int]:
    """The list for the current address; ``problem`` (a refused view or mass action) and
    ``report`` (a mass action's outcome) are shown above it, ``form_problem`` beside the
    filter form's value."""
    object_name = page.obj.name
    error: CRMError | None = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    views: list[dict[str, Any]] = []
    stored: list[str] | None = None
    if page.may("read"):
        lists = ListViews(current_tenant())
        views = lists.list(page.principal, object_name)
        stored = lists.columns(page.principal, object_name)
    columns = chosen_columns(page, stored)
    title = page.obj.title_field
    wanted = list(dict.fromkeys([*columns, *([title] if title in page.readable else [])]))
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGE_PARAMS]
    default_sort = list_sort(page)
    if not any(k == "sort" for k, _ in params) and default_sort:
        params.append(("sort", default_sort))
    params = [(k, v) for k, v in params if k not in ("fields", "total", "limit")]
    params += [("fields", ",".join(wanted)), ("limit", str(PAGE_SIZE)), ("total", "estimate")]
    number = _page_number()
    backward = request.args.get("back") == "1" and bool(request.args.get("cursor"))
    searchable = [f.label(page.lang) for f in page.obj.fields
                  if f.searchable and f.stored and f.name in page.readable]
    search = request.args.get("q", "")
    if search and not searchable:  # say why instead of an empty list
        params = [(k, v) for k, v in params if k != "q"]
    if page.may("read"):
        try:
            result = page.service().list(page.principal, object_name,
                                         parse_list_query(params), both_ways=True,
                                         backward=backward)
        except CRMError as exc:  # a bad filter or sort: say so above an empty list
            error = exc
            status = exc.status if status < 400 else status
    found = titles(page, result["items"], columns)
    inline = inline_fields(page, columns)
    back = request.full_path.rstrip("?")
    rows = []
    editable = [c for c in columns if c in inline]
    for r in result["items"]:
        edits = cell_hrefs(object_name, r["id"], editable, r["version"], back) \
            if editable else {}
        cells = [{**shown(page, c, r, found), "edit": edits.get(c)} for c in columns]
        rows.append({"id": r["id"], "cells": cells,
                     "title": str(r.get(title) or "") or f"#{r['id']}"})
    try:
        sort = parse_sort(request.args.get("sort") or default_sort)
    except CRMError:  # too many sort keys: the list above already says so
        sort = ()
    headers = []
    for c in columns:
        current = next((k for k in sort[:1] if k.field == c), None)
        flip = f"-{c}" if current is not None and not current.descending else c
        label = column_label(page, c)
        headers.append({
            "name": c, "label": label,
            # asked of every editable cell: translated once per column
            "edit_label": gettext("Edit %(field)s", field=label) if c in inline else "",
            "sorted": None if current is None else ("descending" if current.descending
                                                    else "ascending"),
            "href": _href(object_name, _params(drop={"cursor"}, sort=flip))})
    conditions = [(k, v) for k, v in request.args.items(multi=True) if k not in NOT_FILTERS]
    filters = [{**chip, "href": _href(object_name, _params(drop={chip["key"], "cursor"}))}
               for chip in chips(page, conditions)]
    filterable = filter_fields(page)
    picked = editor(page, request.args.get("ff", "").strip())
    export = None
    if page.may("export"):
        query = _params(drop={"cursor"})
        export = f"/api/v1/records/{object_name}/export" + (f"?{query}" if query else "")
    query = normalize_query(_params(drop={"cursor"}))
    current = next((v["id"] for v in views if v["query"] == query), None)
    here = _params()
    readable_columns = [(n, column_label(page, n)) for n in
                        [*(f.name for f in page.obj.fields if f.name in page.readable),
                         *SYSTEM_COLUMNS]]
    return render_template(
        "list.html", page=page, headers=headers, rows=rows, filters=filters,
        filterable=filterable, picked=picked, form_problem=form_problem,
        pager=_pager(object_name, result, number, len(rows)),
        export=export, error=error, search=search, searchable=searchable,
        views=views, current_view=current, columns=columns,
        column_choices=sorted(readable_columns, key=lambda c: c[0] not in columns),
        columns_href=_with(url_for("pages.list_columns_save", object_name=object_name),
                           here),
        kept=[(k, v) for k, v in request.args.items(multi=True)
              if k not in PAGE_PARAMS and k != "cursor"],
        boards=[(label, board_href(object_name, name, [
            (k, v) for k, v in request.args.items(multi=True)
            if k not in PAGE_PARAMS and k not in ("cursor", "fields")]))
            for name, label in board_fields(page)],
        save_view_href=_with(url_for("pages.list_view_save", object_name=object_name), query),
        mass_href=_with(url_for("pages.mass_action", object_name=object_name), here),
        actions=mass_actions_for(page), problem=problem, report=report), status


def _pager(object_name: str, result: dict[str, Any], number: int, shown_rows: int
           ) -> dict[str, Any]:
    """Where the page lies: "51–100 of about 12,000", page n (of m when the count is
    exact), and links to the first, previous and next pages (keyset cursors both ways:
    no page can be jumped to without walking to it, decision 0036)."""
    total = result.get("total")
    estimate = bool(result.get("total_is_estimate"))
    first = (number - 1) * PAGE_SIZE + 1
    last = first + shown_rows - 1
    if total is not None and not estimate and last > total:  # records came and went
        total = last
    pages = None if total is None or estimate else max(1, -(-total // PAGE_SIZE))
    nxt = result.get("next_cursor")
    before = result.get("previous_cursor")
    previous = None
    if number > 1:
        previous = _href(object_name, _params(drop={"cursor"})) if number == 2 or not before \
            else _href(object_name, _params(cursor=before, back="1", page=str(number - 1)))
    return {
        "first": first, "last": last, "total": total, "estimate": estimate,
        "capped": estimate and total == COUNT_CAP, "number": number, "pages": pages,
        "first_href": _href(object_name, _params(drop={"cursor"})) if number > 1 else None,
        "previous_href": previous,
        "next_href": _href(object_name, _params(cursor=nxt, page=str(number + 1)))
        if nxt else None,
    }


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
    views = ListViews(current_tenant())
    try:
        view = views.get(page.principal, object_name, request.form.get("view", ""))
        # A view the user may not delete is refused at once (by the service), not asked about.
        asked = None if not view["deletable"] else confirmations.ask(
            gettext("Delete the saved view %(name)s?", name=view["name"]),
            gettext("The records stay as they are; only the saved filters, sort and columns "
                    "of this view go, for everyone it is shared with.") if view["shared"] else
            gettext("The records stay as they are; only the saved filters, sort and columns "
                    "of this view go."),
            _href(object_name, _params(drop={"cursor"})), gettext("Yes, delete the view"))
        if asked is not None:
            return asked, 200
        views.delete(page.principal, object_name, view["id"])
    except CRMError as exc:
        return render_list(page, problem=exc, status=exc.status)
    flash(gettext("View deleted."), "ok")
    return redirect(_href(object_name, _params(drop={"cursor"})), 303)


@bp.post("/records/<object_name>/_columns")
def list_columns_save(object_name: str) -> Response | tuple[str, int]:
    """Keep the columns ticked on the column form for this user and object (the reset
    button goes back to the layout's), then show the list at the form's address."""
    page = page_for(object_name)
    chosen = [] if request.form.get("reset") else request.form.getlist("column")
    if not chosen and not request.form.get("reset"):
        return render_list(page, problem=ValidationFailed(gettext("Choose at least one column.")),
                           status=422)
    try:
        ListViews(current_tenant()).set_columns(page.principal, object_name, chosen)
    except CRMError as exc:
        return render_list(page, problem=exc, status=exc.status)
    flash(gettext("Columns saved."), "ok")
    return redirect(_href(object_name, _params(drop={"cursor", "fields"})), 303)
