"""create_one: create one record over HTTP, with its history row, against a hand-written
insert endpoint that writes the same row and one history row.

CRMForge: ``POST /api/v1/records/<obj>`` through the Flask test client as the signed-in
administrator (token, permission checks, validation, defaults, the write sequence, the
record's compact history entry, the answer as JSON). Baseline: a minimal Flask route that
parses the same JSON body, converts the decimal and the date, inserts the row with its
system columns into a twin table and one history row (the body as JSON) into a twin of
``sys_history`` in one transaction, and answers the row as JSON. Target (performance
issue): at least 0.5x the baseline's rate, i.e. a cost of at most 2x.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from crmforge.runtime.systables import history
from crmforge.web.app import create_app

from ..baseline import baseline_engine, plain_table
from ..data import as_request, typed_rows
from ..report import BenchResult, Figure
from ..timing import compare
from .common import Context, create_object, sign_in, time_figure

NAME = "create_one"
OBJECT = "deal_create"


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    ws = ctx.scratch()
    tenant = ws.tenant
    create_object(tenant, OBJECT)
    with tenant.read() as conn:
        ours = tenant.schema(tenant.snapshot(conn)).table(OBJECT)
    table = plain_table(ours, "base_create")
    log = plain_table(history, "base_history")
    engine = baseline_engine(tenant)
    with engine.begin() as conn:
        table.metadata.create_all(conn)
        log.metadata.create_all(conn)
    http = sign_in(create_app(ws.instance))
    mini = _minimal_create_app(engine, table, log).test_client()
    count = sizes.get_requests
    bodies = [as_request(r) for r in typed_rows(random.Random(5), count + sizes.warmup)]
    mine, theirs = iter(bodies), iter(bodies)

    def measured() -> None:
        r = http.client.post(f"/api/v1/records/{OBJECT}", json=next(mine), headers=http.headers)
        if r.status_code != 201:
            raise RuntimeError(f"create answered {r.status_code}: {r.get_data(as_text=True)[:300]}")

    def baseline() -> None:
        r = mini.post("/create", json=next(theirs))
        if r.status_code != 201:
            raise RuntimeError(f"baseline create answered {r.status_code}")

    try:
        cmp = compare(measured, baseline, iterations=count, warmup=sizes.warmup)
        figure: Figure = time_figure("create_one.http (mean)", cmp)
        result.figures.append(figure)
        with tenant.read() as conn:
            entries = conn.execute(sa.select(sa.func.count()).select_from(history).where(
                history.c.object_id == tenant.snapshot(conn).object(OBJECT).id)).scalar_one()
        with engine.connect() as conn:
            base_entries = conn.execute(sa.select(sa.func.count()).select_from(log)).scalar_one()
        result.details.update(requests_per_side=count, history_rows=entries,
                              baseline_history_rows=base_entries, target_cost=2.0)
        if entries != base_entries:
            raise RuntimeError(f"create_one: {entries} history rows against the baseline's "
                               f"{base_entries}: the sides no longer write the same")
    finally:
        with engine.begin() as conn:
            log.metadata.drop_all(conn)
            table.metadata.drop_all(conn)
        engine.dispose()


def _minimal_create_app(engine: sa.Engine, table: sa.Table, log: sa.Table) -> Flask:
    """One route: the row and its history entry in one transaction, the row as JSON."""
    app = Flask("crmforge_benchmark_create")

    @app.post("/create")
    def create() -> ResponseReturnValue:
        body: dict[str, Any] = request.get_json()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        values = {**body, "amount": Decimal(body["amount"]),
                  "close_date": dt.date.fromisoformat(body["close_date"]),
                  "owner_id": 1, "created_at": now, "created_by": 1, "updated_at": now,
                  "updated_by": 1, "version": 1}
        with engine.begin() as conn:
            rid = conn.execute(table.insert().values(**values)).inserted_primary_key[0]
            conn.execute(log.insert().values(
                object_id="deal", record_id=rid, action="create", field="*",
                new_value=json.dumps(body), record_version=1, actor_id=1, actor="admin",
                at=now))
        row = {**values, "id": rid}
        return jsonify(row), 201

    return app
