"""The hand-written baselines: what a developer would write without CRMForge.

A minimal Flask app and plain SQLAlchemy Core statements against the same database file
(or PostgreSQL schema) and the same table as CRMForge uses. They skip tokens, metadata,
permissions and conversions: the distance between them and CRMForge is the price of the
platform, which is what these benchmarks track.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from crmforge.runtime import Tenant


def baseline_engine(tenant: Tenant) -> sa.Engine:
    """A plain engine on the tenant's database: no CRMForge pragmas or listeners.

    On PostgreSQL the tenant lives in its own schema, so the engine gets that schema as its
    ``search_path`` (asked from the database, not from CRMForge internals).
    """
    url = tenant.engine.url
    if url.get_backend_name() != "postgresql":
        return sa.create_engine(url)
    with tenant.read() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    return sa.create_engine(url, connect_args={"options": f"-c search_path={schema}"})


def plain_table(table: sa.Table, name: str | None = None) -> sa.Table:
    """An independent copy of ``table``'s definition (optionally renamed, for a twin table).

    Index names are global per SQLite database, so a renamed copy prefixes them too.
    """
    copy = table.to_metadata(sa.MetaData(), name=name)
    if name:
        for index in copy.indexes:
            index.name = sa.quoted_name(f"{name}_{index.name}", None)
    return copy


def list_statement(table: sa.Table, status: str, amount_min: Decimal, sort: str, limit: int,
                   after: Sequence[Any] | None = None) -> sa.Select[Any]:
    """The list query as written by hand: filter, sort with the id as tie-breaker, keyset.

    ``after`` is the (sort value, id) of the previous page's last row.
    """
    c = table.c
    stmt = sa.select(table).where(c.deleted_at.is_(None), c.status == status,
                                  c.amount >= amount_min)
    if after is not None:
        value, rid = after
        # A row-value comparison, as a careful hand writes keyset pagination: both
        # databases start the index walk there (the rows have no NULL titles).
        stmt = stmt.where(sa.tuple_(c[sort], c.id) > sa.tuple_(value, rid))
    return stmt.order_by(c[sort], c.id).limit(limit)


def minimal_app(engine: sa.Engine, table: sa.Table, sort: str) -> Flask:
    """Two routes: one row by id, one filtered page; rows straight into ``jsonify``."""
    app = Flask("crmforge_benchmark_baseline")

    @app.get("/one/<int:rid>")
    def one(rid: int) -> ResponseReturnValue:
        with engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == rid)).first()
        if row is None:
            abort(404)
        return jsonify(dict(row._mapping))

    @app.get("/list")
    def page() -> ResponseReturnValue:
        args = request.args
        limit = int(args.get("limit", 50))
        # One row more than shown tells whether a next page exists (keyset pagination).
        stmt = list_statement(table, args["status"], Decimal(args["amount_min"]), sort,
                              limit + 1)
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return jsonify({"items": [dict(r._mapping) for r in rows[:limit]],
                        "more": len(rows) > limit})

    return app
