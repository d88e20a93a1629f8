"""Undo of an import (kind ``import_undo``): the records it created go to the recycle bin,
each through the record service as the user who asked (their delete permission, status
rules and locks apply), in chunks of their own transaction. Records deleted meanwhile are
skipped; the ones the user may not delete are listed with the reason. Records the import
updated keep their new values (their history holds the old ones)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from ...core.errors import NotFound
from ...security.accounts import principal_of
from ..jobs import JobContext
from ..records import RecordService
from .tables import imports, landed, tables

CHUNK = 500
#: Refusals an import keeps (the count of all of them is in ``undone`` and the total).
MAX_LISTED = 1000


def handle(jctx: JobContext) -> None:
    tenant = jctx.tenant
    tables.ensure(tenant)
    import_id = int(jctx.job.payload["import"])
    with tenant.read() as conn:
        row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).first()
        if row is None:
            return
        principal = principal_of(conn, jctx.job_creator())
        ids = sorted(rid for r in conn.execute(sa.select(landed.c.created).where(
            landed.c.import_id == import_id)) for _, rid in json.loads(r.created))
    start = int((jctx.job.checkpoint or {}).get("done", 0))
    service = RecordService(tenant)
    for at in range(start, len(ids), CHUNK):
        part = ids[at:at + CHUNK]
        with tenant.write() as conn:
            results = service.delete_each(principal, row.object, part)
            gone = sum(1 for r in results if r is None)
            refused = [[rid, r.message] for rid, r in zip(part, results, strict=True)
                       if r is not None and not isinstance(r, NotFound)]
            current = conn.execute(sa.select(imports.c.undo_failed).where(
                imports.c.id == import_id)).scalar()
            listed = json.loads(current or "[]")
            conn.execute(imports.update().where(imports.c.id == import_id).values(
                undone=imports.c.undone + gone,
                undo_failed=json.dumps((listed + refused)[:MAX_LISTED], ensure_ascii=False)))
        jctx.report(at + len(part), {"done": at + len(part)}, len(ids))


__all__ = ["handle"]
