"""What the home page shows a user: their open approval tasks, what needs their attention
(their open records with an overdue date, records they submitted that are in approval or
came back to them) and their recently viewed records (decision 0037).

Everything is read through the permission engine: a record is named only when the reader
may see it now (each object's visibility predicate in the WHERE); its title only when
they may read the title field. The whole answer costs a fixed number of statements
whatever the data: one for the tasks, one for the approvals, one for the kept recent
records, one ``UNION ALL`` for overdue records over at most ``MAX_DUE_OBJECTS`` objects,
one ``UNION ALL`` for the titles of everything else. Each list is bounded, so the page
stays the same size and the same cost with a thousand tasks or a million records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..runtime import recent
from ..runtime.instance import Tenant
from ..security.engine import Access, PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from .sight import step_sight
from .tables import ensure_tables, instances, tasks

#: Open tasks shown (the inbox has them all; the page says how many there are).
TASKS = 5
#: Approvals of the reader's own submissions shown (in approval, returned).
APPROVALS = 10
#: Objects whose deadlines are looked at for overdue records: readable objects with a
#: deadline the reader may read, by API name. A bound on the statement's branches (a
#: tenant marks few dates as deadlines: the five packs together mark eight).
MAX_DUE_OBJECTS = 12
#: Overdue records taken from each object, and shown in all.
DUE_PER_OBJECT = 5
DUE = 10


@dataclass(frozen=True)
class Home:
    """The home page's sections; each entry a plain dict ready for a template or JSON."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    attention: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)


def closed_states(obj: ObjectDef) -> list[str]:
    """The status values that close a record: states of its status rules that allow no
    update (a closed ticket, a won deal that is read-only). Records there need nobody."""
    rules = obj.options.get("status_rules") or {}
    states = rules.get("states") or {}
    return sorted(str(name) for name, rule in states.items()
                  if "update" not in ((rule or {}).get("operations") or []))


def due_fields(obj: ObjectDef, access: Access) -> list[FieldDef]:
    """The stored deadlines of ``obj`` the reader may read: date fields, and stored date
    formulas, marked ``deadline: true``. Other dates (a birthday, the day a payment came
    in) being in the past means nothing is late."""
    readable = access.readable(obj)
    return [f for f in obj.fields
            if f.options.get("deadline") is True and f.stored and f.name in readable
            and (f.type == "date" or (f.type == "formula"
                                      and f.options.get("result_type") == "date"))]


def due_objects(snap: Snapshot, access: Access) -> list[tuple[ObjectDef, list[FieldDef]]]:
    """The objects looked at for overdue records (at most ``MAX_DUE_OBJECTS``, by name)."""
    out = []
    for obj in sorted(snap.objects.values(), key=lambda o: o.name):
        if not access.allowed(obj, "read"):
            continue
        dates = due_fields(obj, access)
        if dates:
            out.append((obj, dates))
        if len(out) >= MAX_DUE_OBJECTS:
            break
    return out


class HomeService:
    def __init__(self, tenant: Tenant, permissions: PermissionEngine | None = None) -> None:
        self.tenant = tenant
        self.permissions = permissions or default_engine

    def home(self, principal: Principal, lang: str) -> Home:
        if principal.user_id is None or principal.is_system:
            return Home()
        ensure_tables(self.tenant)  # writes the first time only: before the read begins
        recent.ensure(self.tenant)
        with self.tenant.read() as conn:
            snap = self.tenant.snapshot(conn)
            access = self.permissions.access(principal, snap)
            task_rows = conn.execute(
                sa.select(tasks.c.id, tasks.c.step, tasks.c.created_at, instances.c.object_id,
                          instances.c.record_id, instances.c.process, instances.c.definition)
                .join(instances, instances.c.id == tasks.c.instance_id)
                .where(tasks.c.assignee_id == principal.user_id, tasks.c.status == "open")
                .order_by(tasks.c.id).limit(TASKS)).all()
            later = instances.alias("later")
            newer = sa.exists().where(later.c.object_id == instances.c.object_id,
                                      later.c.record_id == instances.c.record_id,
                                      later.c.id > instances.c.id)
            mine = conn.execute(
                sa.select(instances.c.id, instances.c.object_id, instances.c.record_id,
                          instances.c.state, instances.c.process, instances.c.submitted_at)
                .where(instances.c.submitter_id == principal.user_id,
                       instances.c.state.in_(("running", "returned")), ~newer)
                .order_by(instances.c.id.desc()).limit(APPROVALS)).all()
            order, when = recent.candidates(self.tenant, conn, principal)
            overdue = self._overdue(conn, principal, snap, access)
            refs = [*((r.object_id, int(r.record_id)) for r in task_rows),
                    *((r.object_id, int(r.record_id)) for r in mine),
                    *((e["object_id"], e["id"]) for e in overdue), *order]
            found = recent.visible_titles(self.tenant, conn, principal, snap, access,
                                          list(dict.fromkeys(refs)),
                                          _titled_by_step(snap, task_rows))
            items = recent.items(self.tenant, conn, principal, snap, access, lang,
                                 titles=found, ordered=(order, when))
        shown_tasks = []
        for r in task_rows:
            hit = found.get((r.object_id, int(r.record_id)))
            obj = snap.object_by_id(r.object_id)
            shown_tasks.append({
                "id": r.id, "step": _step_label(r.definition, r.step, lang),
                "process": r.process,
                "object": obj.name if obj is not None else None,
                "label": obj.label(lang) if obj is not None else "",
                "record_id": int(r.record_id),
                "title": hit.title if hit is not None else f"#{r.record_id}",
                "created_at": _iso(r.created_at)})
        attention = []
        for e in overdue:
            hit = found.get((e["object_id"], e["id"]))
            if hit is None:
                continue
            f = hit.obj.field(e["field"])
            attention.append({"kind": "overdue", "object": hit.obj.name,
                              "label": hit.obj.label(lang), "id": hit.id, "title": hit.title,
                              "field": f.label(lang) if f is not None else e["field"],
                              "due": e["due"], "days": e["days"]})
        for a in mine:
            hit = found.get((a.object_id, int(a.record_id)))
            if hit is None:  # no longer visible to the submitter: nothing of it shows
                continue
            attention.append({"kind": "in_approval" if a.state == "running" else "returned",
                              "object": hit.obj.name, "label": hit.obj.label(lang),
                              "id": hit.id, "title": hit.title, "process": a.process,
                              "since": _iso(a.submitted_at)})
        return Home(shown_tasks, attention, items)

    def _overdue(self, conn: sa.Connection, principal: Principal, snap: Snapshot,
                 access: Access) -> list[dict[str, Any]]:
        """The reader's own open records with a date before today, earliest first: one
        statement, a branch per object of ``due_objects``, each ordered by its earliest
        overdue date and limited to ``DUE_PER_OBJECT``. Titles come afterwards, with the
        others (``recent.visible_titles``)."""
        today = clock.now().date()
        schema = self.tenant.schema(snap)
        branches = []
        for obj, dates in due_objects(snap, access):
            t = schema.table(obj.name)
            late = [t.c[f.name] < today for f in dates]
            first = sa.case(*((t.c[f.name] < today, sa.literal(f.name)) for f in dates),
                            else_=sa.null())
            value = sa.case(*((t.c[f.name] < today, t.c[f.name]) for f in dates),
                            else_=sa.null())
            where = [t.c.deleted_at.is_(None), t.c.owner_id == principal.user_id,
                     sa.or_(*late), access.visibility(obj, t)]
            rules = obj.options.get("status_rules") or {}
            status = obj.field(str(rules.get("field") or ""))
            closed = closed_states(obj)
            if status is not None and status.stored and closed:
                where.append(sa.or_(t.c[status.name].is_(None),
                                    t.c[status.name].not_in(closed)))
            inner = (sa.select(sa.literal(obj.id, sa.String).label("object_id"),
                               t.c.id.label("id"), sa.cast(first, sa.String).label("field"),
                               sa.type_coerce(value, sa.Date).label("due"))
                     .where(*where).order_by(value, t.c.id).limit(DUE_PER_OBJECT)
                     .subquery())
            branches.append(sa.select(inner))
        if not branches:
            return []
        stmt = branches[0] if len(branches) == 1 else sa.union_all(*branches)
        out = []
        for row in conn.execute(stmt):
            due = row.due if isinstance(row.due, dt.date) else \
                dt.date.fromisoformat(str(row.due)[:10])
            out.append({"object_id": str(row.object_id), "id": int(row.id),
                        "field": str(row.field), "due": due.isoformat(),
                        "days": (today - due).days})
        out.sort(key=lambda e: (e["due"], e["object_id"], e["id"]))
        return out[:DUE]


def _titled_by_step(snap: Snapshot, rows: Iterable[Any]) -> list[tuple[str, int]]:
    """The task records whose step shows the approver their title (``sight.step_sight``:
    the layout's fields less those the step hides), whatever the approver's own role."""
    out = []
    for r in rows:
        obj = snap.object_by_id(r.object_id)
        if obj is None:
            continue
        steps = {str(s.get("name")): s for s in json.loads(r.definition).get("steps", [])}
        if obj.title_field in step_sight(obj, snap, steps.get(r.step)):
            out.append((r.object_id, int(r.record_id)))
    return out


def _step_label(definition: str, step: str, lang: str) -> str:
    """A step as the inbox names it: its label in ``lang`` (then English, Chinese), else
    its name."""
    for s in json.loads(definition).get("steps", []):
        if s.get("name") == step:
            label = s.get("label") or {}
            return str(label.get(lang) or label.get("en") or label.get("zh") or step)
    return step


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


__all__ = ["APPROVALS", "DUE", "MAX_DUE_OBJECTS", "TASKS", "Home", "HomeService",
           "closed_states", "due_objects"]
