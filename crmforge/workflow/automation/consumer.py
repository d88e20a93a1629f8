"""The event consumer that runs automation rules after commit (DESIGN §4 step 6).

Why after commit and not inside the write: a rule's actions (a follow-up task, a
notification, a webhook) must never happen for a write that rolled back, and a failing
rule must never refuse a person's save. The outbox gives both: the write only records its
event; this consumer reads it after commit from its own cursor, and whatever its rules
write commits together with the cursor's move (``events.consume``): exactly once.

Loop guard: a rule's writes carry the event's depth plus one (``Ctx.cause``), so their
own events are one deeper. An event at ``events.MAX_DEPTH`` starts nothing; each rule it
would have started gets a ``stopped`` line in the run log instead. A rule that updates
its own record on update therefore stops after ``MAX_DEPTH`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ...metadata.model import ObjectDef, Snapshot
from ...runtime import events
from ...runtime.events import EventName
from ...runtime.instance import Tenant
from . import delivery
from .actions import Firing
from .compiled import rules
from .runner import run_rule, stopped
from .tables import ensure_tables

NAME = "automation"


class AutomationConsumer:
    """Runs the rules of each event's object (``EventConsumer``)."""

    name = NAME

    def wants(self, tenant: Tenant, snapshot: Snapshot, event: str, obj: ObjectDef) -> bool:
        return rules(snapshot).wants(event, obj)

    def handle(self, tenant: Tenant, conn: sa.Connection, rows: Sequence[Any]) -> None:
        snapshot = tenant.snapshot(conn)
        ruleset = rules(snapshot)
        if not ruleset.by_object:
            return
        ensure_tables(tenant)  # joins this transaction
        queued = False
        for row in rows:
            obj = snapshot.object_by_id(row.object_id)
            if obj is None:
                continue
            matching = ruleset.matching(obj, row.event, events.changes_json(row))
            for rule in matching:
                firing = Firing(tenant, conn, snapshot, rule, int(row.record_id),
                                int(row.depth or 0), row.event, event_id=int(row.id),
                                deleted=row.event == EventName.DELETED.value)
                if firing.depth >= events.MAX_DEPTH:
                    stopped(firing)
                    continue
                run_rule(firing)
                queued = queued or any(a["type"] == "webhook" for a in rule.actions)
        if queued:
            tenant.after_commit(lambda: delivery.deliver_quietly(tenant))


__all__ = ["NAME", "AutomationConsumer"]
