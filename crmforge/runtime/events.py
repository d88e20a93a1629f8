"""Record events through a transactional outbox (DESIGN §4 step 5, §9 events).

A write that somebody listens to (a webhook, an automation rule) adds one row per event to
``sys_events`` in the write's own transaction: a rolled-back write leaves no event, a
committed one always has its event. The rows are inserted last, just before the commit,
under a lock that orders the tenant's outbox writers (``Dialect.append_outbox``), so
event ids follow commit order. In the same moment the tenant's ``wiring.events_hint`` (from the
composition root) makes sure a job will hand them on; nothing is sent from inside the
transaction. Consumers read the outbox in id order from their own cursor
(``sys_event_cursors``), each in short transactions that move the cursor with the work
they did, so an event is handled once per consumer and in commit order, which is in
particular the order of the writes of each record.

What listens is decided by the composition root: it gives every tenant its consumers
(``Tenant.wiring.consumers``); each says which (event, object) pairs it wants, so a write
nobody listens to costs nothing here. The runtime defines the events and the outbox; the
consumers (webhooks, automation rules) live above it.
"""

from __future__ import annotations

import enum
import json
import weakref
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import sqlalchemy as sa

from ..metadata.model import ObjectDef, Snapshot
from .lazy_tables import LazyTables

if TYPE_CHECKING:
    from .context import Ctx
    from .instance import Tenant


class EventName(enum.StrEnum):
    """The event names of the public contract (DESIGN §9)."""

    CREATED = "record.created"
    UPDATED = "record.updated"
    DELETED = "record.deleted"
    RESTORED = "record.restored"
    OWNER_CHANGED = "record.owner_changed"
    APPROVAL_SUBMITTED = "approval.submitted"
    APPROVAL_APPROVED = "approval.approved"
    APPROVAL_REJECTED = "approval.rejected"


#: Every event name, in the contract's order.
EVENT_NAMES: tuple[str, ...] = tuple(e.value for e in EventName)

#: How deep writes caused by events may chain (an automation rule's update that fires a
#: rule that updates...): an event at this depth starts nothing more.
MAX_DEPTH = 5

events_metadata = sa.MetaData()
outbox = sa.Table(
    "sys_events",
    events_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("object_id", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("record_version", sa.Integer, nullable=True),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(150), nullable=False),
    #: ``{"<field>": [old, new]}`` in JSON values (updates; the values set, on a create).
    sa.Column("changes", sa.Text, nullable=True),
    #: Why a system write happened (``automation:<rule>``), shown in logs and payloads.
    sa.Column("reason", sa.String(200), nullable=True),
    #: How many event-caused writes led to this one (0: a person's or a program's write).
    sa.Column("depth", sa.Integer, nullable=False, default=0),
    #: Event-specific details (an approval's instance and process).
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_events_record", "object_id", "record_id", "id"),
)
cursors = sa.Table(
    "sys_event_cursors",
    events_metadata,
    sa.Column("consumer", sa.String(40), primary_key=True),
    sa.Column("last_id", sa.BigInteger, nullable=False),
)
_tables = LazyTables(events_metadata)


def ensure_tables(tenant: Tenant) -> None:
    """Create the outbox tables of a tenant made before events existed."""
    _tables.ensure(tenant)


@dataclass(frozen=True)
class RecordEvent:
    """One event of one record, as the write that caused it describes it."""

    name: EventName
    obj: ObjectDef
    record_id: int
    version: int | None = None
    #: Field name -> (old, new) in JSON values.
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Cause:
    """Why a write happens when no person asked for it: the consumer's reason and how
    deep in a chain of event-caused writes it is. Carried by the write's context."""

    reason: str
    depth: int


class EventConsumer(Protocol):
    """Something that handles events after commit (webhooks, automation rules)."""

    name: str

    def wants(self, tenant: Tenant, snapshot: Snapshot, event: str, obj: ObjectDef) -> bool:
        """Whether an event of ``obj`` named ``event`` is of interest: asked on every
        write, so it must answer from memory (per snapshot, or a short-lived cache)."""

    def handle(self, tenant: Tenant, conn: sa.Connection, rows: Sequence[Any]) -> None:
        """Handle outbox rows (in id order) inside the transaction that moves this
        consumer's cursor past them: what it writes commits with the cursor."""


def wanted(ctx: Ctx, name: EventName, obj: ObjectDef) -> bool:
    """Whether some consumer wants events ``name`` of ``obj``: asked before a batch's
    events are built, so a write nobody listens to builds none (a 10,000-row import
    would otherwise describe every row's values to throw them away)."""
    return any(c.wants(ctx.tenant, ctx.snapshot, name.value, obj)
               for c in ctx.tenant.wiring.consumers)


def emit(ctx: Ctx, events: Sequence[RecordEvent]) -> None:
    """Add ``events`` (those somebody wants) to the outbox of the write's transaction. They
    are inserted last, just before the commit (``flush``)."""
    consumers = ctx.tenant.wiring.consumers
    if not consumers or not events:
        return
    wanted = [e for e in events if any(
        c.wants(ctx.tenant, ctx.snapshot, e.name.value, e.obj) for c in consumers)]
    if not wanted:
        return
    from .context import utcnow  # (context imports this module: no import at the top)

    now = utcnow()
    p = ctx.principal
    cause = ctx.cause
    rows = [{
        "event": e.name.value, "object": e.obj.name, "object_id": e.obj.id,
        "record_id": e.record_id, "record_version": e.version, "occurred_at": now,
        "actor_id": p.user_id, "actor": p.label,
        "changes": _json({k: list(v) for k, v in e.changes.items()}) if e.changes else None,
        "reason": cause.reason[:200] if cause else None, "depth": cause.depth if cause else 0,
        "detail": _json(dict(e.detail)) if e.detail else None} for e in wanted]
    pending = _pending.get(ctx.conn)
    if pending is None:
        pending = _pending[ctx.conn] = []
        tenant, conn = ctx.tenant, ctx.conn
        tenant.before_commit(lambda: _flush(tenant, conn))
    pending.extend(rows)


#: Events of open write transactions, inserted when each is about to commit.
_pending: weakref.WeakKeyDictionary[sa.Connection, list[dict[str, Any]]] = \
    weakref.WeakKeyDictionary()


def _flush(tenant: Tenant, conn: sa.Connection) -> None:
    """Insert a transaction's events, last: under the outbox lock (held to the commit), so
    that event ids follow commit order and no reader ever sees an event before an earlier
    one that is still to commit; a cursor by id then misses nothing. Held only from here
    to the commit, the lock costs other writers little."""
    rows = _pending.pop(conn, None)
    if not rows:
        return
    _tables.ensure(tenant)
    hint = tenant.wiring.events_hint
    if hint is not None:
        hint.ready(tenant)
    waiting = tenant.dialect.append_outbox(conn, outbox_key(tenant), outbox, rows,
                                           hint.waiting if hint is not None else None)
    if hint is not None and not waiting:  # in the transaction: commits with the events
        hint.queue(tenant)


def outbox_key(tenant: Tenant) -> int:
    """The tenant's key of the outbox lock: stable across processes (a CRC, not hash())."""
    return zlib.crc32(tenant.name.encode()) - 2**31


def barrier(tenant: Tenant) -> None:
    """Wait until the writers now inserting events have committed: a consumer that starts
    after a writer saw it queued reads that writer's events (``event_jobs.handle``)."""
    with tenant.write() as conn:
        tenant.dialect.lock_outbox(conn, outbox_key(tenant))


def _json(value: Any) -> str:
    """Compact JSON, by orjson where it knows the values (every event of a create carries
    the record's fields), else by the standard library."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def consume(tenant: Tenant, consumer: EventConsumer, batch: int = 100) -> int:
    """Hand the events past ``consumer``'s cursor to it, ``batch`` at a time, each batch
    in one transaction with the cursor's move; returns how many it handled. Two processes
    consuming at once take turns on the cursor row (locked on PostgreSQL, the write lock
    on SQLite), so each event is handled once and in order."""
    _tables.ensure(tenant)
    handled = 0
    while True:
        with tenant.write() as conn:
            # The cursor row, made by whichever process comes first (two at once must not
            # collide), then locked: the other waits for this batch and starts after it.
            conn.execute(tenant.dialect.insert(cursors).values(
                consumer=consumer.name, last_id=0).on_conflict_do_nothing(
                index_elements=[cursors.c.consumer]))
            last = conn.execute(sa.select(cursors.c.last_id).where(
                cursors.c.consumer == consumer.name).with_for_update()).scalar_one()
            rows = conn.execute(sa.select(outbox).where(outbox.c.id > last)
                                .order_by(outbox.c.id).limit(batch)).all()
            if not rows:
                return handled
            consumer.handle(tenant, conn, rows)
            conn.execute(cursors.update().where(cursors.c.consumer == consumer.name)
                         .values(last_id=rows[-1].id))
            handled += len(rows)


def pending(tenant: Tenant, consumer_name: str) -> int:
    """Events the consumer has not handled yet (a sweep's question)."""
    _tables.ensure(tenant)
    with tenant.read() as conn:
        last = conn.execute(sa.select(cursors.c.last_id).where(
            cursors.c.consumer == consumer_name)).scalar() or 0
        return int(conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                .where(outbox.c.id > last)).scalar() or 0)


def changes_json(row: Any) -> dict[str, list[Any]]:
    """The ``changes`` of an outbox row."""
    return json.loads(row.changes) if row.changes else {}


def detail_json(row: Any) -> dict[str, Any]:
    return json.loads(row.detail) if row.detail else {}


__all__ = ["EVENT_NAMES", "MAX_DEPTH", "Cause", "EventConsumer", "EventName", "RecordEvent",
           "barrier", "changes_json", "consume", "cursors", "detail_json", "emit",
           "ensure_tables", "outbox", "outbox_key", "pending", "wanted"]
