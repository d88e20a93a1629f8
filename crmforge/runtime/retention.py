"""History retention: entries older than the retention period are deleted, in batches.

History grows with every write; most companies keep a few years of it (some must keep it
longer, so nothing is pruned unless a period is set). ``CRMFORGE_HISTORY_RETENTION_DAYS``
sets the period for an instance; ``crmforge history prune`` applies it (or a period given
on the command line). Each batch is its own short write transaction, so pruning a large
history never holds the write lock for long.
"""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa

from ..core import clock
from ..core.errors import BadRequest
from .instance import Tenant
from .systables import history

BATCH = 5_000


def retention_days() -> int | None:
    """The configured period in days, or None to keep history for ever."""
    raw = os.environ.get("CRMFORGE_HISTORY_RETENTION_DAYS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest("CRMFORGE_HISTORY_RETENTION_DAYS is a whole number of days (1 or more)")
    return int(raw)


def prune(tenant: Tenant, days: int, *, batch: int = BATCH) -> int:
    """Delete history entries older than ``days`` days; how many were deleted."""
    if days < 1:
        raise BadRequest("the retention period is at least one day")
    cutoff = clock.now().replace(tzinfo=None) - dt.timedelta(days=days)
    deleted = 0
    while True:
        with tenant.write() as conn:
            ids = conn.execute(sa.select(history.c.id).where(history.c.at < cutoff)
                               .order_by(history.c.id).limit(batch)).scalars().all()
            if not ids:
                return deleted
            conn.execute(history.delete().where(history.c.id.in_(ids)))
        deleted += len(ids)


__all__ = ["BATCH", "prune", "retention_days"]
