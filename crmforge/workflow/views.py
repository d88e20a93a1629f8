"""What an approval shows: its history, its tasks and its diagram state.

The diagram state is the instance's own BPMN (the version it runs) plus the ids of the
elements already passed and of those waiting, which bpmn-js colours. Only the submitter,
the people who held a task of it and administrators see an approval; others get 404.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from ..core.errors import CRMError, NotFound
from ..runtime import masking
from ..runtime.context import open_ctx
from ..runtime.fields import SYSTEM_FIELD_DEFS
from ..runtime.instance import Tenant
from ..security.engine import engine as permission_engine
from ..security.principal import Principal
from . import people
from .run import load_instance
from .tables import actions, tasks


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def shown_fields(tenant: Tenant, conn: sa.Connection, principal: Principal,
                 object_name: str) -> frozenset[str]:
    """The fields of an object's submitted records this reader may see: those they may
    read (derived ones included, so a formula over a hidden field stays hidden), without
    the values derived through related records they do not all see (a snapshot cannot say
    whether those were visible then)."""
    try:
        ctx = open_ctx(tenant, permission_engine, conn, principal, object_name)
    except CRMError:  # the object is gone: nothing of it can be checked
        return frozenset()
    grant = ctx.access.grant(ctx.obj)
    if grant is None or not grant.operations:
        # Involved without a role on the object (an approver by name, a submitter whose
        # role changed): the record's title identifies it, nothing else; a computed
        # title could be derived from anything, so it stays hidden.
        title = ctx.obj.field(ctx.obj.title_field)
        return frozenset({title.name}) if title is not None and title.kind.writable \
            else frozenset()
    return ctx.access.readable(ctx.obj) - set(masking.row_paths(ctx, ctx.obj))


def masked_snapshot(tenant: Tenant, conn: sa.Connection, principal: Principal,
                    object_name: str, snapshot: dict[str, Any],
                    shown: dict[str, frozenset[str]] | None = None) -> dict[str, Any]:
    """The record as submitted, as this reader may see it (``shown_fields``); never the
    raw snapshot. ``shown`` caches the fields per object across an inbox of tasks."""
    if principal.is_admin or principal.is_system:
        return snapshot
    cache = shown if shown is not None else {}
    if object_name not in cache:
        cache[object_name] = shown_fields(tenant, conn, principal, object_name)
    readable = cache[object_name]
    return {k: v for k, v in snapshot.items()
            if k in readable or k in SYSTEM_FIELD_DEFS or k in ("id", "version")}


def detail(tenant: Tenant, conn: sa.Connection, principal: Principal, instance_id: Any
           ) -> dict[str, Any]:
    row = load_instance(conn, instance_id)
    task_rows = conn.execute(sa.select(tasks).where(tasks.c.instance_id == row.id)
                             .order_by(tasks.c.id)).all()
    involved = {row.submitter_id, *(t.assignee_id for t in task_rows)}
    if not (principal.is_admin or principal.user_id in involved):
        raise NotFound(f"no approval {row.id}")
    action_rows = conn.execute(sa.select(actions).where(actions.c.instance_id == row.id)
                               .order_by(actions.c.id)).all()
    names = people.usernames(conn, [i for i in involved if i is not None])
    states = json.loads(row.diagram) if row.diagram else {"completed": [], "active": []}
    return {
        "id": row.id, "object": row.object, "record": row.record_id, "process": row.process,
        "process_version": row.process_version, "state": row.state,
        "submitter": names.get(row.submitter_id), "submitted_at": _iso(row.submitted_at),
        "finished_at": _iso(row.finished_at), "record_snapshot": masked_snapshot(
            tenant, conn, principal, _object_name(tenant, conn, row), json.loads(row.snapshot)),
        "tasks": [{"id": t.id, "step": t.step, "assignee": names.get(t.assignee_id),
                   "status": t.status, "decision": t.decision,
                   "created_at": _iso(t.created_at), "acted_at": _iso(t.acted_at)}
                  for t in task_rows],
        "history": [{"action": a.action, "by": a.actor, "step": a.step, "task": a.task_id,
                     "comment": a.comment, "details": json.loads(a.details) if a.details else None,
                     "at": _iso(a.at)} for a in action_rows],
        "diagram": {"bpmn": row.bpmn, **states},
    }


__all__ = ["detail"]


def _object_name(tenant: Tenant, conn: sa.Connection, row: Any) -> str:
    """The instance's object by id: it may have been renamed since the submission."""
    obj = tenant.snapshot(conn).object_by_id(row.object_id)
    return obj.name if obj is not None else str(row.object)
