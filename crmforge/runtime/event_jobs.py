"""Consumers of record events run as a durable job (``events``).

A transaction that adds events asks ``hint`` (the wiring's ``events_hint``) just before
it commits, holding the outbox lock: unless an ``events`` job is already queued (not yet
running; asked together with the events' insert), it records one in the same transaction,
dispatched once the transaction commits. Under a stream of writes one queued job drains
many of them. The job first waits for the writers inserting events at that moment
(``events.barrier``): a writer that saw it queued is committed before it reads, so no
event is left waiting for a job that already ran. It then hands the outbox to every
consumer of the tenant's wiring from its cursor (``events.consume``); what a consumer
does not finish (a crash, a failure) stays past its cursor for the job's retry or the
next run, so an event is never lost.
"""

from __future__ import annotations

import sqlalchemy as sa

from . import events, jobs
from .hooks import EventsHint
from .instance import Tenant

KIND = "events"


def queue(tenant: Tenant) -> None:
    """Events are about to commit and no job waits for them: queue one, in their
    transaction, dispatched once it commits."""
    from .job_kinds import dispatch  # job_kinds lists this module's handler

    job_id = jobs.JobStore(tenant).create(KIND, {}, by="system")
    tenant.after_commit(lambda: dispatch(tenant, job_id))


#: What the events' transaction asks and does (``Wiring.events_hint``): whether an
#: ``events`` job waits to start (sent with the events' insert), else queue one.
hint = EventsHint(
    ready=jobs.ensure_tables,
    waiting=sa.select(jobs.job_rows.c.id).where(
        jobs.job_rows.c.kind == KIND, jobs.job_rows.c.status == jobs.QUEUED).limit(1),
    queue=queue)


def handle(ctx: jobs.JobContext) -> None:
    """Run every consumer over the events past its cursor."""
    events.barrier(ctx.tenant)
    drain(ctx.tenant)


def drain(tenant: Tenant) -> int:
    """Hand the waiting events to the tenant's consumers now; how many were handled."""
    return sum(events.consume(tenant, c) for c in tenant.wiring.consumers)


__all__ = ["KIND", "drain", "handle", "hint", "queue"]
