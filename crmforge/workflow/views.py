"""What an approval shows: its history, its tasks and its diagram state.

The diagram state is the instance's own BPMN (the version it runs) plus the ids of the
elements already passed and of those waiting, which bpmn-js colours. Only the submitter,
the people who held a task of it and administrators see an approval; others get 404.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from ..core.errors import NotFound
from ..runtime.instance import Tenant
from ..security.principal import Principal
from . import people
from .run import load_instance
from .tables import actions, tasks


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


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
        "finished_at": _iso(row.finished_at), "record_snapshot": json.loads(row.snapshot),
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
