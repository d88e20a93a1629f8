"""Approval workflows (DESIGN §7): process documents compiled to BPMN 2.0 and run by
SpiffWorkflow behind a restricted script engine; state, tasks and history in the tenant's
database, changed in the same transaction as the record.

Importing this package registers the automatic submission hook with the record service.
"""

from __future__ import annotations

from ..metadata.processes import process_docs
from ..runtime.context import Ctx
from ..runtime.hooks import register_after_save
from .service import ApprovalService, submit_in
from .tables import workflow_metadata


def _auto_submit(ctx: Ctx, record_id: int, created: bool) -> None:
    """A save that makes an auto-submit process's entry criteria hold submits the record."""
    if not any(p["object"] == ctx.obj.name and p.get("auto_submit")
               for p in process_docs(ctx.snapshot).values()):
        return
    workflow_metadata.create_all(ctx.conn, checkfirst=True)
    submit_in(ctx, ctx.principal, record_id, automatic=True)


register_after_save(_auto_submit)

__all__ = ["ApprovalService", "submit_in"]
