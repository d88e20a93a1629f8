"""Editing one cell of the list: ``/records/<object>/<id>/_cell?field=<name>``.

A cell of a field the user may edit carries a small edit link. Without JavaScript it
opens a page with a one-field form that saves and returns to the list; with htmx the
same form replaces the cell and, once saved, the cell shows the new value. The save is an
ordinary record update through the record service (the version the list was drawn with,
permissions, status rules, validation); a refusal is shown beside the input in the
page's language and nothing changes. The form is the record page's own widget for the
field (``runtime.forms``), so what a cell accepts is what the record page accepts.

htmx requests get a refusal with status 200 (as the inbox does): htmx swaps only
successful answers, and the browser would log an error status as a failed request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...core.errors import Conflict, CRMError, NotFound
from ...runtime import forms
from . import bp
from .display import Page, page_for, shown, titles
from .kanban import refusal

#: Field types a cell edits in place (lookups need their search, lists their many
#: choices, files their upload: those stay on the record page).
INLINE_TYPES = frozenset({"text", "email", "phone", "url", "integer", "decimal", "currency",
                          "percent", "date", "datetime", "boolean", "picklist"})


def inline_fields(page: Page, columns: list[str]) -> frozenset[str]:
    """The list's columns whose cells the user may edit in place (the first column is the
    record's link and stays one)."""
    if not page.may("update"):
        return frozenset()
    out = set()
    for name in columns[1:]:
        f = page.obj.field(name)
        if f is not None and f.type in INLINE_TYPES and name in page.writable \
                and forms.has_input(page.obj, name):
            out.add(name)
    return frozenset(out)


def cell_href(object_name: str, rid: int, field: str, version: int, back: str) -> str:
    return cell_hrefs(object_name, rid, [field], version, back)[field]


def cell_hrefs(object_name: str, rid: int, fields: Iterable[str], version: int, back: str
               ) -> dict[str, str]:
    """The edit link of each of a row's editable cells: the route is built and the row's
    version and way back encoded once per row (a list page has hundreds of cells)."""
    base = url_for("pages.list_cell", object_name=object_name, record_id=rid)
    tail = "&" + urlencode({"version": str(version), "back": back})
    return {f: f"{base}?{urlencode({'field': f})}{tail}" for f in fields}


def _back() -> str:
    back = request.values.get("back", "")
    return back if back.startswith("/records/") else ""


def _field(page: Page, name: str) -> str:
    if page.obj.field(name) is None or name not in inline_fields(page, ["", name]):
        raise NotFound(f"no field named '{name[:40]}'")
    return name


def _render(page: Page, record: dict[str, Any], name: str, *, form: Any = None,
            problem: str | None = None, status: int = 200) -> tuple[str, int]:
    cls = forms.form_class(page.obj, [name], page.lang)
    if form is None:
        form = cls(data=forms.form_data(page.obj, record))
    back = _back() or url_for("pages.record_list", object_name=page.obj.name)
    fragment = bool(request.headers.get("HX-Request"))
    template = "_cell.html" if fragment else "cell.html"
    return render_template(
        template, page=page, record=record, name=name, form=form, problem=problem,
        back=back, label=page.label(name),
        title=str(record.get(page.obj.title_field) or "") or f"#{record['id']}",
        action=url_for("pages.list_cell", object_name=page.obj.name,
                       record_id=record["id"]),
    ), (200 if fragment else status)


@bp.get("/records/<object_name>/<int:record_id>/_cell")
def list_cell(object_name: str, record_id: int) -> tuple[str, int]:
    """The one-field form of a cell (``show=1``: the cell's value again, for Cancel)."""
    page = page_for(object_name)
    name = _field(page, request.args.get("field", ""))
    record = page.service().get(page.principal, object_name, record_id)
    if request.args.get("show") and request.headers.get("HX-Request"):
        return _view(page, record, name)
    return _render(page, record, name)


def _view(page: Page, record: dict[str, Any], name: str) -> tuple[str, int]:
    found = titles(page, [record], [name])
    back = _back() or url_for("pages.record_list", object_name=page.obj.name)
    return render_template(
        "_cell_view.html", page=page, cell=shown(page, name, record, found), name=name,
        label=page.label(name), row={"id": record["id"], "title": str(
            record.get(page.obj.title_field) or "") or f"#{record['id']}"},
        edit=cell_href(page.obj.name, record["id"], name, record["version"], back)), 200


@bp.post("/records/<object_name>/<int:record_id>/_cell")
def list_cell_save(object_name: str, record_id: int) -> Response | tuple[str, int]:
    page = page_for(object_name)
    name = _field(page, request.form.get("field", ""))
    cls = forms.form_class(page.obj, [name], page.lang)
    form = cls(request.form)
    raw = request.form.get("version", "")
    try:
        if not raw.isdigit():
            raise Conflict("the record changed since version ? (now ?); reload and try again")
        record = page.service().update(page.principal, object_name, record_id,
                                       forms.payload(page.obj, form, [name]), int(raw),
                                       page.lang)
    except CRMError as exc:
        current = page.service().get(page.principal, object_name, record_id) \
            if not isinstance(exc, NotFound) else None
        if current is None:
            raise
        # A stale version shows the current value (and version) to start again from.
        return _render(page, current, name, form=None if isinstance(exc, Conflict) else form,
                       problem=refusal(page, exc),
                       status=exc.status if exc.status >= 400 else 400)
    if request.headers.get("HX-Request"):
        return _view(page, record, name)
    return redirect(_back() or url_for("pages.record_list", object_name=object_name), 303)
