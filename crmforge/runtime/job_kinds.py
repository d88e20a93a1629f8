"""The kinds of durable job the runtime defines, and how a job is submitted.

``submit`` records the job in the tenant's ``sys_jobs`` and hands "run job N" to the
tenant's dispatcher: the queue the composition root installed (``crmforge.tasks``), or
without one a thread of this process. Kinds defined above the runtime (approval timers)
are added to ``HANDLERS`` by that composition root's own table, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..security.principal import Principal
from . import backfill, event_jobs, export_jobs, jobs
from .imports import run as import_run
from .imports import undo as import_undo
from .instance import Tenant

#: Job kind -> handler, for the jobs the runtime submits.
HANDLERS: Mapping[str, jobs.Handler] = MappingProxyType({
    "backfill": backfill.handle, event_jobs.KIND: event_jobs.handle,
    export_jobs.KIND: export_jobs.handle,
    "import": import_run.handle, "import_undo": import_undo.handle})


def submit(tenant: Tenant, kind: str, payload: Mapping[str, Any], *, total: int | None = None,
           by: str = "system") -> int:
    """Record a job and dispatch it; its id (``GET /api/v1/jobs/<id>`` reports it)."""
    job_id = jobs.JobStore(tenant).create(kind, payload, total=total, by=by)
    tenant.after_commit(lambda: dispatch(tenant, job_id))
    return job_id


def dispatch(tenant: Tenant, job_id: int) -> None:
    """Hand a recorded job to the queue (or a thread). ``submit`` does it once the job's
    row is committed: inside a caller's write, when that write commits, so that the job
    finds what the same transaction stored for it (an import's file)."""
    if tenant.dispatch is not None:
        tenant.dispatch(tenant, job_id)
    else:
        jobs.local_dispatch(tenant, job_id, HANDLERS)


def submit_backfill(tenant: Tenant, todo: list[backfill.Job], version: int) -> int:
    return submit(tenant, "backfill", backfill.payload(todo, version))


def submit_export(tenant: Tenant, principal: Principal, object_name: str,
                  query: list[tuple[str, str]], fmt: str, headers: str, lang: str) -> int:
    """A large export as a job (checked first, like a direct one); its id."""
    payload, total = export_jobs.prepare(tenant, principal, object_name, query, fmt,
                                         headers, lang)
    return submit(tenant, export_jobs.KIND, payload, total=total, by=principal.label)


__all__ = ["HANDLERS", "submit", "submit_backfill", "submit_export"]
