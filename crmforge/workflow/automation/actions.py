"""The five actions of a rule, each run through the platform's own paths.

Record writes go through the write pipeline (``pipeline.update``, ``prepare_new`` and
``create``) as the rule's own system principal, labelled ``automation: <rule>`` (what
history shows as the actor), with ``Ctx.cause`` naming the rule and the chain depth one
deeper than the event that started it: the events of those writes carry that depth, and
the consumer stops a chain at ``events.MAX_DEPTH``.

Each action returns a short text for the run log; a failure raises, and the runner rolls
back that action alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ...core.errors import CRMError, NotFound, ValidationFailed
from ...core.ids import parse_id
from ...metadata.model import Snapshot
from ...rules import Resolver
from ...runtime import pipeline
from ...runtime.context import Ctx, open_ctx, utcnow
from ...runtime.events import Cause
from ...runtime.formulas import FormulaReader, RelatedReader
from ...runtime.instance import Tenant
from ...security.engine import engine as permission_engine
from ...security.principal import Principal
from ...security.tables import users
from .. import mail_results
from ..notify import notify
from . import delivery, recipients, templates
from .compiled import Rule

#: An ``each`` update changes at most this many linked records per run.
EACH_LIMIT = 2000


def principal_for(rule: str) -> Principal:
    """The system principal a rule acts as; its label is what history records."""
    return Principal(user_id=None, username=f"automation: {rule}", is_admin=True,
                     is_system=True)


@dataclass
class Firing:
    """One rule started for one record, by an event or a date."""

    tenant: Tenant
    conn: sa.Connection
    snapshot: Snapshot
    rule: Rule
    record_id: int
    #: The depth of what started it (the event's; 0 for a date).
    depth: int
    #: ``record.updated`` ..., or ``date <day>``.
    trigger: str
    event_id: int | None = None
    deleted: bool = False
    #: The webhook call the last action queued (the runner links it to its run row).
    call: int | None = None
    _ctx: Ctx | None = None
    _record: dict[str, Any] | None = None

    @property
    def ctx(self) -> Ctx:
        if self._ctx is None:
            base = open_ctx(self.tenant, permission_engine, self.conn,
                            principal_for(self.rule.name), self.rule.obj.name)
            self._ctx = dataclasses.replace(
                base, cause=Cause(self.rule.reason(), self.depth + 1))
        return self._ctx

    def row(self) -> Any | None:
        t = self.ctx.table
        q = sa.select(t).where(t.c.id == self.record_id)
        if not self.deleted:
            q = q.where(t.c.deleted_at.is_(None))
        return self.conn.execute(q).first()

    def record(self) -> dict[str, Any] | None:
        """The record as the system sees it now (non-stored formulas computed)."""
        if self._record is None:
            row = self.row()
            if row is None:
                return None
            values = dict(row._mapping)
            reader = FormulaReader(self.ctx, related=RelatedReader(self.ctx, system=True))
            values.update(reader.values(values))
            self._record = values
        return self._record

    def forget(self) -> None:
        """The record changed: read it again for the next action."""
        self._record = None

    def resolver(self) -> Resolver:
        record = self.record() or {}
        return RelatedReader(self.ctx, system=True).resolver(self.rule.obj, record)


def run(firing: Firing, index: int) -> str:
    """Run action ``index`` of the firing's rule; a line for the run log."""
    action = firing.rule.actions[index]
    kind = action["type"]
    if kind == "update":
        return _update(firing, index)
    if kind == "create":
        return _create(firing, index)
    if kind == "notify":
        return _notify(firing, action)
    if kind == "email":
        return _email(firing, action)
    return _webhook(firing, action)


def _values(firing: Firing, index: int, obj: Any) -> dict[str, Any]:
    return _computed(firing.rule.expressions[index], firing.record() or {},
                     firing.resolver(), obj)


def _computed(expressions: Mapping[str, Any], record: Mapping[str, Any], resolve: Resolver,
              obj: Any) -> dict[str, Any]:
    """Field values of ``obj`` from expressions over ``record``, in the fields' JSON form."""
    out: dict[str, Any] = {}
    for name, expr in expressions.items():
        f = obj.field(name)
        if f is None:
            raise ValidationFailed(f"'{obj.name}' has no field '{name}' any more",
                                   {name: ["unknown field"]})
        value = expr.evaluate(record, resolve)
        if value is not None:  # expression values are Decimal, dates...: the field's own
            # form first; what does not convert the pipeline reports with the field's message
            with contextlib.suppress(TypeError, ValueError):
                value = f.kind.to_python(f, value, lenient=True)
        out[name] = None if value is None else f.kind.to_json(f, value)
    return out


def _update(firing: Firing, index: int) -> str:
    if "each" in firing.rule.actions[index]:
        return _update_each(firing, index)
    row = firing.row()
    if row is None:
        raise NotFound(f"{firing.rule.obj.name} record {firing.record_id} is gone")
    payload = _values(firing, index, firing.rule.obj)
    changed = pipeline.update(firing.ctx, row, payload)
    firing.forget()
    return ("changed " + ", ".join(sorted(changed))) if changed else "nothing to change"


def _update_each(firing: Firing, index: int) -> str:
    """Update every record of ``each.object`` whose ``each.link`` is this record and whose
    ``each.condition`` holds (at most ``EACH_LIMIT`` per run), each in its own savepoint:
    one refused record (a validation rule, a status rule) is counted, not fatal to the
    others. The ``set`` expressions read the linked record."""
    each = firing.rule.actions[index]["each"]
    target = firing.snapshot.object(str(each["object"]))
    if target is None:
        raise NotFound(f"no object named '{each['object']}' any more")
    ctx = firing.ctx.other(target)
    t, reader = ctx.table, RelatedReader(ctx, system=True)
    rows = firing.conn.execute(sa.select(t).where(
        t.c[str(each["link"])] == firing.record_id, t.c.deleted_at.is_(None))
        .order_by(t.c.id).limit(EACH_LIMIT + 1)).all()
    condition = firing.rule.filters[index] if index < len(firing.rule.filters) else None
    changed = refused = 0
    for row in rows[:EACH_LIMIT]:
        values = dict(row._mapping)
        values.update(FormulaReader(ctx, related=reader).values(values))
        resolve = reader.resolver(target, values)
        if condition is not None and condition.evaluate(values, resolve) is not True:
            continue
        try:
            with firing.conn.begin_nested():
                payload = _computed(firing.rule.expressions[index], values, resolve, target)
                if pipeline.update(ctx, row, payload):
                    changed += 1
        except CRMError:
            refused += 1
    firing.forget()
    text = f"changed {changed} {target.name} record(s)"
    if refused:
        text += f", {refused} refused"
    if len(rows) > EACH_LIMIT:
        text += f"; stopped after {EACH_LIMIT} records"
    return text


def _create(firing: Firing, index: int) -> str:
    action = firing.rule.actions[index]
    target = firing.snapshot.object(str(action["object"]))
    if target is None:
        raise NotFound(f"no object named '{action['object']}' any more")
    ctx = firing.ctx.other(target)
    payload = _values(firing, index, target)
    owner_expr = firing.rule.owners[index]
    record = firing.record() or {}
    owner = owner_expr.evaluate(record, firing.resolver()) if owner_expr is not None \
        else record.get("owner_id")
    owner_id = parse_id(owner) if isinstance(owner, (int, Decimal)) else None
    found = None if owner_id is None else firing.conn.execute(
        sa.select(users.c.department_id).where(users.c.id == owner_id, users.c.active)).first()
    [new_id] = pipeline.create(  # owned by them from the start: no transfer afterwards
        ctx, [pipeline.prepare_new(ctx, payload)],
        owner=(owner_id, found.department_id) if owner_id is not None and found else None)
    return f"created {target.name} {new_id}"


def _merge(firing: Firing) -> recipients.Merge:
    record = firing.record()
    if record is None:
        raise NotFound(f"{firing.rule.obj.name} record {firing.record_id} is gone")
    return recipients.Merge(firing.tenant, firing.conn, firing.snapshot, firing.rule.obj,
                            record, firing.rule.name)


def _notify(firing: Firing, action: Mapping[str, Any]) -> str:
    merge = _merge(firing)
    ids = recipients.user_ids(firing.conn, action["to"], merge.record, firing.rule.obj)
    for uid in ids:
        values = merge.for_user(uid)
        body = templates.both(action["message"], values, "\n")
        subject = templates.both(action["message"], values, " / ").replace("\n", " ")
        notify(firing.conn, uid, "automation", subject[:300], body)
    return f"notified {len(ids)} user(s)" if ids else "nobody to notify"


def _email(firing: Firing, action: Mapping[str, Any]) -> str:
    merge = _merge(firing)
    to, obj, conn = action["to"], firing.rule.obj, firing.conn
    done: list[str] = []
    queued: list[int] = []
    for uid in recipients.user_ids(conn, to, merge.record, obj):
        values = merge.for_user(uid)
        address = conn.execute(sa.select(users.c.email).where(users.c.id == uid)).scalar()
        done.append(delivery.send_to_user(
            firing.tenant, conn, uid, address,
            templates.both(action["subject"], values, " / "),
            templates.both(action["body"], values, "\n\n"), queued))
    for address in recipients.addresses(to, merge.record, obj):
        values = merge.system()
        done.append(delivery.send_to_address(
            firing.tenant, conn, address, templates.both(action["subject"], values, " / "),
            templates.both(action["body"], values, "\n\n"), queued))
    if "delivery" in action:  # the outcome of each message goes back to this record
        mail_results.link(firing.tenant, conn, queued, obj.name, firing.record_id,
                          action["delivery"], firing.rule.name, firing.depth + 1)
    return "; ".join(done) or "nobody to e-mail"


def _webhook(firing: Firing, action: Mapping[str, Any]) -> str:
    record = firing.record() or {}
    obj = firing.rule.obj
    values = {f.name: None if record.get(f.name) is None else f.kind.to_json(f, record[f.name])
              for f in obj.fields if f.name in record}
    payload = {
        "rule": firing.rule.name, "event": firing.trigger, "tenant": firing.tenant.name,
        "object": obj.name, "record_id": firing.record_id,
        "occurred_at": utcnow().isoformat(timespec="milliseconds") + "Z",
        "record": {"id": firing.record_id, "version": record.get("version"), **values}}
    firing.call = delivery.queue_call(firing.conn, firing.rule.name, str(action["url"]),
                                      action.get("secret"), payload)
    return f"{action['url']}: queued"


__all__ = ["Firing", "principal_for", "run"]
