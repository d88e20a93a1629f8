"""Consumers of record events run as a durable job (``events``).

A transaction that adds events calls ``hint`` (the wiring's ``events_hint``) just before
it commits, holding the outbox lock: unless an ``events`` job is already queued (not yet
running), it records one in the same transaction, dispatched once the transaction
commits. Under a stream of writes one queued job drains many of them. The job first
waits for the writers inserting events at that moment (``events.barrier``): a writer that
saw it queued is committed before it reads, so no event is left waiting for a job that
already ran. It then hands the outbox to every consumer of the tenant's wiring from its
cursor (``events.consume``); what a consumer does not finish (a crash, a failure) stays
past its cursor for the job's retry or the next run, so an event is never lost.
"""

from __future__ import annotations

import sqlalchemy as sa

from . import events, jobs
from .instance import Tenant

KIND = "events"


#: Whether an ``events`` job waits to start: asked by every write that adds events, so
#: its SQL is compiled once per dialect (constants inlined) and sent as is.
_QUEUED = sa.select(jobs.job_rows.c.id).where(
    jobs.job_rows.c.kind == KIND, jobs.job_rows.c.status == jobs.QUEUED).limit(1)
_QUEUED_SQL: dict[str, str] = {}


def hint(tenant: Tenant) -> None:
    """Events are about to commit: make sure a job will hand them to the consumers."""
    store = jobs.JobStore(tenant)
    with tenant.write() as conn:  # the events' own transaction
        sql = _QUEUED_SQL.get(conn.dialect.name)
        if sql is None:
            sql = _QUEUED_SQL[conn.dialect.name] = str(_QUEUED.compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        queued = conn.exec_driver_sql(sql).first()
    if queued is None:
        from .job_kinds import dispatch  # job_kinds lists this module's handler

        job_id = store.create(KIND, {}, by="system")
        tenant.after_commit(lambda: dispatch(tenant, job_id))


def handle(ctx: jobs.JobContext) -> None:
    """Run every consumer over the events past its cursor."""
    events.barrier(ctx.tenant)
    drain(ctx.tenant)


def drain(tenant: Tenant) -> int:
    """Hand the waiting events to the tenant's consumers now; how many were handled."""
    return sum(events.consume(tenant, c) for c in tenant.wiring.consumers)


__all__ = ["KIND", "drain", "handle", "hint"]
