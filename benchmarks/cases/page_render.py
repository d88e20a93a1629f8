"""page_render: the business pages people live in, rendered through the whole stack,
against a minimal Flask + Jinja page showing the same rows.

CRMForge: the signed-in administrator's browser session (cookie, CSRF-protected sign-in)
asking for the home page (``/``), an object's list page (``/records/<obj>``, 50 rows) and a
record page (``/records/<obj>/<id>``): session, permissions, layout, formatting, the
navigation, the page's language. Baseline: a minimal Flask app on the same database file
whose routes read the same rows with one Core select each and render them with a short
Jinja template (the home page: the ten newest records; the list: the first 50 in id order
as a table; the record: its fields as a definition list). Every render is checked to hold
what it should before timing. The figures are the workspace issue's "page render time":
they are kept in the closing notes so later reworks of the pages compare with them.
"""

from __future__ import annotations

import random
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, render_template_string
from flask.testing import FlaskClient
from flask.typing import ResponseReturnValue

from crmforge.security import SYSTEM
from crmforge.web.app import create_app

from ..baseline import baseline_engine, plain_table
from ..config import ADMIN_PASSWORD
from ..data import as_request, typed_rows
from ..report import BenchResult
from ..timing import compare
from .common import Context, create_object, cycle_ids, service, time_figure

NAME = "page_render"
OBJECT = "deal_pages"
RECORDS = 500

_LIST = """<!doctype html><html><head><title>Deals</title></head><body>
<nav>{% for n in nav %}<a href="/records/{{ n }}">{{ n }}</a> {% endfor %}</nav>
<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rows %}<tr>{% for c in columns %}<td>{{ r[c] }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table></body></html>"""
_RECORD = """<!doctype html><html><head><title>{{ row.title }}</title></head><body>
<h1>{{ row.title }}</h1><dl>{% for k, v in row.items() %}<dt>{{ k }}</dt><dd>{{ v }}</dd>
{% endfor %}</dl></body></html>"""


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    ws = ctx.scratch()
    tenant = ws.tenant
    create_object(tenant, OBJECT)
    rows = [as_request(r) for r in typed_rows(random.Random(17), RECORDS)]
    ids = service(tenant).create_many(SYSTEM, OBJECT, rows)
    with tenant.read() as conn:
        table = plain_table(tenant.schema(tenant.snapshot(conn)).table(OBJECT))
    engine = baseline_engine(tenant)
    ours = _signed_in(create_app(ws.instance))
    mini = _minimal_pages(engine, table).test_client()
    first = ids[0]
    checks = {"/": None, f"/records/{OBJECT}": rows[0]["title"],
              f"/records/{OBJECT}/{first}": rows[0]["title"]}
    for url, text in checks.items():
        body = _page(ours, url)
        if text is not None and text not in body:
            raise RuntimeError(f"page_render: {url} does not show {text!r}")
    try:
        for label, url, base in (("home", "/", "/home"),
                                 ("list", f"/records/{OBJECT}", "/list")):
            cmp = compare(lambda u=url: _page(ours, u), lambda b=base: _page(mini, b),
                          iterations=sizes.get_requests // 4, warmup=sizes.warmup)
            result.figures.append(time_figure(f"page_render.{label} (mean)", cmp))
        mine, theirs = cycle_ids(ids, 3), cycle_ids(ids, 3)
        cmp = compare(lambda: _page(ours, f"/records/{OBJECT}/{next(mine)}"),
                      lambda: _page(mini, f"/one/{next(theirs)}"),
                      iterations=sizes.get_requests // 4, warmup=sizes.warmup)
        result.figures.append(time_figure("page_render.record (mean)", cmp))
    finally:
        engine.dispose()
    result.details.update(records=len(ids), requests_per_side=sizes.get_requests // 4)


def _signed_in(app: Flask) -> FlaskClient:
    """A browser-like client signed in through the sign-in form (cookie and CSRF)."""
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if found is None:
        raise RuntimeError("page_render: the sign-in form has no CSRF token")
    r = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD,
                                    "csrf_token": found.group(1)})
    if r.status_code not in (302, 303):
        raise RuntimeError(f"page_render: sign-in answered {r.status_code}")
    return client


def _page(client: FlaskClient, url: str) -> str:
    r = client.get(url)
    if r.status_code != 200:
        raise RuntimeError(f"page_render: GET {url} answered {r.status_code}")
    return r.get_data(as_text=True)


def _minimal_pages(engine: sa.Engine, table: sa.Table) -> Flask:
    """The same rows as plain pages: one select and one short template each."""
    app = Flask("crmforge_benchmark_pages")
    columns = [c.name for c in table.c if c.name in (
        "id", "title", "status", "amount", "quantity", "close_date", "is_priority")]
    picked = [table.c[c] for c in columns]

    def render(template: str, **values: Any) -> str:
        return render_template_string(template, nav=[table.name], **values)

    @app.get("/home")
    def home() -> ResponseReturnValue:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(*picked).order_by(table.c.id.desc()).limit(10)).all()
        return render(_LIST, columns=columns, rows=[r._mapping for r in rows])

    @app.get("/list")
    def page() -> ResponseReturnValue:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(*picked).order_by(table.c.id).limit(50)).all()
        return render(_LIST, columns=columns, rows=[r._mapping for r in rows])

    @app.get("/one/<int:rid>")
    def one(rid: int) -> ResponseReturnValue:
        with engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == rid)).first()
        if row is None:
            abort(404)
        return render(_RECORD, row=dict(row._mapping))

    return app
