"""Background work on a queue: the composition root of jobs and timers (decision 0017).

The queue is Huey: its messages live in a SQLite file of the instance by default
(``<instance>/queue.db``: nothing to install or start) or in Redis at scale
(``CRMFORGE_QUEUE_URL=redis://...``). A message only says "run job N of tenant T"; the job
itself (payload, progress, checkpoint) is a row of the tenant's database
(``runtime.jobs``), so the queue can be lost without losing work.

- ``install(instance)`` makes the instance's tenants submit their jobs to the queue and
  report when approval timers fall due (an index in the control database).
- A consumer runs the jobs: ``crmforge worker --instance DIR`` (any number of them, on
  any host sharing the Redis), or embedded in ``crmforge serve`` (in its master process
  when there are workers). Exactly one consumer per deployment should run the periodic
  work (``--no-periodic`` on the others).
- Periodic work, every ``SWEEP_EVERY`` seconds: the sweep re-dispatches jobs that were
  queued or abandoned by a dead process (found in the control database's index, so idle
  tenants are never opened), and the timer loop runs approval reminders and escalations
  of the tenants whose next due time has come (the same index tells which), queues the
  work that falls due with them (``DUE_WORK``: webhook retries, e-mail retries), and scans
  automation date rules (``workflow.automation.dates``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from .core import clock
from .integrations import webhooks
from .runtime import Instance, Tenant, job_kinds, jobs
from .runtime.instance import job_queue, tenant_due
from .workflow import mail_outbox
from .workflow.automation import run_date_rules
from .workflow.tables import ensure_tables, tasks
from .workflow.timeouts import run_due

log = logging.getLogger("crmforge.tasks")

#: Seconds between two sweeps and timer runs of the consumer running periodic work.
SWEEP_EVERY = float(os.environ.get("CRMFORGE_SWEEP_SECONDS", "15") or 15)

#: Every kind of job, and its handler: the runtime's own, and those defined above it.
HANDLERS: Mapping[str, jobs.Handler] = MappingProxyType({**job_kinds.HANDLERS,
                                                         **webhooks.HANDLERS,
                                                         **mail_outbox.HANDLERS})

#: Work of a tenant that falls due at a time, besides approval timers: (queue what is due
#: at a naive UTC time, when the next is due). The timer loop runs both for due tenants
#: and keeps the earliest next time in the control database's index.
DUE_WORK: tuple[tuple[Callable[[Tenant, dt.datetime], object],
                      Callable[[Tenant], dt.datetime | None]], ...] = (
    (webhooks.run_due, webhooks.next_due),
    (mail_outbox.run_due, mail_outbox.next_due),
)


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None)


class Queue:
    """One instance's queue: Huey on SQLite or Redis, and the task that runs a job."""

    def __init__(self, instance: Instance, url: str | None = None) -> None:
        self.instance = instance
        url = url if url is not None else os.environ.get("CRMFORGE_QUEUE_URL", "")
        name = f"crmforge-{Path(instance.path).resolve().name}"
        self.huey: Huey
        if url.startswith(("redis://", "rediss://", "unix://")):
            self.huey = RedisHuey(name, url=url, results=False)
        else:
            path = url.removeprefix("sqlite:///") if url else str(instance.path / "queue.db")
            self.huey = SqliteHuey(name, filename=path, results=False)
        self._run_job = self.huey.task(retries=jobs.MAX_ATTEMPTS, retry_delay=2,
                                       name="run_job")(self._run)

    def _run(self, tenant_name: str, job_id: int) -> None:
        try:
            tenant = self.instance.tenant(tenant_name)
        except Exception:  # the tenant is gone: its job went with it
            self._unindex(tenant_name, job_id)
            return
        job = jobs.run(tenant, job_id, HANDLERS) or jobs.JobStore(tenant).get(job_id)
        if job.status in jobs.FINISHED:
            self._unindex(tenant_name, job_id)

    def dispatch(self, tenant: Tenant, job_id: int) -> None:
        """Index the job in the control database, then enqueue it: if the enqueue is
        lost, the sweep finds the job in the index."""
        with self.instance.control.begin() as conn:
            exists = conn.execute(sa.select(job_queue.c.job_id).where(
                job_queue.c.tenant == tenant.name, job_queue.c.job_id == job_id)).first()
            if exists is None:
                conn.execute(job_queue.insert().values(tenant=tenant.name, job_id=job_id,
                                                       queued_at=_now()))
        self._run_job(tenant.name, job_id)

    def due_hint(self, tenant: Tenant, at: dt.datetime) -> None:
        """A tenant has timers due at ``at``: keep the earliest time per tenant."""
        with self.instance.control.begin() as conn:
            row = conn.execute(sa.select(tenant_due.c.next_due).where(
                tenant_due.c.tenant == tenant.name)).first()
            if row is None:
                conn.execute(tenant_due.insert().values(tenant=tenant.name, next_due=at))
            elif row.next_due is None or at < row.next_due:
                conn.execute(tenant_due.update().where(tenant_due.c.tenant == tenant.name)
                             .values(next_due=at))

    def _unindex(self, tenant_name: str, job_id: int) -> None:
        with self.instance.control.begin() as conn:
            conn.execute(job_queue.delete().where(job_queue.c.tenant == tenant_name,
                                                  job_queue.c.job_id == job_id))

    # -- periodic work ----------------------------------------------------------------------
    def sweep(self) -> int:
        """Re-dispatch indexed jobs that no live consumer holds: queued ones whose message
        was lost and running ones abandoned by a dead process. Opens only tenants with
        unfinished jobs. How many were dispatched again."""
        with self.instance.control.connect() as conn:
            rows = conn.execute(sa.select(job_queue).order_by(job_queue.c.queued_at)).all()
        again = 0
        stale = dt.timedelta(seconds=jobs.stale_after())
        for row in rows:
            try:
                tenant = self.instance.tenant(row.tenant)
                job = jobs.JobStore(tenant).get(int(row.job_id))
            except Exception:
                self._unindex(row.tenant, int(row.job_id))
                continue
            if job.status in jobs.FINISHED:
                self._unindex(row.tenant, int(row.job_id))
                continue
            if job.status == jobs.RUNNING and not self._abandoned(tenant, job.id, stale):
                continue
            self._run_job(row.tenant, int(row.job_id))
            again += 1
        return again

    def _abandoned(self, tenant: Tenant, job_id: int, stale: dt.timedelta) -> bool:
        with tenant.read() as conn:
            beat = conn.execute(sa.select(jobs.job_rows.c.heartbeat_at).where(
                jobs.job_rows.c.id == job_id)).scalar()
        return beat is None or beat < _now() - stale

    def timers(self, now: dt.datetime | None = None) -> int:
        """Approval reminders and escalations of the tenants whose next due time has come
        (or is not known yet), and their ``DUE_WORK``; then their next due time. How many
        tenants were run."""
        at = now or _now()
        with self.instance.control.connect() as conn:
            known = {r.tenant: r.next_due for r in conn.execute(sa.select(tenant_due))}
        names = [n for n in self.instance.tenant_names()
                 if n not in known or (known[n] is not None and known[n] <= at)]
        for name in names:
            try:
                tenant = self.instance.tenant(name)
                run_due(tenant, at.replace(tzinfo=dt.UTC))
                for run_work, _ in DUE_WORK:
                    run_work(tenant, at)
                self._store_next_due(tenant)
            except Exception:  # one tenant's failure must not stop the others' timers
                log.exception("approval timers of tenant %s failed", name)
        return len(names)

    def _store_next_due(self, tenant: Tenant) -> None:
        ensure_tables(tenant)
        with tenant.read() as conn:
            open_rows = sa.select(sa.func.min(tasks.c.remind_at), sa.func.min(tasks.c.escalate_at)
                                  ).where(tasks.c.status == "open")
            remind, escalate = conn.execute(open_rows).one()
        later = [next_due(tenant) for _, next_due in DUE_WORK]
        due = min((t for t in (remind, escalate, *later) if t is not None), default=None)
        with self.instance.control.begin() as conn:
            conn.execute(tenant_due.delete().where(tenant_due.c.tenant == tenant.name))
            conn.execute(tenant_due.insert().values(
                tenant=tenant.name, next_due=due if due is not None else dt.datetime.max))

    def automation(self) -> int:
        """Automation date rules that fall due and webhook calls waiting for a retry (each
        tenant scanned at most every ``CRMFORGE_DATE_RULES_SECONDS``)."""
        return run_date_rules(self.instance)

    def periodic(self) -> None:
        for step in (self.sweep, self.timers, self.automation):
            try:
                step()
            except Exception:
                log.exception("periodic %s failed", step.__name__)


def install(instance: Instance, url: str | None = None) -> Queue:
    """Send the instance's jobs and due times to its queue (the composition root)."""
    queue = Queue(instance, url)
    instance.set_dispatcher(queue.dispatch, queue.due_hint)
    return queue


class _QuietConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer without signal handlers, so it can run beside a server (whose
    main thread owns the signals)."""

    def _set_signal_handlers(self) -> None:
        return None


class Worker:
    """A consumer of one instance's queue, with the periodic work when asked for."""

    def __init__(self, queue: Queue, *, threads: int = 2, periodic: bool = True) -> None:
        self.queue = queue
        self.consumer = _QuietConsumer(queue.huey, workers=threads, periodic=False,
                                       worker_type="thread", check_worker_health=False)
        self.periodic = periodic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.consumer.start()
        if self.periodic:
            self.queue.periodic()  # at once: resume what a crash left before serving on
            self._thread = threading.Thread(target=self._loop, name="crmforge-periodic",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(SWEEP_EVERY):
            self.queue.periodic()

    def stop(self) -> None:
        self._stop.set()
        self.consumer.stop(graceful=True)
        if self._thread is not None:
            self._thread.join(timeout=SWEEP_EVERY + 5)


def queue_kind(queue: Queue) -> str:
    return "redis" if isinstance(queue.huey, RedisHuey) else "sqlite"


def details(queue: Queue) -> dict[str, Any]:
    return {"queue": queue_kind(queue), "handlers": sorted(HANDLERS)}


__all__ = ["HANDLERS", "SWEEP_EVERY", "Queue", "Worker", "details", "install", "queue_kind"]
