"""Dashboards: ``/`` lists the dashboards the user can see, ``/dashboards/<name>`` shows one
(charts from the metadata's dashboard documents) and ``/records/<object>/dashboard`` the
distribution of each picklist field of one object.

The numbers come from ``runtime.aggregates`` (grouped in SQL over the rows the user may
read) and, for progress bars, one page of records from the record service: a chart shows
what its viewer may see. A chart whose object or fields the user may not read is left
out. Chart data reaches the browser as JSON (``|tojson``) read by ``static/charts.js``,
which hands it to ECharts as text; a table under each chart carries the same numbers
without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template

from ...core.errors import CRMError, NotFound
from ...core.filters import ListQuery
from ...metadata.layouts import layout_for
from ...metadata.model import FieldDef, Snapshot
from ...metadata.packs import dashboards
from ...runtime import RecordService
from ...runtime.aggregates import distribution
from ...security import engine as permissions
from ...security.engine import Access
from ..context import current_principal, current_tenant
from . import bp
from .display import Page, chart_visible, choice_label, page_for, shown, titles, translated
from .formats import Formats, currency_text, current_formats, field_text, money_of, number_text
from .i18n import current_lang

PROGRESS_RECORDS = 20


def _context() -> tuple[Snapshot, Access]:
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    return snap, permissions.access(current_principal(), snap)


def visible_dashboards() -> list[dict[str, str]]:
    """The dashboards with at least one chart the user may see, by label."""
    snap, access = _context()
    lang = current_lang()
    out = [{"name": name, "label": translated(d.get("label"), lang, name)}
           for name, d in dashboards(snap).items()
           if any(chart_visible(access, snap, c) for c in d.get("charts", []))]
    return sorted(out, key=lambda d: d["label"].lower())


def _page(snap: Snapshot, access: Access, object_name: str) -> Page:
    obj = snap.object(object_name)
    assert obj is not None
    principal = current_principal()
    return Page(principal, snap, obj, access, layout_for(snap, obj, principal.roles),
                current_lang())


def _group_names(page: Page, field: str, values: list[Any]) -> list[str]:
    """Group values as the user reads them: choice labels, record titles, yes/no."""
    f = page.obj.field(field)
    if f is not None and f.type == "picklist":
        return [choice_label(f, v, page.lang) if v is not None else "—" for v in values]
    rows = [{field: v} for v in values]
    found = titles(page, rows, [field])
    return [shown(page, field, r, found)["text"] or "—" for r in rows]


def _grouped(page: Page, chart: Mapping[str, Any]) -> list[dict[str, Any]]:
    field, measure = str(chart["field"]), chart.get("measure")
    groups = distribution(current_tenant(), page.principal, page.obj.name, field,
                          str(measure) if measure else None)
    names = _group_names(page, field, [g["value"] for g in groups])
    fmt = current_formats()
    m = page.obj.field(str(measure)) if measure else None
    return [{"name": n, "value": g["total"] if measure else g["count"],
             "text": _total_text(page, m, g["total"], fmt) if measure
             else number_text(g["count"], fmt)}
            for n, g in zip(names, groups, strict=True)]


def _total_text(page: Page, f: FieldDef | None, total: Any, fmt: Formats) -> str:
    """A sum as its field reads (an amount with its currency, also for a roll-up of
    amounts), two decimal places."""
    code = money_of(page.snapshot, f) if f is not None else None
    if code is not None:
        return currency_text(total, fmt, currency=code or None)
    return number_text(total, fmt, scale=2)


def _progress(page: Page, chart: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One bar per record (the first page the user may read): a percent of 100, another
    number as a share of the largest."""
    field = str(chart["field"])
    title = page.obj.title_field
    fields = tuple(dict.fromkeys([field, *([title] if title in page.readable else [])]))
    items = RecordService(current_tenant()).list(
        page.principal, page.obj.name, ListQuery(fields=fields, limit=PROGRESS_RECORDS))["items"]
    rows: list[dict[str, Any]] = []
    for item in items:
        raw = item.get(field)
        try:
            value = float(raw) if raw is not None else 0.0
        except (TypeError, ValueError):
            value = 0.0
        rows.append({"name": str(item.get(title) or f"#{item['id']}"), "value": value,
                     "href": f"/records/{page.obj.name}/{item['id']}"})
    f = page.obj.field(field)
    values: list[float] = [r["value"] for r in rows]
    percent = f is not None and "percent" in (f.type, f.options.get("result_type"))
    top = 100.0 if percent else max([*values, 1.0])
    fmt = current_formats()
    for r, item in zip(rows, items, strict=True):
        r["max"] = top
        raw = item.get(field)
        r["text"] = (field_text(f, raw, fmt) if f is not None and raw not in (None, "")
                     else None) or number_text(r["value"], fmt)
    return rows


def _chart(page: Page, chart: Mapping[str, Any], index: int) -> dict[str, Any] | None:
    """A chart ready for the template, or None when it cannot be computed for this user."""
    try:
        rows = _progress(page, chart) if chart["type"] == "progress" else _grouped(page, chart)
    except CRMError:
        return None
    field = page.label(str(chart["field"]))
    measure = chart.get("measure")
    default = f"{page.obj.label(page.lang)} · {field}"
    return {"id": f"chart-{index}", "type": chart["type"],
            "title": translated(chart.get("label"), page.lang, default),
            "measure": page.label(str(measure)) if measure else None, "rows": rows}


@bp.get("/dashboards/<name>")
def dashboard(name: str) -> str:
    snap, access = _context()
    doc = dashboards(snap).get(name)
    shown_charts = [c for c in (doc or {}).get("charts", []) if chart_visible(access, snap, c)]
    if doc is None or not shown_charts:
        raise NotFound(f"no dashboard named '{name[:40]}'")
    charts = [c for i, chart in enumerate(shown_charts)
              if (c := _chart(_page(snap, access, str(chart["object"])), chart, i)) is not None]
    return render_template("dashboard.html", title=translated(doc.get("label"), current_lang(), name),
                           charts=charts, crumbs=None)


@bp.get("/records/<object_name>/dashboard")
def object_dashboard(object_name: str) -> str:
    page = page_for(object_name)
    if not page.may("read"):
        raise NotFound(f"no object named '{object_name[:40]}'")
    fields = [f for f in page.obj.fields
              if f.type == "picklist" and f.stored and f.name in page.readable]
    charts = [c for i, f in enumerate(fields)
              if (c := _chart(page, {"type": "bar", "field": f.name}, i)) is not None]
    return render_template("dashboard.html", title=page.obj.label(page.lang), charts=charts,
                           crumbs=page)
