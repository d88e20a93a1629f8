"""Durable background jobs: what must finish even if the process running it dies.

A job is a row of the tenant's ``sys_jobs`` table (kind, payload, status, progress,
checkpoint), so it survives restarts and reports ``processed`` of ``total``; the queue
only carries "run job N of tenant T" (``crmforge.tasks``: Huey, on SQLite or Redis). The
instance's control database keeps an index of the jobs not yet finished
(``sys_job_queue``), so a sweep finds stale work without opening idle tenants.

Running a job is claiming it (``queued`` -> ``running``, or a ``running`` job whose
heartbeat is older than ``stale_after()``, i.e. whose process died), then calling its
handler with a ``JobContext``: the handler resumes from ``checkpoint``, reports progress
with a new checkpoint after each chunk (one short transaction each, so interactive
writes get the lock between chunks), and stops when the job was cancelled. A claim is a
conditional update, so a job runs once even when two consumers receive it.

Without a queue (a library use, tests), ``submit`` runs the job in a thread of this
process: the job row still records it, and the next worker that sweeps resumes it if the
process dies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import NotFound
from ..core.ids import parse_id
from ..security.principal import Principal
from .lazy_tables import LazyTables
from .storage.dialects import WRITE_OPTION

if TYPE_CHECKING:
    from .instance import Tenant

log = logging.getLogger("crmforge.jobs")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})
#: Attempts before a failing job is marked failed for good.
MAX_ATTEMPTS = 3

jobs_metadata = sa.MetaData()
job_rows = sa.Table(
    "sys_jobs",
    jobs_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("checkpoint", sa.Text, nullable=True),
    sa.Column("processed", sa.BigInteger, nullable=False, default=0),
    sa.Column("total", sa.BigInteger, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(150), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=True),
    sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Index("ix_jobs_status", "status", "id"),
)
_tables = LazyTables(jobs_metadata)


def ensure_tables(tenant: Tenant) -> None:
    """Create the tenant's job table unless it exists (once per tenant and process)."""
    _tables.ensure(tenant)


def stale_after() -> float:
    """Seconds without a heartbeat after which a running job counts as abandoned
    (``CRMFORGE_JOB_STALE_S``, default 60)."""
    raw = os.environ.get("CRMFORGE_JOB_STALE_S", "")
    try:
        return max(1.0, float(raw)) if raw else 60.0
    except ValueError:
        return 60.0


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    status: str
    payload: Mapping[str, Any]
    checkpoint: Any
    processed: int
    total: int | None
    attempts: int
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status,
                "processed": self.processed, "total": self.total, "attempts": self.attempts,
                "error": self.error}


def _job(row: Any) -> Job:
    return Job(int(row.id), row.kind, row.status, json.loads(row.payload),
               json.loads(row.checkpoint) if row.checkpoint else None, int(row.processed or 0),
               None if row.total is None else int(row.total), int(row.attempts or 0), row.error)


class Cancelled(Exception):
    """The job was cancelled while it ran: the handler stops at its next report."""


class JobStore:
    """The job rows of one tenant."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        _tables.ensure(tenant)

    def create(self, kind: str, payload: Mapping[str, Any], *, total: int | None = None,
               by: str = "system") -> int:
        with self.tenant.write() as conn:
            return int(conn.execute(job_rows.insert().values(
                kind=kind, status=QUEUED, payload=json.dumps(payload), processed=0,
                total=total, attempts=0, created_by=by[:150], created_at=_now())
                .returning(job_rows.c.id)).scalar_one())

    def get(self, job_id: int) -> Job:
        with self.tenant.read() as conn:
            row = conn.execute(sa.select(job_rows).where(job_rows.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        return _job(row)

    def claim(self, job_id: int) -> Job | None:
        """Take the job to run it: queued, or running but abandoned. None when another
        consumer holds it or it is finished."""
        now = _now()
        abandoned = now - dt.timedelta(seconds=stale_after())
        with self.tenant.write() as conn:
            taken = conn.execute(job_rows.update().where(
                job_rows.c.id == job_id,
                sa.or_(job_rows.c.status == QUEUED,
                       sa.and_(job_rows.c.status == RUNNING,
                               job_rows.c.heartbeat_at < abandoned)))
                .values(status=RUNNING, attempts=job_rows.c.attempts + 1,
                        started_at=sa.func.coalesce(job_rows.c.started_at, now),
                        heartbeat_at=now)).rowcount
            if taken != 1:
                return None
            return _job(conn.execute(sa.select(job_rows).where(job_rows.c.id == job_id)).one())

    def report(self, job_id: int, processed: int, checkpoint: Any,
               total: int | None = None, *, detached: bool = False) -> None:
        """Progress and where to resume; raises Cancelled when the job was cancelled.
        ``detached``: in a transaction of its own even inside an open write."""
        values: dict[str, Any] = {"processed": processed, "heartbeat_at": _now(),
                                  "checkpoint": json.dumps(checkpoint)}
        if total is not None:
            values["total"] = total
        with self._detached() if detached else self.tenant.write() as conn:
            done = conn.execute(job_rows.update().where(
                job_rows.c.id == job_id, job_rows.c.status == RUNNING).values(**values)).rowcount
        if done != 1:
            raise Cancelled(f"job {job_id} was cancelled")

    @contextmanager
    def _detached(self) -> Iterator[sa.Connection]:
        """A write transaction of its own, whatever write is open in this context."""
        with self.tenant.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def finish(self, job_id: int, status: str, error: str | None = None) -> None:
        with self.tenant.write() as conn:
            conn.execute(job_rows.update().where(
                job_rows.c.id == job_id, job_rows.c.status.not_in(FINISHED))
                .values(status=status, error=error, finished_at=_now(), heartbeat_at=_now()))

    def release(self, job_id: int, error: str) -> None:
        """A failed attempt: queued again for a retry (the checkpoint is kept)."""
        with self.tenant.write() as conn:
            conn.execute(job_rows.update().where(
                job_rows.c.id == job_id, job_rows.c.status == RUNNING)
                .values(status=QUEUED, error=error))

    def cancel(self, job_id: int) -> Job:
        with self.tenant.write() as conn:
            conn.execute(job_rows.update().where(
                job_rows.c.id == job_id, job_rows.c.status.not_in(FINISHED))
                .values(status=CANCELLED, finished_at=_now()))
        return self.get(job_id)

    def read(self, principal: Principal, job_id: int) -> Job:
        """A job as its reader may see it: administrators see every job, others the
        jobs they started; any other answers 404, like a job that does not exist."""
        job = self.get(job_id)
        if not (principal.is_admin or principal.is_system) and \
                self._creator(job_id) != principal.label:
            raise NotFound(f"no job {job_id}")
        return job

    def cancel_for(self, principal: Principal, job_id: int) -> Job:
        self.read(principal, job_id)
        return self.cancel(job_id)

    def _creator(self, job_id: int) -> str | None:
        with self.tenant.read() as conn:
            return conn.execute(sa.select(job_rows.c.created_by).where(
                job_rows.c.id == job_id)).scalar()

    def unfinished(self) -> list[Job]:
        with self.tenant.read() as conn:
            return [_job(r) for r in conn.execute(sa.select(job_rows).where(
                job_rows.c.status.in_([QUEUED, RUNNING])).order_by(job_rows.c.id))]


@dataclass
class JobContext:
    """What a handler gets: its tenant, its job (with the checkpoint to resume from), and
    ``report`` to record progress after each chunk."""

    tenant: Tenant
    job: Job
    store: JobStore

    def report(self, processed: int, checkpoint: Any, total: int | None = None, *,
               detached: bool = False) -> None:
        """Record progress; raises ``Cancelled`` when the job was cancelled meanwhile.

        ``detached``: the handler holds a write transaction of the tenant that spans many
        chunks (an all-or-none import), which a report must neither join nor wait for.
        On PostgreSQL the report goes through a connection of its own (the job's row is
        not one the handler writes); SQLite has one writer, so there the progress shows
        when the transaction ends (``beat`` keeps the claim) and nothing is written."""
        if not detached:
            self.store.report(self.job.id, processed, checkpoint, total)
        elif self.tenant.dialect.name != "sqlite":
            self.store.report(self.job.id, processed, checkpoint, total, detached=True)

    def job_creator(self) -> str:
        """Who started the job (the user name a job acting for someone runs as)."""
        return self.store._creator(self.job.id) or "system"

    def beat(self, conn: sa.Connection) -> None:
        """Refresh the heartbeat in the handler's own open transaction (before it commits
        a long one): a consumer waiting for the lock then finds the job alive, not
        abandoned, until the handler finishes it."""
        conn.execute(job_rows.update().where(job_rows.c.id == self.job.id)
                     .values(heartbeat_at=_now()))


Handler = Callable[[JobContext], None]


def run(tenant: Tenant, job_id: int, handlers: Mapping[str, Handler]) -> Job | None:
    """Claim and run one job; what it became (None when it was not ours to run).

    A failure is retried (``MAX_ATTEMPTS`` in all) from the last checkpoint, then marked
    failed with its message; the caller's queue only decides when the retry runs."""
    store = JobStore(tenant)
    job = store.claim(job_id)
    if job is None:
        return None
    handler = handlers.get(job.kind)
    if handler is None:
        store.finish(job.id, FAILED, f"no handler for jobs of kind '{job.kind}'")
        return store.get(job.id)
    try:
        handler(JobContext(tenant, job, store))
    except Cancelled:
        store.finish(job.id, CANCELLED)  # already so, unless the handler noticed first
        return store.get(job.id)
    except Exception as exc:  # a job has nobody to answer: record why, retry or fail
        log.exception("job %s (%s) of tenant %s failed", job.id, job.kind, tenant.name)
        message = f"{type(exc).__name__}: {exc}"[:2000]
        if job.attempts >= MAX_ATTEMPTS:
            store.finish(job.id, FAILED, message)
        else:
            store.release(job.id, message)
            raise
        return store.get(job.id)
    store.finish(job.id, DONE)
    return store.get(job.id)


# -- without a queue: a thread of this process -----------------------------------------------
_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


def local_dispatch(tenant: Tenant, job_id: int, handlers: Mapping[str, Handler]) -> None:
    """Run a job in a thread of this process (no queue configured). The job row makes it
    durable all the same: a worker's sweep resumes it if this process dies."""

    def work() -> None:
        for _ in range(MAX_ATTEMPTS):
            try:
                run(tenant, job_id, handlers)
                return
            except Exception:  # already recorded on the job row; try again shortly
                time.sleep(0.5)

    thread = threading.Thread(target=work, name=f"job-{tenant.name}-{job_id}", daemon=True)
    with _threads_lock:  # started under the lock: another dispatch's clean-up (or a
        # ``wait_local``) must never see it listed but not alive yet, and drop it
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
        thread.start()


def running_locally() -> int:
    with _threads_lock:
        return sum(1 for t in _threads if t.is_alive())


def wait_local(timeout: float = 60.0) -> bool:
    """Wait for the jobs running in threads of this process (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    while True:
        with _threads_lock:
            alive = [t for t in _threads if t.is_alive()]
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        alive[0].join(max(0.0, min(1.0, deadline - time.monotonic())))


def job_id(value: Any) -> int:
    """A job id from a request; anything that is not one answers 404 like a missing job."""
    parsed = parse_id(value)
    if parsed is None or parsed < 1:
        raise NotFound(f"no job {str(value)[:40]}")
    return parsed


__all__ = ["CANCELLED", "DONE", "FAILED", "FINISHED", "MAX_ATTEMPTS", "QUEUED", "RUNNING",
           "Cancelled", "Handler", "Job", "JobContext", "JobStore", "ensure_tables",
           "job_id", "local_dispatch", "run", "running_locally", "stale_after", "wait_local"]
