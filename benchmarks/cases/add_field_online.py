"""add_field_online: add fields to the big object while another thread keeps reading.

DESIGN §3 promises instant adds; this checks it under load. A reader thread calls
``RecordService.get`` on random ids in a loop; after a reader-only window the main thread
adds ``ddl_changes`` fields through ``Designer.add_field`` (each a new metadata version),
then as many raw ``ALTER TABLE ... ADD COLUMN`` statements (the DDL baseline). Reads are
sorted into windows by their start and end times:

- before: finished before the first change (the latency baseline);
- during: overlapping a designer change;
- after: starting within the pause after a change (the first read of a new version
  parses the new snapshot and compiles new tables, a cost the change causes);
- during_raw: overlapping a raw ALTER.

Reader and designer share one process and its GIL, as they would in one server worker.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa

from crmforge.runtime import Designer, Tenant
from crmforge.security import SYSTEM

from ..baseline import baseline_engine
from ..report import BenchResult
from ..timing import Stats
from ..workspace import DATASET_OBJECT, Workspace
from .common import Context, service, value_figure

NAME = "add_field_online"

Interval = tuple[float, float]


@dataclass(frozen=True)
class Read:
    start: float
    end: float
    error: str | None

    def overlaps(self, span: Interval) -> bool:
        return self.start < span[1] and self.end > span[0]

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Reader:
    """A thread reading random records until stopped; keeps every read's timing."""

    tenant: Tenant
    id_range: tuple[int, int]
    reads: list[Read] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bench-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        svc = service(self.tenant)
        rng = random.Random(5)
        low, high = self.id_range
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                svc.get(SYSTEM, DATASET_OBJECT, rng.randint(low, high))
                error = None
            except Exception as exc:  # every failure is counted and reported, not raised
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self.reads.append(Read(start, time.perf_counter(), error))


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    ws = ctx.dataset()
    tenant = ws.tenant
    engine = baseline_engine(tenant)
    token = secrets.token_hex(3)
    fields = [f"extra_{token}_{i}" for i in range(sizes.ddl_changes)]
    columns = [f"raw_{token}_{i}" for i in range(sizes.ddl_changes)]
    id_range = _id_range(engine)
    reader = Reader(tenant, id_range)
    designer_spans: list[Interval] = []  # one per field added so far (undo needs the count)
    raw_spans: list[Interval] = []
    try:
        reader.start()
        time.sleep(sizes.reader_window_s)
        for name in fields:
            designer_spans.append(_timed_span(partial(_add_field, tenant, name), sizes.ddl_gap_s))
        for column in columns:
            raw_spans.append(_timed_span(partial(_add_column, engine, column), sizes.ddl_gap_s))
        visible = _field_visible(tenant, fields[-1], id_range[0])
    finally:
        reader.stop()
        try:
            if ws.shared:
                _undo(tenant, engine, fields[:len(designer_spans)], columns[:len(raw_spans)])
        finally:
            engine.dispose()
    _report(result, reader.reads, designer_spans, raw_spans, sizes.ddl_gap_s, visible, ws)


def _timed_span(fn: Callable[[], object], pause: float) -> Interval:
    """Run one change; its (start, end), then a pause that belongs to the "after" window."""
    start = time.perf_counter()
    fn()
    end = time.perf_counter()
    time.sleep(pause)
    return start, end


def _add_field(tenant: Tenant, name: str) -> None:
    Designer(tenant).add_field(SYSTEM, DATASET_OBJECT, {
        "name": name, "type": "text", "max_length": 100, "label": {"en": name}})


def _add_column(engine: sa.Engine, column: str) -> None:
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {quote('obj_' + DATASET_OBJECT)} "
                             f"ADD COLUMN {quote(column)} VARCHAR(100)")


def _id_range(engine: sa.Engine) -> tuple[int, int]:
    t = sa.table("obj_" + DATASET_OBJECT, sa.column("id"))
    with engine.connect() as conn:
        low, high = conn.execute(sa.select(sa.func.min(t.c.id), sa.func.max(t.c.id))).one()
    return int(low), int(high)


def _field_visible(tenant: Tenant, name: str, record_id: int) -> bool:
    """The last added field shows up in a record read after the change (functional check)."""
    return name in service(tenant).get(SYSTEM, DATASET_OBJECT, record_id)


def _undo(tenant: Tenant, engine: sa.Engine, fields: list[str], columns: list[str]) -> None:
    """On a shared dataset (PostgreSQL) remove what this run added; instant there."""
    designer = Designer(tenant)
    for name in fields:
        designer.remove_field(SYSTEM, DATASET_OBJECT, name)
        designer.purge_field(SYSTEM, DATASET_OBJECT, name)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        for column in columns:
            conn.exec_driver_sql(f"ALTER TABLE {quote('obj_' + DATASET_OBJECT)} "
                                 f"DROP COLUMN {quote(column)}")


def _windows(reads: list[Read], designer: list[Interval], raw: list[Interval],
             gap: float) -> dict[str, list[Read]]:
    first = designer[0][0]
    after = [(end, end + gap) for _, end in designer]
    return {
        "before": [r for r in reads if r.end <= first],
        "during": [r for r in reads if any(r.overlaps(s) for s in designer)],
        "after": [r for r in reads if not any(r.overlaps(s) for s in designer)
                  and any(a <= r.start < b for a, b in after)],
        "during_raw": [r for r in reads if any(r.overlaps(s) for s in raw)],
    }


def _report(result: BenchResult, reads: list[Read], designer: list[Interval],
            raw: list[Interval], gap: float, visible: bool, ws: Workspace) -> None:
    windows = _windows(reads, designer, raw, gap)
    stats = {name: Stats.of([r.seconds for r in rs]) for name, rs in windows.items()}
    ddl = Stats.of([b - a for a, b in designer])
    ddl_raw = Stats.of([b - a for a, b in raw])
    before = stats["before"]
    failures = [r.error for r in reads if r.error]
    result.figures += [
        value_figure("add_field_online.ddl (median)", "ms", ddl.median * 1e3, ddl_raw.median * 1e3,
                     stats={"crmforge": ddl.scaled(1e3), "baseline": ddl_raw.scaled(1e3)}),
        value_figure("add_field_online.reader p99 during", "ms", stats["during"].p99 * 1e3,
                     before.p99 * 1e3),
        value_figure("add_field_online.reader max during", "ms", stats["during"].max * 1e3,
                     before.max * 1e3),
        value_figure("add_field_online.reader max after", "ms", stats["after"].max * 1e3,
                     before.max * 1e3),
        value_figure("add_field_online.failed reads", "reads", float(len(failures)), 0.0),
    ]
    result.details.update(
        dataset=ws.info, changes=len(designer), reads=len(reads),
        windows_ms={name: s.scaled(1e3) for name, s in stats.items()},
        failures_sample=failures[:5], new_field_visible=visible)
