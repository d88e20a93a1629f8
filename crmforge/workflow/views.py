"""What an approval shows: its history, its tasks and its diagram state.

The diagram state is the instance's own BPMN (the version it runs) plus the ids of the
elements already passed and of those waiting, which bpmn-js colours. Only the submitter,
the people who held a task of it, those copied on it and administrators see an approval;
others get 404. Record values are masked by the reader's sight (``sight.reader_sight``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..core.errors import NotFound
from ..metadata.model import ObjectDef
from ..runtime.context import open_ctx
from ..runtime.fields import SYSTEM_FIELD_DEFS
from ..runtime.instance import Tenant
from ..security.engine import engine as permission_engine
from ..security.principal import SYSTEM, Principal
from . import people
from .run import encode_record, load_instance
from .sight import Formatter, Sight, mask, reader_sight, shown_fields
from .tables import actions, copies, tasks


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


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


def detail(tenant: Tenant, conn: sa.Connection, principal: Principal, instance_id: Any,
           lang: str = "en") -> dict[str, Any]:
    row = load_instance(conn, instance_id)
    task_rows = conn.execute(sa.select(tasks).where(tasks.c.instance_id == row.id)
                             .order_by(tasks.c.id)).all()
    copied = set(conn.execute(sa.select(copies.c.user_id).where(
        copies.c.instance_id == row.id)).scalars().all())
    involved = {row.submitter_id, *(t.assignee_id for t in task_rows)}
    if not (principal.is_admin or principal.user_id in involved or principal.user_id in copied):
        raise NotFound(f"no approval {row.id}")
    action_rows = conn.execute(sa.select(actions).where(actions.c.instance_id == row.id)
                               .order_by(actions.c.id)).all()
    behalf: dict[int, int] = {int(a.task_id): int(json.loads(a.details or "{}")["from"])
                              for a in action_rows
                              if a.action == "delegate" and a.task_id is not None}
    names = people.usernames(conn, [i for i in {*involved, *behalf.values()} if i is not None])
    states = json.loads(row.diagram) if row.diagram else {"completed": [], "active": []}
    obj = tenant.snapshot(conn).object_by_id(row.object_id)
    sight: Sight | None = {}
    fields: list[dict[str, Any]] = []
    if obj is not None:
        sight = reader_sight(tenant, conn, principal, obj, json.loads(row.definition), row.id)
        current = current_values(tenant, conn, obj, [int(row.record_id)]).get(
            int(row.record_id)) or json.loads(row.snapshot)
        fields = Formatter(tenant, conn, lang).fields(obj, current, sight)
    return {
        "id": row.id, "object": row.object, "record": row.record_id, "process": row.process,
        "process_version": row.process_version, "state": row.state,
        "submitter": names.get(row.submitter_id), "submitted_at": _iso(row.submitted_at),
        "finished_at": _iso(row.finished_at),
        "record_snapshot": mask(json.loads(row.snapshot), sight),
        "fields": fields,
        "can_remind": row.state == "running" and (
            principal.is_admin or principal.user_id == row.submitter_id),
        "tasks": [{"id": t.id, "step": t.step, "assignee": names.get(t.assignee_id),
                   "on_behalf_of": names.get(behalf[t.id]) if t.id in behalf else None,
                   "status": t.status, "decision": t.decision,
                   "created_at": _iso(t.created_at), "acted_at": _iso(t.acted_at)}
                  for t in task_rows],
        "history": [_entry(a, behalf, names) for a in action_rows],
        "diagram": {"bpmn": row.bpmn, **states},
    }


def _entry(a: Any, behalf: dict[Any, Any], names: dict[int, str]) -> dict[str, Any]:
    """One line of the trail; a decision taken by a delegate says on whose behalf."""
    details = json.loads(a.details) if a.details else None
    original = behalf.get(a.task_id) if a.task_id is not None else None
    on_behalf = names.get(original) if original is not None and a.actor_id != original \
        and a.action not in ("delegate",) else None
    return {"action": a.action, "by": a.actor, "step": a.step, "task": a.task_id,
            "comment": a.comment, "details": details, "on_behalf_of": on_behalf,
            "at": _iso(a.at)}


def current_values(tenant: Tenant, conn: sa.Connection, obj: ObjectDef, ids: list[int]
                   ) -> dict[int, dict[str, Any]]:
    """The records' current values as JSON, read as the system in one query: what the
    approver decides on (a step may have edited it since the submission); callers mask
    them with the reader's sight before anything leaves."""
    if not ids:
        return {}
    ctx = open_ctx(tenant, permission_engine, conn, SYSTEM, obj.name)
    t = ctx.table
    rows = conn.execute(sa.select(t).where(t.c.id.in_(ids), t.c.deleted_at.is_(None))).all()
    return {int(r.id): encode_record(obj, dict(r._mapping)) for r in rows}


__all__ = ["current_values", "detail", "inbox_items", "masked_snapshot", "shown_fields"]


def inbox_items(tenant: Tenant, conn: sa.Connection, principal: Principal, rows: Sequence[Any],
                lang: str) -> list[dict[str, Any]]:
    """Inbox entries of open task rows (joined with their instances): one query of current
    values per object, one sight per (instance, step)."""
    snap = tenant.snapshot(conn)
    names = people.usernames(conn, [r.submitter_id for r in rows if r.submitter_id is not None])
    by_object: dict[str, list[int]] = {}
    for r in rows:
        by_object.setdefault(r.object_id, []).append(int(r.record_id))
    values: dict[tuple[str, int], dict[str, Any]] = {}
    for oid, ids in by_object.items():
        obj = snap.object_by_id(oid)
        if obj is not None:
            values.update({(oid, k): v for k, v in current_values(
                tenant, conn, obj, sorted(set(ids))).items()})
    fmt = Formatter(tenant, conn, lang)
    sights: dict[int, Sight | None] = {}
    out = []
    for r in rows:
        obj = snap.object_by_id(r.object_id)
        current = values.get((r.object_id, int(r.record_id))) or json.loads(r.snapshot)
        if obj is not None and r.instance_id not in sights:
            sights[r.instance_id] = reader_sight(tenant, conn, principal, obj,
                                                 json.loads(r.definition), r.instance_id)
        sight = sights.get(r.instance_id, {})
        out.append({"id": r.id, "instance": r.instance_id,
                    "object": obj.name if obj is not None else str(r.object),
                    "record_id": r.record_id, "record": mask(current, sight),
                    "fields": fmt.fields(obj, current, sight) if obj is not None else [],
                    "process": r.process, "step": r.step,
                    "created_at": _iso(r.created_at), "due_at": _iso(r.escalate_at),
                    "submitter": names.get(r.submitter_id),
                    "submitted_at": _iso(r.submitted_at),
                    "record_snapshot": mask(json.loads(r.snapshot), sight)})
    return out
