"""Backfill: existing rows get the values of a stored formula or roll-up that was added or
whose definition changed (decision 0007).

The metadata change itself only adds or keeps the column; recomputing every row inside
that transaction would hold the object's write lock for as long as the table is large.
Instead the rows are recomputed afterwards in batches, each in its own short write
transaction, so reads and writes of the object go on between batches; a row keeps its
old value until its batch reaches it (or until it is written, which recomputes it).
Values are computed as the system sees the data and written without a version bump. A
run leaves one history entry for the whole run (action ``backfill``, record 0 of the
object: which fields, how many rows changed), not one per row: a backfill over a million
rows would otherwise write a million history rows.

After a change commits, the Designer submits a durable job (``job_kinds.submit``, kind
``backfill``, handled by ``handle``): it resumes from its checkpoint after a crash and
pauses between batches so interactive writers are not starved. ``run`` is also the
synchronous entry point (tests, the command line).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..security.engine import engine as default_engine
from ..security.principal import SYSTEM
from . import jobs as jobs_module
from . import propagation, writes
from .context import Ctx, open_ctx
from .instance import Tenant
from .jobs import JobContext

BATCH = 500
#: Definition options whose change makes stored values stale.
FORMULA_KEYS = ("expression", "result_type", "scale", "stored")
ROLLUP_KEYS = ("function", "child", "field", "filter", "scale", "result_type")
_WAIT_FOR_VERSION = 60.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Recompute ``fields`` (stored formulas, or roll-ups) of every row of ``object``."""

    object: str
    kind: str  # "formula" or "rollup"
    fields: tuple[str, ...]


@dataclass
class Progress:
    rows: int = 0
    changed: int = 0
    batches: int = 0
    jobs: list[Job] = field(default_factory=list)


def plan(old: Snapshot, new: Snapshot) -> list[Job]:
    """The backfills a change from ``old`` to ``new`` needs."""
    jobs = []
    for obj in new.objects.values():
        before = old.objects.get(obj.name) or next(
            (o for o in old.objects.values() if o.id == obj.id), None)
        formulas = [f.name for f in obj.fields if f.type == "formula" and f.stored
                    and _changed(before, f, FORMULA_KEYS)]
        if formulas:
            jobs.append(Job(obj.name, "formula", tuple(formulas)))
        found = [f.name for f in obj.fields if f.type == "rollup"
                 and _changed(before, f, ROLLUP_KEYS)]
        if found:
            jobs.append(Job(obj.name, "rollup", tuple(found)))
    return jobs


def _changed(before: ObjectDef | None, f: FieldDef, keys: Iterable[str]) -> bool:
    if before is None:
        return False  # a new object has no rows
    old = next((g for g in before.fields if g.id == f.id), None)
    if old is None or old.type != f.type:
        return True
    return any(old.options.get(k) != f.options.get(k) for k in keys)


def run(tenant: Tenant, jobs: Iterable[Job], *, batch: int = BATCH, pause: float = 0.0,
        progress: Progress | None = None, start: tuple[int, int] = (0, 0),
        on_batch: Callable[[Progress, int, int], None] | None = None) -> Progress:
    """Recompute the rows of ``jobs`` in batches of ``batch`` rows, one short write
    transaction each (``pause`` seconds apart, so waiting writers get the lock). Safe to
    repeat: it only writes values that differ.

    ``start`` is where to resume (the index of the job, and the last row id done);
    ``on_batch(progress, index, after)`` is called after each batch (a durable job records
    its checkpoint there)."""
    progress = progress or Progress()
    for index, job in enumerate(jobs):
        progress.jobs.append(job)
        if index < start[0]:
            continue
        after = start[1] if index == start[0] else 0
        changed = 0
        while True:
            with tenant.write() as conn:
                ctx = _ctx(tenant, conn, job.object)
                if ctx is None:
                    break
                ids = _batch(ctx, after, batch)
                if not ids:
                    break
                changed += _recompute(ctx, job, ids)
            progress.rows += len(ids)
            progress.batches += 1
            after = ids[-1]
            if on_batch is not None:
                on_batch(progress, index, after)
            if len(ids) < batch:
                break
            if pause:
                time.sleep(pause)
        progress.changed += changed
        if changed:
            _record_run(tenant, job, changed)
    return progress


def batch_pause() -> float:
    """Seconds between two batches of a background backfill (``CRMFORGE_BACKFILL_PAUSE``,
    default 0.02): SQLite grants its write lock in no order, so without a pause a long
    backfill would starve interactive writers."""
    raw = os.environ.get("CRMFORGE_BACKFILL_PAUSE", "")
    try:
        return max(0.0, float(raw)) if raw else 0.02
    except ValueError:
        return 0.02


def batch_size() -> int:
    raw = os.environ.get("CRMFORGE_BACKFILL_BATCH", "")
    return max(1, int(raw)) if raw.isdigit() else BATCH


def payload(jobs: Iterable[Job], version: int) -> dict[str, Any]:
    """A durable job's payload for these backfills (``handle`` reads it)."""
    return {"version": version,
            "jobs": [{"object": j.object, "kind": j.kind, "fields": list(j.fields)} for j in jobs]}


def handle(ctx: JobContext) -> None:
    """Run a backfill as a durable job: wait until the metadata version that asked for it
    is visible, then resume from the checkpoint and record one after each batch."""
    data = ctx.job.payload
    todo = [Job(str(j["object"]), str(j["kind"]), tuple(j["fields"])) for j in data["jobs"]]
    deadline = time.monotonic() + _WAIT_FOR_VERSION
    while True:
        with ctx.tenant.read() as conn:
            snapshot = ctx.tenant.snapshot(conn)
        if snapshot.version >= int(data["version"]):
            break
        if time.monotonic() > deadline:
            return  # the change never committed: nothing to fill
        time.sleep(0.05)
    mark = ctx.job.checkpoint or {}
    done_before = int(mark.get("rows", 0))
    total = ctx.job.total if ctx.job.total is not None else _count(ctx.tenant, todo)

    def checkpoint(progress: Progress, index: int, after: int) -> None:
        ctx.report(done_before + progress.rows,
                   {"index": index, "after": after, "rows": done_before + progress.rows},
                   total)

    ctx.report(done_before, {"index": int(mark.get("index", 0)),
                             "after": int(mark.get("after", 0)), "rows": done_before}, total)
    run(ctx.tenant, todo, batch=batch_size(), pause=batch_pause(),
        start=(int(mark.get("index", 0)), int(mark.get("after", 0))), on_batch=checkpoint)


def _count(tenant: Tenant, todo: list[Job]) -> int:
    total = 0
    with tenant.read() as conn:
        snapshot = tenant.snapshot(conn)
        for job in todo:
            if snapshot.object(job.object) is None:
                continue
            t = tenant.schema(snapshot).table(job.object)
            total += int(conn.execute(sa.select(sa.func.count()).select_from(t)
                                      .where(t.c.deleted_at.is_(None))).scalar_one())
    return total


def _record_run(tenant: Tenant, job: Job, changed: int) -> None:
    """The run's one history entry: on record 0 of the object, naming the fields and how
    many rows changed (the per-row values are the formula's, recomputable any time)."""
    with tenant.write() as conn:
        ctx = _ctx(tenant, conn, job.object)
        if ctx is None:
            return
        entry = writes.history_entry(ctx, ctx.obj, 0, 0, "backfill")
        entry.update(field=",".join(job.fields)[:40], new_value=json.dumps(
            {"kind": job.kind, "fields": list(job.fields), "changed": changed}))
        writes.record_history(replace(ctx, record_history=True), [entry])


def everything(snapshot: Snapshot, object_name: str | None = None) -> list[Job]:
    """Jobs recomputing every stored formula and roll-up (of one object, or all)."""
    jobs = []
    for obj in snapshot.objects.values():
        if object_name is not None and obj.name != object_name:
            continue
        formulas = tuple(f.name for f in obj.fields if f.type == "formula" and f.stored)
        found = tuple(f.name for f in obj.fields if f.type == "rollup")
        jobs += [Job(obj.name, "rollup", found)] if found else []
        jobs += [Job(obj.name, "formula", formulas)] if formulas else []
    return jobs


def _ctx(tenant: Tenant, conn: sa.Connection, object_name: str) -> Ctx | None:
    snap = tenant.snapshot(conn)
    if snap.object(object_name) is None:
        return None  # removed meanwhile: nothing left to fill
    # Per-row history is off for the run's writes (and the roll-ups and formulas they
    # move): the run records one entry of its own.
    return replace(open_ctx(tenant, default_engine, conn, SYSTEM, object_name),
                   record_history=False)


def _batch(ctx: Ctx, after: int, size: int) -> list[int]:
    t = ctx.table
    return [int(r[0]) for r in ctx.conn.execute(
        sa.select(t.c.id).where(t.c.id > after, t.c.deleted_at.is_(None))
        .order_by(t.c.id).limit(size))]


def _recompute(ctx: Ctx, job: Job, ids: list[int]) -> int:
    if job.kind == "formula":
        return propagation.recompute_holders(ctx, ctx.obj, ctx.table.c.id.in_(ids))
    wanted = set(job.fields)
    every = [r for over in propagation.graph(ctx.snapshot).rollups.values() for r in over
             if r.parent.name == ctx.obj.name and r.field.name in wanted]
    if not every:
        return 0
    return propagation.recompute_parents(ctx, ctx.obj, every, ids)


# -- in the background, after a metadata change ---------------------------------------------
def running() -> int:
    """Jobs running in threads of this process (no queue configured)."""
    return jobs_module.running_locally()


def wait(timeout: float = 60.0) -> bool:
    """Wait for the backfills running in this process (tests, shutdown); False if some
    still run."""
    return jobs_module.wait_local(timeout)
