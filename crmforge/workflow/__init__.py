"""Approval workflows (DESIGN §7): process documents compiled to BPMN 2.0 and run by
SpiffWorkflow behind a restricted script engine; state, tasks and history in the tenant's
database, changed in the same transaction as the record.

``auto_submit`` is the write hook that submits a record whose save makes an auto-submit
process's entry criteria hold; the composition root (``crmforge.composition``) wires it.
"""

from __future__ import annotations

from ..metadata.processes import process_docs
from ..runtime.context import Ctx
from .service import ApprovalService, submit_in
from .tables import workflow_metadata


def auto_submit(ctx: Ctx, record_id: int, created: bool) -> None:
    """A save that makes an auto-submit process's entry criteria hold submits the record."""
    if not any(p["object"] == ctx.obj.name and p.get("auto_submit")
               for p in process_docs(ctx.snapshot).values()):
        return
    workflow_metadata.create_all(ctx.conn, checkfirst=True)
    submit_in(ctx, ctx.principal, record_id, automatic=True)


__all__ = ["ApprovalService", "auto_submit", "submit_in"]
