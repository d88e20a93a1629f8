"""import_rows: rows per second through a whole import job (the CSV stored with its
import, read back, converted cell by cell, every row through the record service as the
importing user, the report of which rows landed) against a raw executemany of the same rows
into an identical plain table.

The rows are split into files of ``import_file_rows``; file by file, one side imports the
file and the other inserts the same rows (1,000 per executemany, in the transactions the
import's run has: one per file all or none, one per 1,000 rows with per-row commits),
alternating which side goes first, so file growth, WAL checkpoints and noisy neighbours hit
both alike. Two figures: the default all-or-none run, and per-row commits (one transaction
per 1,000-row chunk). Target: at least 0.3x the executemany rate.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from crmforge.runtime import Tenant, job_kinds, jobs
from crmforge.runtime.imports.service import ImportService, Options
from crmforge.security.accounts import principal_of

from ..baseline import baseline_engine, plain_table
from ..data import as_request, system_values, typed_rows
from ..report import BenchResult
from ..timing import Stats
from .common import Context, create_object, value_figure

NAME = "import_rows"
OBJECT = "deal_import"
CHUNK = 1000


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    names = list(rows[0])
    writer = csv.writer(out)
    writer.writerow(names)
    for r in rows:
        writer.writerow(["" if r[n] is None else ("true" if r[n] is True else "false"
                         if r[n] is False else r[n]) for n in names])
    return out.getvalue().encode()


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    tenant = ctx.scratch().tenant
    create_object(tenant, OBJECT)
    with tenant.read() as conn:
        live = tenant.schema(tenant.snapshot(conn)).table(OBJECT)
        admin = principal_of(conn, "admin")
    twin = plain_table(live, name="plain_" + OBJECT)
    engine = baseline_engine(tenant)
    tenant.dispatch = lambda t, j: None  # the jobs are run here, timed
    details: dict[str, Any] = {"rows_per_side": sizes.import_rows,
                               "file_rows": sizes.import_file_rows}
    try:
        twin.metadata.create_all(engine)
        for label, all_or_none in (("all or none", True), ("per-row commits", False)):
            ours, theirs = _run_files(tenant, engine, twin, admin, sizes.import_rows // 2,
                                      sizes.import_file_rows, all_or_none)
            total = sizes.import_rows // 2
            o, t = Stats.of(ours), Stats.of(theirs)
            result.figures.append(value_figure(
                f"import_rows.rate ({label})", "rows/s", total / sum(ours),
                total / sum(theirs), "higher",
                {"file_s": {"crmforge": o.scaled(1.0), "baseline": t.scaled(1.0)}}))
            details[label] = {"seconds": {"crmforge": round(sum(ours), 2),
                                          "baseline": round(sum(theirs), 2)}}
    finally:
        tenant.dispatch = None
        engine.dispose()
    result.details.update(details)


def _run_files(tenant: Tenant, engine: sa.Engine, twin: sa.Table, admin: Any, total: int,
               per_file: int, all_or_none: bool) -> tuple[list[float], list[float]]:
    service = ImportService(tenant)
    rng = random.Random(42 if all_or_none else 43)
    ours: list[float] = []
    theirs: list[float] = []

    def pair(typed: list[dict[str, Any]]) -> list[tuple[list[float], Callable[[], None]]]:
        content = _csv([as_request(r) for r in typed])
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [{**r, **system_values(admin.user_id, now)} for r in typed]

        def ours_() -> None:
            started = service.submit(admin, OBJECT, io.BytesIO(content), "deals.csv",
                                     len(content), Options(all_or_none=all_or_none), "en")
            job = jobs.run(tenant, int(started["id"]), job_kinds.HANDLERS)
            status = service.status(admin, int(started["id"]))
            if job is None or status["status"] != "done" or status["created"] != len(typed):
                raise RuntimeError(f"the import did not land: {status}")

        def theirs_() -> None:  # the same transactions as the import's run
            if all_or_none:
                with engine.begin() as conn:
                    for start in range(0, len(rows), CHUNK):
                        conn.execute(twin.insert(), rows[start:start + CHUNK])
                return
            for start in range(0, len(rows), CHUNK):
                with engine.begin() as conn:
                    conn.execute(twin.insert(), rows[start:start + CHUNK])

        return [(ours, ours_), (theirs, theirs_)]

    for _, fn in pair(typed_rows(rng, 200)):  # warm-up, untimed
        fn()
    for i, start in enumerate(range(0, total, per_file)):
        steps = pair(typed_rows(rng, min(per_file, total - start)))
        for samples, fn in (reversed(steps) if i % 2 else steps):
            began = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - began)
    return ours, theirs
