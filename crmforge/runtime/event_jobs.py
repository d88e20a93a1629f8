"""Consumers of record events run as a durable job (``events``), woken after commit.

A commit that added events calls ``hint`` (the wiring's ``events_hint``), which submits
one ``events`` job unless this process already has one queued: under a stream of writes
one job drains many of them. The job hands the outbox to every consumer of the tenant's
wiring from its cursor (``events.consume``); what a consumer does not finish (a crash, a
failure) stays past its cursor for the next run, so an event is never lost, and the job's
retries come from the job machinery (``jobs.run``). Events committed by a process that
died before its hint wait for the tenant's next event, or ``drain`` (the job worker calls
it at start and on its periodic sweep).
"""

from __future__ import annotations

import logging

from . import events, jobs
from .instance import Tenant

log = logging.getLogger("crmforge.events")

KIND = "events"


def hint(tenant: Tenant) -> None:
    """Events wait: make sure a job will hand them to the consumers."""
    if tenant.events_queued:
        return
    tenant.events_queued = True
    from .job_kinds import submit  # job_kinds lists this module's handler

    try:
        submit(tenant, KIND, {}, by="system")
    except Exception:  # the write committed; the next hint or the sweep runs them
        tenant.events_queued = False
        log.exception("could not queue the events of tenant %s", tenant.name)


def handle(ctx: jobs.JobContext) -> None:
    """Run every consumer over the events past its cursor."""
    tenant = ctx.tenant
    tenant.events_queued = False  # a commit from now on queues the next run
    drain(tenant)


def drain(tenant: Tenant) -> int:
    """Hand the waiting events to the tenant's consumers now; how many were handled."""
    return sum(events.consume(tenant, c) for c in tenant.wiring.consumers)


__all__ = ["KIND", "drain", "handle", "hint"]
