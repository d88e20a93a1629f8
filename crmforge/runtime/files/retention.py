"""Clean-up of stored files nobody can reach any more.

- Uploads never attached: ``POST /api/v1/files`` stores a file that a file field is then
  set to; one that no field took within a day (``uploads_hours``) is deleted.
- Removed files (attachments removed, file-field values replaced or cleared) stay in the
  recycle bin, restorable, until their record is purged or an administrator purges them;
  with ``CRMFORGE_FILES_RETENTION_DAYS`` set (or ``removed_days``), those removed longer
  ago are deleted.

``crmforge files prune`` runs both (from cron, like ``crmforge history prune``). Rows go
in short batches, each its own write transaction; contents are deleted once their rows'
deletion commits.
"""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa

from ...core import clock
from ...core.errors import BadRequest
from ..instance import Tenant
from .binding import purge_where
from .tables import ensure, stored_files

BATCH = 500
UPLOAD_HOURS = 24


def retention_days() -> int | None:
    """``CRMFORGE_FILES_RETENTION_DAYS``: days removed files stay restorable (None: until
    their record is purged)."""
    raw = os.environ.get("CRMFORGE_FILES_RETENTION_DAYS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest("CRMFORGE_FILES_RETENTION_DAYS is a whole number of days (1 or more)")
    return int(raw)


def prune(tenant: Tenant, *, uploads_hours: int = UPLOAD_HOURS,
          removed_days: int | None = None, batch: int = BATCH) -> tuple[int, int]:
    """Delete unattached uploads older than ``uploads_hours`` and removed files older than
    ``removed_days`` (when given); the numbers of each deleted."""
    if uploads_hours < 1 or (removed_days is not None and removed_days < 1):
        raise BadRequest("keep uploads at least an hour and removed files at least a day")
    ensure(tenant)
    now = clock.now().replace(tzinfo=None)
    uploads = _in_batches(tenant, batch, stored_files.c.object_id.is_(None),
                          stored_files.c.uploaded_at < now - dt.timedelta(hours=uploads_hours))
    removed = 0 if removed_days is None else _in_batches(
        tenant, batch, stored_files.c.deleted_at.is_not(None),
        stored_files.c.deleted_at < now - dt.timedelta(days=removed_days))
    return uploads, removed


def _in_batches(tenant: Tenant, batch: int, *where: sa.ColumnElement[bool]) -> int:
    done = 0
    while True:
        with tenant.write() as conn:
            ids = list(conn.execute(sa.select(stored_files.c.id).where(*where)
                                    .order_by(stored_files.c.id).limit(batch)).scalars())
            if ids:
                purge_where(tenant, conn, stored_files.c.id.in_(ids))
        done += len(ids)
        if len(ids) < batch:
            return done


__all__ = ["prune", "retention_days"]
