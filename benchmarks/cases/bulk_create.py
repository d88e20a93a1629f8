"""bulk_create: records per second through ``RecordService.create_many`` (the import path)
against a raw executemany of the same rows into an identical plain table.

Both sides write batches of the same size, one transaction per batch, into the same
database, alternating batch by batch (and which side goes first), so file growth, WAL
checkpoints and noisy neighbours hit both alike. The service side pays for conversion and
validation, defaults, unique checks, history rows and RETURNING of the new ids; the JSON
details say how many history rows each record cost.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from crmforge.runtime import Tenant
from crmforge.runtime.systables import history
from crmforge.security import SYSTEM

from ..baseline import baseline_engine, plain_table
from ..data import as_request, system_values, typed_rows
from ..report import BenchResult
from ..timing import Stats, timed
from .common import Context, create_object, service, value_figure

NAME = "bulk_create"
OBJECT = "deal_bulk"
WARMUP_ROWS = 100


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    tenant = ctx.scratch().tenant
    create_object(tenant, OBJECT)
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
        live = tenant.schema(snap).table(OBJECT)
    object_id = snap.object(OBJECT).id  # type: ignore[union-attr]
    twin = plain_table(live, name="plain_" + OBJECT)
    engine = baseline_engine(tenant)
    try:
        twin.metadata.create_all(engine)
        ours, theirs = _run_batches(tenant, engine, twin, sizes.bulk_records, sizes.bulk_batch)
        created, history_rows = _counts(engine, live, object_id)
        history_bytes, record_bytes = _bytes(engine, live, object_id)
    finally:
        engine.dispose()
    total = sizes.bulk_records
    o, t = Stats.of(ours), Stats.of(theirs)
    result.figures.append(value_figure(
        "bulk_create.rate", "records/s", total / sum(ours), total / sum(theirs), "higher",
        {"batch_ms": {"crmforge": o.scaled(1e3), "baseline": t.scaled(1e3)}}))
    result.figures.append(value_figure(
        "bulk_create.history bytes per record", "bytes", history_bytes / created,
        record_bytes / created, "lower"))
    seconds = {"crmforge": round(sum(ours), 2), "baseline": round(sum(theirs), 2)}
    result.details.update(records_per_side=total, batch=sizes.bulk_batch, seconds=seconds,
                          history_rows_per_record=round(history_rows / created, 2))


def _run_batches(tenant: Tenant, engine: sa.Engine, twin: sa.Table, total: int,
                 batch: int) -> tuple[list[float], list[float]]:
    """Seconds per batch for each side; one untimed warm-up batch each first."""
    svc = service(tenant)
    rng = random.Random(21)
    ours: list[float] = []
    theirs: list[float] = []

    def pair(typed: list[dict[str, Any]]) -> list[tuple[list[float], Callable[[], object]]]:
        requests = [as_request(r) for r in typed]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [{**r, **system_values(None, now)} for r in typed]
        return [(ours, lambda: svc.create_many(SYSTEM, OBJECT, requests)),
                (theirs, lambda: _insert(engine, twin, rows))]

    for _, fn in pair(typed_rows(rng, WARMUP_ROWS)):
        fn()
    for i, start in enumerate(range(0, total, batch)):
        steps = pair(typed_rows(rng, min(batch, total - start)))
        for samples, fn in (reversed(steps) if i % 2 else steps):
            samples.append(timed(fn)[1])
    return ours, theirs


def _insert(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


def _text_bytes(table: sa.Table) -> Any:
    """The characters of every column of a row as text: a database-neutral size."""
    return sa.func.sum(sum((sa.func.coalesce(sa.func.length(sa.cast(c, sa.Text)), 0)
                            for c in table.c), sa.literal(0)))


def _bytes(engine: sa.Engine, table: sa.Table, object_id: str) -> tuple[int, int]:
    """History written for the created records against the records themselves: the
    baseline is the data, so the ratio is how much faster history grows than the data."""
    with engine.connect() as conn:
        written = conn.execute(sa.select(_text_bytes(history))
                               .where(history.c.object_id == object_id)).scalar_one()
        data = conn.execute(sa.select(_text_bytes(table))).scalar_one()
    return int(written or 0), int(data or 0)


def _counts(engine: sa.Engine, table: sa.Table, object_id: str) -> tuple[int, int]:
    with engine.connect() as conn:
        created = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        rows = conn.execute(sa.select(sa.func.count()).select_from(history)
                            .where(history.c.object_id == object_id)).scalar_one()
    return int(created), int(rows)
