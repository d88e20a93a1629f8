"""Approval actions: submit, approve, reject, return, transfer, add approver, comment,
withdraw and recall. Each runs in one write transaction with everything it causes (task
rows, record lock, temporary access, field updates with history, notifications); a refused
action changes nothing. E-mails go out after the commit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest, Conflict, CRMError, Forbidden, NotFound, RateLimited, ValidationFailed
from ..core.ids import parse_id
from ..metadata.processes import process_docs
from ..rules import ExpressionContext, T, compile_expression
from ..runtime import events
from ..runtime.context import Ctx, open_ctx, record_id, utcnow
from ..runtime.events import EventName, RecordEvent
from ..runtime.formulas import RelatedReader
from ..runtime.instance import Tenant
from ..security import sharing
from ..security.engine import engine as permission_engine
from ..security.principal import Principal
from . import adding, bpmn, engine, people
from .notify import deliver_pending, notify
from .run import Run, encode_record, load_instance, running
from .tables import actions, ensure_tables, instances, tasks
from .views import detail, inbox_items

#: At most one nudge (催办) per approval in this interval.
REMIND_INTERVAL = dt.timedelta(hours=1)


class TooSoon(RateLimited):
    """A nudge within the hour after the last one (429, ``too_soon``)."""

    code = "too_soon"


ACTIONS = ("approve", "reject", "return", "transfer", "add-approver", "comment")


def _comment(body: Mapping[str, Any]) -> str | None:
    c = body.get("comment")
    if c is not None and not isinstance(c, str):
        raise ValidationFailed("comment must be text", {"comment": ["not text"]})
    return c


def applicable(ctx: Ctx, values: Mapping[str, Any], process: str | None = None, *,
               automatic: bool = False) -> Mapping[str, Any] | None:
    """The first active process of the record's object whose entry criteria hold."""
    obj = ctx.obj
    candidates = [p for p in process_docs(ctx.snapshot).values()
                  if p["object"] == obj.name and p.get("active", True) is not False
                  and (process is None or p["name"] == process)
                  and (not automatic or p.get("auto_submit"))]
    if process is not None and not candidates:
        raise NotFound(f"no active process '{process[:40]}' for {obj.name}")
    rctx = ExpressionContext.for_object(obj, ctx.snapshot)
    resolve = RelatedReader(ctx, system=True).resolver(obj, values)
    for p in candidates:
        source = p.get("entry_criteria")
        if not source or compile_expression(source, rctx, expected=T.BOOLEAN).evaluate(
                values, resolve):
            return p
    return None


def submit_refusal(ctx: Ctx, row: Any, process: Mapping[str, Any]) -> CRMError | None:
    """Why the record cannot be submitted to ``process`` now (None when it can): its status
    rules forbid ``submit`` (403), it is in approval (409), or it was approved and the
    process does not allow resubmission (``allow_resubmit``, 409)."""
    denial = ctx.access.status_denial(ctx.obj, row._mapping, "submit", (), None)
    if denial:
        return Forbidden(denial)
    latest = ctx.conn.execute(sa.select(instances.c.id, instances.c.state).where(
        instances.c.object_id == ctx.obj.id, instances.c.record_id == row.id)
        .order_by(instances.c.id.desc()).limit(1)).first()
    if latest is not None and latest.state == "running":
        return Conflict(f"this record is already in approval {latest.id}")
    if latest is not None and latest.state == "approved" and not process.get("allow_resubmit"):
        return Conflict(f"this record was already approved (approval {latest.id}) and "
                        f"'{process['name']}' does not allow resubmission (已审批通过，不可重复提交)")
    return None


def may_submit_to(principal: Principal, process: Mapping[str, Any]) -> bool:
    """Whether the process's ``submitters`` (absent: anyone) include the principal."""
    allowed = process.get("submitters")
    return not allowed or principal.is_admin or (
        principal.username in allowed.get("users", [])
        or bool(principal.roles & set(allowed.get("roles", []))))


def submit_in(ctx: Ctx, principal: Principal, rid: int, process: str | None = None,
              *, automatic: bool = False) -> int | None:
    """Start an approval of a record in the caller's transaction; returns the instance id.

    With ``automatic`` (a save whose entry criteria now hold) nothing is raised when no
    process applies or the record is already in approval: the save goes on."""
    conn, obj = ctx.conn, ctx.obj
    t = ctx.table
    row = conn.execute(sa.select(t).where(t.c.id == rid, t.c.deleted_at.is_(None))).first()
    if row is None:
        raise NotFound(f"no {obj.name} record {rid}")
    values = dict(row._mapping)
    chosen = applicable(ctx, values, process, automatic=automatic)
    if chosen is None:
        if automatic:
            return None
        raise ValidationFailed(f"no approval process of {obj.name} applies to this record "
                               "(entry criteria not met)", {"record": ["entry criteria not met"]})
    refusal = submit_refusal(ctx, row, chosen)
    if refusal is not None:
        if automatic:
            return None
        raise refusal
    if not may_submit_to(principal, chosen):
        if automatic:  # the save itself was allowed; it just does not start an approval
            return None
        raise Forbidden(f"you may not submit records to '{chosen['name']}'")
    xml = bpmn.compile_process(chosen)
    snapshot = encode_record(obj, values)
    iid = int(conn.execute(instances.insert().values(
        object_id=obj.id, object=obj.name, record_id=rid, process=chosen["name"],
        process_version=int(chosen.get("version", 1)),
        definition=json.dumps(chosen, ensure_ascii=False), bpmn=xml.decode(), state="running",
        workflow="", submitter_id=principal.user_id, record_version=row.version,
        snapshot=json.dumps(snapshot, ensure_ascii=False), submitted_at=utcnow(),
    ).returning(instances.c.id)).scalar_one())
    sharing.lock(conn, obj.id, rid, f"in approval {iid}", chosen.get("allow_changes", []))
    run = Run(ctx.tenant, conn, load_instance(conn, iid))
    run.log(principal, "submit", details={"automatic": True} if automatic else None,
            snapshot=True)
    run.workflow = engine.new_workflow(engine.parse(xml), run.engine)
    run.workflow.data["submitted"] = dict(values)  # Decimal and dates: our converters
    events.emit(ctx, [RecordEvent(EventName.APPROVAL_SUBMITTED, obj, rid, row.version, detail={
        "instance": iid, "process": chosen["name"], "automatic": automatic})])
    run.advance(principal)
    return iid


class ApprovalService:
    def __init__(self, tenant: Tenant, lang: str = "en") -> None:
        """``lang``: the language of the labels and formatted values an approval shows."""
        self.tenant, self.lang = tenant, lang
        ensure_tables(tenant)

    def submit(self, principal: Principal, object_name: Any, rid: Any,
               process: str | None = None) -> dict[str, Any]:
        if not isinstance(object_name, str):
            raise BadRequest('send {"object", "record"}')
        with self.tenant.write() as conn:
            ctx = open_ctx(self.tenant, permission_engine, conn, principal, object_name)
            ctx.access.check(ctx.obj, "submit")
            t = ctx.table
            rid = record_id(rid)
            if conn.execute(sa.select(t.c.id).where(t.c.id == rid, t.c.deleted_at.is_(None),
                                                    ctx.access.visibility(ctx.obj, t))).first() \
                    is None:
                raise NotFound(f"no {ctx.obj.name} record {rid}")
            iid = submit_in(ctx, principal, rid, process)
            assert iid is not None
        deliver_pending(self.tenant)
        return self.detail(principal, iid)

    # -- task actions -----------------------------------------------------------------------
    def act(self, principal: Principal, task_id: Any, action: str, body: Any) -> dict[str, Any]:
        if action not in ACTIONS:
            raise NotFound(f"no approval action '{action[:20]}'")
        body = body if isinstance(body, Mapping) else {}
        with self.tenant.write() as conn:
            iid = self._act(conn, principal, task_id, action, body)
        deliver_pending(self.tenant)
        return self.detail(principal, iid)

    def bulk_approve(self, principal: Principal, ids: Any, comment: str | None) -> dict[str, Any]:
        """Approve several tasks in one transaction: all of them or none."""
        if not isinstance(ids, list) or not ids or len(ids) > 200:
            raise BadRequest('send {"ids": [task ids (at most 200)]}')
        with self.tenant.write() as conn:
            done = [self._act(conn, principal, i, "approve", {"comment": comment}) for i in ids]
        deliver_pending(self.tenant)
        return {"approved": len(ids), "instances": sorted(set(done))}

    def _act(self, conn: sa.Connection, principal: Principal, task_id: Any, action: str,
             body: Mapping[str, Any]) -> int:
        tid = parse_id(task_id)
        if tid is None:
            raise NotFound(f"no task {str(task_id)[:20]}")
        trow = conn.execute(sa.select(tasks).where(tasks.c.id == tid)).first()
        if trow is None:
            raise NotFound(f"no task {tid}")
        inst = load_instance(conn, trow.instance_id, lock=True)
        trow = conn.execute(sa.select(tasks).where(tasks.c.id == tid)).one()  # after the lock
        if trow.status != "open":
            raise Conflict(f"task {tid} is already {trow.status}")
        if trow.assignee_id != principal.user_id:
            raise Forbidden(f"task {tid} is assigned to someone else")
        running(inst)
        run = Run(self.tenant, conn, inst)
        comment = _comment(body)
        if action == "comment":
            if not comment:
                raise ValidationFailed("a comment needs text", {"comment": ["required"]})
            run.log(principal, "comment", step=trow.step, task_id=tid, comment=comment)
            return int(inst.id)
        spiff = run.spiff_task(trow.spiff_id)
        if action in ("approve", "reject", "return"):
            self._decide(run, trow, spiff, principal, action, body, comment)
        elif action == "transfer":
            to = self._user(conn, body.get("to"), "to")
            if to == trow.assignee_id:
                raise ValidationFailed("the task is already theirs", {"to": ["same user"]})
            run.log(principal, "transfer", step=trow.step, task_id=tid, comment=comment,
                    details={"to": to})
            spiff.data["approver"] = to
            run.close(trow, "done", "transfer")
        else:
            user = self._user(conn, body.get("user"), "user")
            position = adding.position_of(body)
            run.log(principal, "add_approver", step=trow.step, task_id=tid, comment=comment,
                    details={"user": user, "position": position})
            adding.add(run, trow, spiff, principal, user, position)
        run.advance(principal)
        return int(inst.id)

    def _decide(self, run: Run, trow: Any, spiff: Any, principal: Principal, action: str,
                body: Mapping[str, Any], comment: str | None) -> None:
        vote: dict[str, Any] = {"user": principal.user_id, "decision": action}
        details: dict[str, Any] = {}
        if action in ("reject", "return") and run.definition.get("reject_requires_comment") \
                and not (comment or "").strip():
            raise ValidationFailed(f"this process needs a comment to {action} "
                                   "(驳回或退回须填写意见)", {"comment": ["required"]})
        if action == "approve" and run.definition.get("forbid_changed_record"):
            self._unchanged(run)
        if action == "approve":
            edited = adding.apply_edits(run, trow, body.get("values"))
            if edited:
                details["changed"] = edited
        elif body.get("values") is not None:
            raise ValidationFailed("only an approval may change fields",
                                   {"values": ["only with approve"]})
        if action == "approve" and body.get("next_approvers") is not None:
            chosen = body["next_approvers"]
            if not isinstance(chosen, list):
                raise ValidationFailed("next_approvers is a list of users",
                                       {"next_approvers": ["not a list"]})
            details["chosen"] = [self._user(run.conn, c, "next_approvers") for c in chosen]
        if action == "approve" and adding.hand_back(run, trow, spiff, principal, comment,
                                                    details):
            return
        if action == "return":
            to = body.get("to") or bpmn.SUBMITTER
            earlier = bpmn.return_targets(run.definition["steps"], trow.step)
            if to != bpmn.SUBMITTER and to not in earlier:
                raise ValidationFailed(f"return to '{bpmn.SUBMITTER}' or an earlier step "
                                       f"({', '.join(earlier) or 'none'})", {"to": ["not earlier"]})
            vote["to"] = to
            details["to"] = to
        run.log(principal, action, step=trow.step, task_id=trow.id, comment=comment,
                details=details or None, snapshot=True)
        spiff.data["vote"] = vote
        spiff.run()
        run.close(trow, "done", action)

    def _unchanged(self, run: Run) -> None:
        """Refuse approval when the record differs from what was submitted."""
        allowed = set(run.definition.get("allow_changes", []))
        before = json.loads(run.row.snapshot)
        now = encode_record(run.ctx.obj, run.record())
        changed = sorted(f.name for f in run.ctx.obj.stored_fields()
                         if f.name not in allowed and before.get(f.name) != now.get(f.name))
        if changed:
            raise Conflict("the record changed since it was submitted (" + ", ".join(changed) +
                           "); this process approves only what was submitted",
                           {k: ["changed since submission"] for k in changed})

    def _user(self, conn: sa.Connection, ref: Any, key: str) -> int:
        found = people.user_by_ref(conn, ref)
        if found is None:
            raise ValidationFailed(f"no active user {str(ref)[:40]}", {key: ["no such user"]})
        return found

    # -- withdraw and recall ----------------------------------------------------------------
    def withdraw(self, principal: Principal, instance_id: Any, body: Any = None) -> dict[str, Any]:
        comment = _comment(body if isinstance(body, Mapping) else {})
        with self.tenant.write() as conn:
            inst = load_instance(conn, instance_id, lock=True)
            if inst.submitter_id != principal.user_id:
                raise NotFound(f"no approval {inst.id} submitted by you")
            running(inst)
            run = Run(self.tenant, conn, inst)
            if run.acted():
                raise Conflict("an approver has already acted; ask an administrator to recall")
            self._stop(run, principal, "withdrawn", comment)
        return self.detail(principal, inst.id)

    def recall(self, principal: Principal, instance_id: Any, body: Any = None) -> dict[str, Any]:
        permission_engine.check_admin(principal)
        comment = _comment(body if isinstance(body, Mapping) else {})
        with self.tenant.write() as conn:
            inst = load_instance(conn, instance_id, lock=True)
            running(inst)
            self._stop(Run(self.tenant, conn, inst), principal, "recalled", comment)
        deliver_pending(self.tenant)
        return self.detail(principal, inst.id)

    def _stop(self, run: Run, principal: Principal, state: str, comment: str | None) -> None:
        run.log(principal, "withdraw" if state == "withdrawn" else "recall", comment=comment)
        run.workflow.cancel()
        run.finish(state, principal, comment)
        run.save()

    def remind(self, principal: Principal, instance_id: Any) -> dict[str, Any]:
        """Nudge (催办) the current approvers of a running approval: the submitter or an
        administrator, at most once an hour per approval (429 ``too_soon`` otherwise)."""
        with self.tenant.write() as conn:
            inst = load_instance(conn, instance_id, lock=True)
            if not (principal.is_admin or inst.submitter_id == principal.user_id):
                raise NotFound(f"no approval {inst.id} submitted by you")
            if inst.state != "running":
                raise Conflict(f"approval {inst.id} is {inst.state}: there is nobody to remind "
                               "(审批已结束，无需催办)")
            last = conn.execute(sa.select(sa.func.max(actions.c.at)).where(
                actions.c.instance_id == inst.id, actions.c.action == "remind")).scalar()
            now = utcnow()
            if last is not None and now - last < REMIND_INTERVAL:
                allowed = (last + REMIND_INTERVAL).isoformat(timespec="seconds") + "Z"
                raise TooSoon(f"the approvers were reminded less than an hour ago; remind "
                              f"again after {allowed} (一小时内只能催办一次)")
            run = Run(self.tenant, conn, inst)
            holders = conn.execute(sa.select(tasks.c.id, tasks.c.assignee_id, tasks.c.step)
                                   .where(tasks.c.instance_id == inst.id,
                                          tasks.c.status == "open")).all()
            title = run.title()
            for t in holders:
                notify(conn, int(t.assignee_id), "remind", f"Please decide: {title} (催办)",
                       f"{principal.label} asks you to decide on {inst.object} '{title}' "
                       f"(step {t.step}).", instance_id=inst.id, task_id=t.id)
            run.log(principal, "remind", details={"users": [int(t.assignee_id)
                                                            for t in holders]})
        deliver_pending(self.tenant)
        return self.detail(principal, inst.id)

    # -- reads ------------------------------------------------------------------------------
    def inbox(self, principal: Principal, limit: int = 100, lang: str | None = None
              ) -> list[dict[str, Any]]:
        """The caller's open tasks, each with ``record``: the current record masked by
        the task's step and the reader's own access, and ``fields``: those fields
        labelled and formatted in ``lang`` (never the raw snapshot)."""
        with self.tenant.read() as conn:
            rows = conn.execute(sa.select(tasks, instances.c.object, instances.c.object_id,
                                          instances.c.record_id, instances.c.definition,
                                          instances.c.process, instances.c.snapshot,
                                          instances.c.submitter_id, instances.c.submitted_at)
                                .join(instances, instances.c.id == tasks.c.instance_id)
                                .where(tasks.c.assignee_id == principal.user_id,
                                       tasks.c.status == "open")
                                .order_by(tasks.c.id).limit(limit)).all()
            return inbox_items(self.tenant, conn, principal, rows, lang or self.lang)

    def open_count(self, principal: Principal) -> int:
        """How many open tasks the principal holds (the navigation shows it)."""
        with self.tenant.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tasks).where(
                tasks.c.assignee_id == principal.user_id, tasks.c.status == "open")).scalar_one())

    def record_status(self, principal: Principal, object_name: str, rid: Any
                      ) -> dict[str, Any]:
        """A record's approval as its page shows it: the newest approval (when the reader
        may see it), whether the record is locked, and whether the reader may submit it now
        (the operation, a process whose criteria hold and whose submitters include them)."""
        with self.tenant.read() as conn:
            ctx = open_ctx(self.tenant, permission_engine, conn, principal, object_name)
            t = ctx.table
            row = conn.execute(sa.select(t).where(
                t.c.id == record_id(rid), t.c.deleted_at.is_(None),
                ctx.access.visibility(ctx.obj, t))).first()
            if row is None:
                raise NotFound(f"no {ctx.obj.name} record {rid}")
            latest = conn.execute(sa.select(instances.c.id, instances.c.state).where(
                instances.c.object_id == ctx.obj.id, instances.c.record_id == row.id)
                .order_by(instances.c.id.desc()).limit(1)).first()
            approval = None
            if latest is not None:
                try:
                    approval = detail(self.tenant, conn, principal, latest.id, self.lang)
                except NotFound:  # not involved: the state only, not who said what
                    approval = None
            running_now = latest is not None and latest.state == "running"
            chosen = None
            if not running_now and ctx.access.allowed(ctx.obj, "submit"):
                chosen = applicable(ctx, dict(row._mapping))
            can = chosen is not None and may_submit_to(principal, chosen) \
                and submit_refusal(ctx, row, chosen) is None
            return {"approval": approval,
                    "state": latest.state if latest is not None else None,
                    "locked": sharing.lock_of(conn, ctx.obj.id, row.id) is not None,
                    "can_submit": can}

    def submissions(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        with self.tenant.read() as conn:
            rows = conn.execute(sa.select(instances).where(
                instances.c.submitter_id == principal.user_id)
                .order_by(instances.c.id.desc()).limit(limit)).all()
        return [_summary(r) for r in rows]

    def detail(self, principal: Principal, instance_id: Any) -> dict[str, Any]:
        with self.tenant.read() as conn:
            return detail(self.tenant, conn, principal, instance_id, self.lang)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _summary(r: Any) -> dict[str, Any]:
    return {"id": r.id, "object": r.object, "record": r.record_id, "process": r.process,
            "process_version": r.process_version, "state": r.state,
            "submitted_at": _iso(r.submitted_at), "finished_at": _iso(r.finished_at)}


__all__ = ["ACTIONS", "ApprovalService", "TooSoon", "submit_in", "submit_refusal"]
