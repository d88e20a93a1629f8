"""Submitting a job of a kind defined above the runtime, without piling them up.

``job_kinds`` only knows the runtime's kinds, so its thread dispatcher (used when no
queue is installed) could not run ``email`` or ``webhook_deliveries``. A ``Kicker``
records the job like ``job_kinds.submit`` does and hands it to the instance's queue
(whose table, ``crmforge.tasks.HANDLERS``, has every kind) or to a thread running its own
handler. It queues a job only when the last one this process queued for the tenant has
started (or finished): a queued one will see whatever is waiting now, a running one may
have looked already. The job row says its state, whichever process runs it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from ..runtime import jobs
from ..runtime.instance import Tenant

log = logging.getLogger("crmforge.jobs")


class Kicker:
    """Queues the ``kind`` job of a tenant when work waits (see the module's text)."""

    def __init__(self, kind: str, handler: jobs.Handler) -> None:
        self.kind = kind
        self.handler = handler
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant: Tenant) -> None:
        store = jobs.JobStore(tenant)
        with self._lock:
            last = self._last.get(tenant.key)
        try:
            if last is not None and store.get(last).status == jobs.QUEUED:
                return
            job_id = store.create(self.kind, {}, by="system")
            with self._lock:
                self._last[tenant.key] = job_id
            tenant.after_commit(lambda: self._dispatch(tenant, job_id))
        except Exception:  # the work is committed: the periodic work finds it
            log.exception("could not queue a %s job of tenant %s", self.kind, tenant.name)

    def _dispatch(self, tenant: Tenant, job_id: int) -> None:
        if tenant.dispatch is not None:
            tenant.dispatch(tenant, job_id)
        else:
            jobs.local_dispatch(tenant, job_id, {self.kind: self.handler})


def earliest(pending: dt.datetime | None, claimed: dt.datetime | None,
             stale_after: dt.timedelta) -> dt.datetime | None:
    """When an outbox (webhook deliveries, e-mail) next needs its job: its first due
    attempt, or the moment its oldest claim counts as abandoned, whichever comes first."""
    stale = None if claimed is None else claimed + stale_after
    return min((t for t in (pending, stale) if t is not None), default=None)


def queue_if_due(tenant: Tenant, at: dt.datetime,
                 next_due: Callable[[Tenant], dt.datetime | None],
                 kick: Callable[[Tenant], None]) -> bool:
    """Queue the outbox's job when something is due at ``at`` (naive UTC); whether it did."""
    due = next_due(tenant)
    if due is None or due > at:
        return False
    kick(tenant)
    return True


__all__ = ["Kicker", "earliest", "queue_if_due"]
