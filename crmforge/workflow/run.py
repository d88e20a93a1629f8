"""One action on one approval instance, inside the tenant's write transaction.

A ``Run`` restores the instance's SpiffWorkflow state, lets the action change it, then
brings the task rows in line with the workflow's ready user tasks (new rows, temporary read
access and a notification for each new assignee; closed rows lose their access), finishes
the instance when the workflow has ended (field updates through the record write internals
as SYSTEM, unlock, notify the submitter) and stores the state again. The instance row is
read ``FOR UPDATE``, so concurrent countersigners of one instance queue on PostgreSQL
(SQLite serializes every write transaction anyway).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from SpiffWorkflow.util.task import TaskState

from ..core.errors import Conflict, NotFound, ValidationFailed
from ..core.ids import parse_id
from ..metadata.fieldtypes import ConversionError
from ..metadata.model import ObjectDef
from ..metadata.processes import OWNER_UPDATE, RELATED, related_update
from ..rules import ExpressionContext, compile_expression
from ..rules.compiler import Resolver
from ..runtime import events, pipeline
from ..runtime.context import Ctx, open_ctx, utcnow
from ..runtime.events import EventName, RecordEvent
from ..runtime.fields import SYSTEM_FIELD_DEFS
from ..runtime.formulas import RelatedReader
from ..runtime.instance import Tenant
from ..security import sharing
from ..security.engine import engine as permission_engine
from ..security.principal import SYSTEM, Principal
from ..security.tables import users
from . import bpmn, engine, people
from .copies import copy_to
from .delegation import delegate_for
from .notify import notify
from .tables import actions, instances, tasks

DECISIONS = ("approve", "reject", "return", "transfer", "add_approver", "escalate")


def encode_record(obj: ObjectDef, values: Mapping[str, Any]) -> dict[str, Any]:
    """A record's stored values as JSON (the snapshot kept with submissions and actions)."""
    out: dict[str, Any] = {}
    for name, f in SYSTEM_FIELD_DEFS.items():
        if name in values:
            out[name] = f.kind.to_json(f, values[name])
    for f in obj.stored_fields():
        if f.name in values:
            out[f.name] = f.kind.to_json(f, values[f.name])
    return out


def access_reason(instance_id: int, task_id: int) -> str:
    return f"approval {instance_id} task {task_id}"


class Run:
    """The state of one instance during one action (implements ``engine.Host``)."""

    def __init__(self, tenant: Tenant, conn: sa.Connection, row: Any) -> None:
        self.tenant, self.conn, self.row = tenant, conn, row
        self.definition: dict[str, Any] = json.loads(row.definition)
        self.steps = [str(s["name"]) for s in self.definition["steps"]]
        self.step_defs = {str(s["name"]): s for s in self.definition["steps"]}
        snap = tenant.snapshot(conn)
        obj = snap.object_by_id(row.object_id)
        if obj is None:
            raise NotFound(f"the object of approval {row.id} was removed")
        self.ctx: Ctx = open_ctx(tenant, permission_engine, conn, SYSTEM, obj.name)
        self.context = engine.workflow_context(obj, snap, self.steps)
        self.engine = engine.RestrictedEngine(self, self.steps)
        self.workflow: Any = engine.load(row.workflow, self.engine) if row.workflow else None
        self._record: Mapping[str, Any] | None = None

    # -- engine.Host ------------------------------------------------------------------------
    def record(self) -> Mapping[str, Any]:
        if self._record is None:
            t = self.ctx.table
            found = self.conn.execute(sa.select(t).where(
                t.c.id == self.row.record_id, t.c.deleted_at.is_(None))).first()
            if found is None:
                raise NotFound(f"the record of approval {self.row.id} was deleted")
            self._record = dict(found._mapping)
        return self._record

    def forget_record(self) -> None:
        """The record changed in this action: read it again when next needed."""
        self._record = None

    def resolver(self) -> Resolver | None:
        return RelatedReader(self.ctx, system=True).resolver(self.ctx.obj, self.record())

    def prepare_step(self, task: Any, step: str) -> None:
        """Resolve a step's approvers when the flow reaches it (script task ``prep_<step>``)."""
        sd = self.step_defs[step]
        ids = people.resolve(self.conn, sd["approvers"], self.record(), self._chosen())
        if not ids:
            admin = people.process_admin(self.conn)
            self.log(SYSTEM, "no_approver", step=step, details={"to": admin})
            ids = [admin]
        skip = self.repeats(step)
        skipped = [i for i in ids if i in skip]
        for i in skipped:
            self.log(SYSTEM, "skip", step=step, details={"user": i})
        need = engine.needed(str(sd.get("mode", "single")), sd.get("pass_rate"), len(ids))
        # A skipped approver counts as an approval (``engine.tallies``); when those already
        # carry the step, nobody else is asked.
        remaining = [] if len(skipped) >= need else [i for i in ids if i not in skip]
        task.data["approvers_" + step] = remaining
        task.data["votes_" + step] = []
        task.data["skipped_" + step] = len(skipped)
        task.data["base_" + step] = len(ids)
        task.data["added_" + step] = 0
        task.data["needed_" + step] = need
        if sd.get("cc"):
            copy_to(self, sd["cc"], step)

    # -- history ----------------------------------------------------------------------------
    def log(self, who: Principal, action: str, *, step: str | None = None,
            task_id: int | None = None, comment: str | None = None,
            details: Mapping[str, Any] | None = None, snapshot: bool = False) -> None:
        self.conn.execute(actions.insert().values(
            instance_id=self.row.id, task_id=task_id, step=step, actor_id=who.user_id,
            actor=who.label, action=action, comment=(comment or None) and comment[:4000],
            details=json.dumps(details) if details else None,
            snapshot=json.dumps(encode_record(self.ctx.obj, self.record()))
            if snapshot else None, at=utcnow()))

    def _actions(self) -> list[Any]:
        return list(self.conn.execute(sa.select(actions).where(
            actions.c.instance_id == self.row.id).order_by(actions.c.id)))

    def repeats(self, step: str) -> set[int]:
        """Approvers of ``step`` to skip as repeats, by the process's ``repeated_approver``:
        ``never_skip`` (the default) nobody; ``adjacent`` who approved the step that ran
        just before; ``first`` who approved any earlier step. Counted since the submission
        or the last return; a skip counts as that person's approval."""
        policy = str(self.definition.get("repeated_approver") or "never_skip")
        if policy == "never_skip":
            return set()
        by_step: dict[str, set[int]] = {}
        order: list[str] = []
        for a in self._actions():
            if a.action in ("submit", "return"):
                by_step.clear()
                order.clear()
            elif a.action in ("approve", "skip") and a.step and a.step != step:
                who = a.actor_id if a.action == "approve" else \
                    json.loads(a.details or "{}").get("user")
                if who is None:
                    continue
                if a.step in order:
                    order.remove(a.step)
                order.append(a.step)
                by_step.setdefault(a.step, set()).add(int(who))
        if not order:
            return set()
        if policy == "adjacent":
            return by_step[order[-1]]
        return set().union(*by_step.values())

    def acted(self) -> bool:
        return any(a.action in DECISIONS for a in self._actions())

    def _chosen(self) -> list[int]:
        for a in reversed(self._actions()):
            if a.action == "approve":
                return list(json.loads(a.details or "{}").get("chosen", []))
        return []

    # -- tasks ------------------------------------------------------------------------------
    def spiff_task(self, spiff_id: str) -> Any:
        return self.workflow.get_task_from_id(UUID(spiff_id))

    def sync(self) -> None:
        """Task rows follow the workflow's ready user tasks."""
        ready = {str(t.id): t for t in self.workflow.get_tasks(state=TaskState.READY, manual=True)}
        open_rows = self.conn.execute(sa.select(tasks).where(
            tasks.c.instance_id == self.row.id, tasks.c.status == "open")).all()
        for r in open_rows:
            if r.spiff_id not in ready:
                self.close(r, "cancelled", None)
        have = {r.spiff_id for r in open_rows if r.spiff_id in ready}
        for sid, t in ready.items():
            if sid not in have:
                self.open_task(sid, bpmn.step_of_task(t.task_spec.bpmn_id),
                               int(t.data["approver"]))

    def open_task(self, spiff_id: str, step: str, assignee: int) -> int:
        now = utcnow()
        meant = assignee
        assignee = delegate_for(self.conn, assignee, str(self.row.process), now)
        timeout = self.step_defs.get(step, {}).get("timeout", {})
        remind = timeout.get("remind_after_hours")
        escalate = timeout.get("escalate_after_hours")
        tid = int(self.conn.execute(tasks.insert().values(
            instance_id=self.row.id, spiff_id=spiff_id, step=step, assignee_id=assignee,
            status="open", created_at=now,
            remind_at=now + dt.timedelta(hours=float(remind)) if remind else None,
            escalate_at=now + dt.timedelta(hours=float(escalate)) if escalate else None,
        ).returning(tasks.c.id)).scalar_one())
        due = [t for t in (remind, escalate) if t]
        hint = self.tenant.due_hint
        if due and hint is not None:  # the instance's timer loop opens this tenant then
            first = now + dt.timedelta(hours=min(float(t) for t in due))
            tenant = self.tenant
            tenant.after_commit(lambda: hint(tenant, first))
        if assignee != meant:  # 委托: the trail says on whose behalf the delegate decides
            self.log(SYSTEM, "delegate", step=step, task_id=tid,
                     details={"from": meant, "to": assignee})
        sharing.grant_temporary_access(self.conn, self.row.object_id, self.row.record_id,
                                       assignee, access_reason(self.row.id, tid))
        title = self.title()
        notify(self.conn, assignee, "task", f"Approval needed: {title}",
               f"{self.row.object} '{title}' waits for your approval (step {step}).",
               instance_id=self.row.id, task_id=tid)
        return tid

    def close(self, task_row: Any, status: str, decision: str | None) -> None:
        self.conn.execute(tasks.update().where(tasks.c.id == task_row.id).values(
            status=status, decision=decision, acted_at=utcnow()))
        sharing.revoke_temporary_access(self.conn, self.row.object_id, self.row.record_id,
                                        task_row.assignee_id,
                                        access_reason(self.row.id, task_row.id))

    def title(self) -> str:
        snap = json.loads(self.row.snapshot)
        return str(snap.get(self.ctx.obj.title_field) or f"#{self.row.record_id}")

    # -- ending -----------------------------------------------------------------------------
    def outcome(self) -> str | None:
        if not self.workflow.is_completed():
            return None
        ends = {bpmn.END_APPROVED: "approved", bpmn.END_REJECTED: "rejected",
                bpmn.END_RETURNED: "returned"}
        for t in self.workflow.get_tasks(state=TaskState.COMPLETED):
            if t.task_spec.bpmn_id in ends:
                return ends[t.task_spec.bpmn_id]
        return "approved"

    def finish(self, state: str, by: Principal, comment: str | None = None) -> None:
        """End the instance: close tasks, apply field updates, unlock, tell the submitter."""
        for r in self.conn.execute(sa.select(tasks).where(
                tasks.c.instance_id == self.row.id, tasks.c.status == "open")).all():
            self.close(r, "cancelled", None)
        if state in ("approved", "rejected"):
            key = {"approved": "on_approve", "rejected": "on_reject"}[state]
            self.apply_updates(self.definition.get(key) or {})
        sharing.unlock(self.conn, self.row.object_id, self.row.record_id)
        self.conn.execute(instances.update().where(instances.c.id == self.row.id).values(
            state=state, finished_at=utcnow()))
        self.log(by, "finish", comment=comment, details={"state": state})
        if state in ("approved", "rejected") and self.definition.get("cc"):
            copy_to(self, self.definition["cc"], None)
        if state in ("approved", "rejected"):
            name = EventName.APPROVAL_APPROVED if state == "approved" \
                else EventName.APPROVAL_REJECTED
            events.emit(self.ctx, [RecordEvent(
                name, self.ctx.obj, int(self.row.record_id), detail={
                    "instance": self.row.id, "process": self.row.process, "by": by.label})])
        if self.row.submitter_id is not None:
            title = self.title()
            notify(self.conn, int(self.row.submitter_id), state,
                   f"Approval {state}: {title}", f"{self.row.object} '{title}' was {state}.",
                   instance_id=self.row.id)

    def apply_updates(self, updates: Mapping[str, str]) -> None:
        """Field updates on approve / reject through the write pipeline as the system; an
        ``owner_id`` entry transfers the record (its department follows the new owner's).
        A ``<lookup>.<field>`` entry changes the record that lookup points to, the same way
        (``metadata.processes.related_update``). Every expression is evaluated on the
        record as it was approved, before any of the updates."""
        if not updates:
            return
        obj, ctx = self.ctx.obj, self.ctx
        record = self.record()
        octx = ExpressionContext.for_object(obj, ctx.snapshot)
        own: dict[str, Any] = {}
        related: dict[str, tuple[ObjectDef, dict[str, Any]]] = {}
        for name, source in updates.items():
            value = compile_expression(source, octx).evaluate(record, self.resolver())
            target, field, values = obj, name, own
            if RELATED in name:
                found = related_update(obj, name, ctx.snapshot)
                if isinstance(found, str):  # the object changed since the process was saved
                    raise ValidationFailed(f"the approval cannot update '{name}': {found}",
                                           {name: [found]})
                lookup, target, field = found
                values = related.setdefault(lookup.name, (target, {}))[1]
            if field != OWNER_UPDATE and target.field(field) is None:
                continue  # a field removed since the process was saved
            values[field] = value if field == OWNER_UPDATE else _as_field(target, field, value)
        self._write(ctx, record["id"], own)
        for lookup_name, (target, values) in related.items():
            rid = record.get(lookup_name)
            if rid is not None:  # a request without that record changes nothing there
                self._write(ctx.other(target), int(rid), values)
        self._record = None

    def _write(self, ctx: Ctx, rid: int, values: Mapping[str, Any]) -> None:
        payload = {k: v for k, v in values.items() if k != OWNER_UPDATE}
        if payload:
            row = self.conn.execute(sa.select(ctx.table).where(
                ctx.table.c.id == rid, ctx.table.c.deleted_at.is_(None))).first()
            if row is None:
                raise NotFound(f"the {ctx.obj.name} record {rid} the approval updates is gone")
            pipeline.update(ctx, row, payload, switches=pipeline.APPROVAL)
        if OWNER_UPDATE in values:
            self.transfer_owner(values[OWNER_UPDATE], ctx, rid)

    def transfer_owner(self, ref: Any, ctx: Ctx | None = None, rid: int | None = None) -> None:
        """Give the record (default: the approved one) to the user an ``owner_id`` update
        names (id or username)."""
        if isinstance(ref, Decimal) and ref == ref.to_integral_value():
            ref = int(ref)
        uid = people.user_by_ref(self.conn, ref)
        if uid is None:
            raise ValidationFailed(f"the new owner '{str(ref)[:40]}' is no active user "
                                   "(新负责人不是在职用户)", {OWNER_UPDATE: ["no active user"]})
        ctx = ctx or self.ctx
        row = self.conn.execute(sa.select(ctx.table).where(
            ctx.table.c.id == (rid if rid is not None else self.row.record_id))).one()
        if row.owner_id == uid:
            return
        dept = self.conn.execute(sa.select(users.c.department_id).where(
            users.c.id == uid)).scalar()
        pipeline.write_update(ctx, row, {"owner_id": uid, "department_id": dept},
                              pipeline.TRANSFER)

    def advance(self, by: Principal) -> None:
        """Run the engine, follow the tasks, finish if the flow ended, store the state."""
        self.workflow.do_engine_steps()
        self.sync()
        state = self.outcome()
        if state is not None:
            self.finish(state, by)
        self.save()

    def save(self) -> None:
        self.conn.execute(instances.update().where(instances.c.id == self.row.id).values(
            workflow=engine.dump(self.workflow),
            diagram=json.dumps(engine.element_states(self.workflow))))


def load_instance(conn: sa.Connection, instance_id: Any, *, lock: bool = False) -> Any:
    iid = parse_id(instance_id)
    if iid is None:
        raise NotFound(f"no approval {str(instance_id)[:20]}")
    q = sa.select(instances).where(instances.c.id == iid)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no approval {iid}")
    return row


def running(row: Any) -> None:
    if row.state != "running":
        raise Conflict(f"approval {row.id} is {row.state}, no longer running")


__all__ = ["Run", "access_reason", "encode_record", "load_instance", "running"]


def _as_field(obj: ObjectDef, name: str, value: Any) -> Any:
    """An expression's value in the field's own form: a number is a Decimal, so the
    field's kind converts it first; what it cannot convert goes as it is, for the pipeline
    to report on the field."""
    f = obj.field(name)
    if f is None or value is None:
        return value
    with contextlib.suppress(ConversionError):
        value = f.kind.to_json(f, f.kind.to_python(f, value, lenient=True))
    return value
