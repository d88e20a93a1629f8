"""The board view of a list: ``/records/<object>?view=kanban&by=<picklist>``.

One column per choice of the picklist (and one for records without a value), each with
the first cards of the list's current filters and search in that column, and its count.
A card shows the record's title and two more of the user's list columns. Moving a card is an
ordinary record update through the record service (the card's version as ``If-Match``,
status rules, permissions, validation): dragged (``list.js`` with SortableJS) it is sent
in the background and a refusal puts the card back with the reason; without JavaScript
each card carries a small form that moves it.

It costs one list read per column (a board is as wide as its choices, not as long as its
records), each bounded by ``CARDS`` and an estimated count.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import BadRequest, CRMError
from ...core.filters import parse_list_query
from ...metadata.model import FieldDef
from ...runtime import ListViews
from ..context import current_tenant
from . import bp
from .display import Page, list_columns, list_sort, page_for, shown, titles
from .list_filters import column_label
from .server_messages import translated

#: Cards read per column.
CARDS = 25
#: Parameters of the board itself (the rest are the list's filters, sort and search).
BOARD_PARAMS = frozenset({"lang", "view", "by", "app", "cursor", "page", "back", "ff", "fo",
                          "fv", "fv2", "pick", "fields", "limit", "total"})


def board_fields(page: Page) -> list[tuple[str, str]]:
    """The picklists a board can be laid out by: stored picklists the reader may read."""
    return [(f.name, f.label(page.lang)) for f in page.obj.fields
            if f.type == "picklist" and f.name in page.readable]


def _board_field(page: Page, name: str) -> FieldDef | None:
    f = page.obj.field(name) if name else None
    if f is None or f.type != "picklist" or f.name not in page.readable:
        return None
    return f


def board_href(object_name: str, by: str, query: list[tuple[str, str]]) -> str:
    pairs = [*query, ("view", "kanban"), ("by", by)]
    return url_for("pages.record_list", object_name=object_name) + "?" + urlencode(pairs)


def list_query(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The list's filters, sort and search among an address's parameters."""
    return [(k, v) for k, v in pairs if k not in BOARD_PARAMS]


def render_board(page: Page, address: list[tuple[str, str]], *, problem: str | None = None,
                 status: int = 200) -> tuple[str, int]:
    """The board of an address's parameters (``problem``: a refused move, shown above)."""
    f = _board_field(page, next((v for k, v in address if k == "by"), "").strip())
    boards = board_fields(page)
    query = list_query(address)
    list_address = url_for("pages.record_list", object_name=page.obj.name) + (
        "?" + urlencode(query) if query else "")
    if f is None:
        return render_template(
            "kanban.html", page=page, field=None, boards=boards, columns=[],
            query=query, list_address=list_address, problem=problem,
            board_problem=gettext("Choose a picklist field to lay the board out by."),
            movable=False), 400
    title = page.obj.title_field
    # The two fields after the title: the user's list columns (else the layout's).
    chosen = ListViews(current_tenant()).columns(page.principal, page.obj.name)
    extra = [c for c in chosen or list_columns(page) if c not in (title, f.name, "id")][:2]
    wanted = list(dict.fromkeys([*([title] if title in page.readable else []), f.name, *extra]))
    sort = [("sort", list_sort(page))] if list_sort(page) and not any(
        k == "sort" for k, _ in query) else []
    movable = page.may("update") and f.name in page.writable
    columns = []
    error: CRMError | None = None
    cards: list[dict[str, Any]] = []
    choices = [(v, f.choice_label(v, page.lang)) for v in f.choice_values]
    for value, label in [*choices, ("", gettext("No value"))]:
        condition = (f.name, value) if value else (f"{f.name}__isnull", "true")
        params = [*[(k, v) for k, v in query if k != "q" or _searchable(page)], *sort,
                  condition, ("fields", ",".join(wanted)), ("limit", str(CARDS)),
                  ("total", "estimate")]
        result: dict[str, Any] = {"items": [], "total": 0}
        if error is None:
            try:
                result = page.service().list(page.principal, page.obj.name,
                                             parse_list_query(params))
            except CRMError as exc:
                error = exc
                status = exc.status
        if not value and not result["items"]:
            continue  # no column for records without a value when there are none
        column_cards = []
        for r in result["items"]:
            card = {"id": r["id"], "version": r["version"],
                    "title": str(r.get(title) or "") or f"#{r['id']}", "record": r}
            column_cards.append(card)
            cards.append(card)
        columns.append({
            "value": value, "label": label, "cards": column_cards,
            "total": result.get("total", len(column_cards)),
            "estimate": bool(result.get("total_is_estimate")),
            "href": url_for("pages.record_list", object_name=page.obj.name) + "?" + urlencode(
                [(k, v) for k, v in query] + [condition])})
    found = titles(page, [c["record"] for c in cards], extra)
    for card in cards:
        card["fields"] = [{"label": column_label(page, n), **shown(page, n, card["record"], found)}
                          for n in extra]
    here = board_href(page.obj.name, f.name, query)
    return render_template(
        "kanban.html", page=page, field=f, boards=boards, columns=columns, query=query,
        list_address=list_address, problem=problem, error=error, board_problem=None,
        movable=movable, here=here,
        choices=[(v, lbl) for v, lbl in choices]), status


def _searchable(page: Page) -> bool:
    return any(f.searchable and f.stored and f.name in page.readable for f in page.obj.fields)


def refusal(page: Page, exc: CRMError) -> str:
    """A refused move in the page's language: the service's message, or the messages of
    the fields a validation named (a rule may object to another field than the moved one)."""
    if exc.fields:
        parts = []
        for name, messages in exc.fields.items():
            text = "; ".join(translated(m) for m in messages)
            parts.append(f"{page.label(name)}: {text}" if page.obj.field(name) else text)
        return " ".join(parts)
    return translated(exc.message)


@bp.post("/records/<object_name>/<int:record_id>/_move")
def board_move(object_name: str, record_id: int) -> Response | tuple[str, int] | tuple[
        Response, int]:
    """Move a card: set the board's picklist on one record through the record service,
    with the version the card was drawn with. Answers JSON to the board's script
    (``Accept: application/json``): ``{"moved": true, "version"}``, or ``{"moved": false,
    "status", "error": {"message"}}`` with status 200, since a refused move is an answer
    the board shows (the browser would log an error status as a failed request).
    Without JavaScript it goes back to the board, or shows it again with the reason."""
    page = page_for(object_name)
    wants_json = request.accept_mimetypes.best == "application/json"
    name = request.form.get("field", "")
    value = request.form.get("value", "")
    raw_version = request.form.get("version", "")
    back = request.form.get("back", "")
    if not back.startswith("/records/"):  # only ever back to a page of this site
        back = url_for("pages.record_list", object_name=object_name)
    try:
        f = page.obj.field(name)
        if f is None or f.type != "picklist" or name not in page.readable:
            raise BadRequest(gettext("Choose a picklist field to lay the board out by."))
        if not raw_version.isdigit():
            raise BadRequest(gettext("The card is out of date; reload the board."))
        record = page.service().update(page.principal, object_name, record_id,
                                       {name: value or None}, int(raw_version), page.lang)
    except CRMError as exc:
        message = refusal(page, exc)
        status = exc.status if exc.status >= 400 else 400
        if wants_json:  # a refusal is the board's answer, not a failed request
            return jsonify({"moved": False, "status": status,
                            "error": {"message": message}}), 200
        return render_board(page, parse_qsl(urlsplit(back).query), problem=message,
                            status=status)
    if wants_json:
        return jsonify({"moved": True, "id": record["id"], "version": record["version"]}), 200
    flash(gettext("Card moved."), "ok")
    return redirect(back, 303)


__all__ = ["board_fields", "board_href", "list_query", "render_board"]
