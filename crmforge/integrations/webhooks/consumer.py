"""The webhooks' consumer of record events (``runtime.events``): one delivery row per
matching webhook and event, written with the consumer's cursor.

``wants`` is asked on every record write, inside it, so it answers from memory: the
(event, object) pairs the tenant's active webhooks subscribe to, cached per tenant and
reloaded when a webhook changes in this process (after that change commits) and at most
``REFRESH_SECONDS`` after a change made by another process. In that window an event of
a newly subscribed pair may not be recorded in the outbox, so a new webhook receives the
events of writes that commit at most a few seconds after it was registered elsewhere
(decision 0024). ``handle`` itself reads the webhooks afresh, in its transaction.

A payload holds the record as the webhook's owner may see it, read through the record
service when the event is handled (moments after the write commits): the owner's field
permissions and masks apply, a record the owner cannot see is ``null``, and ``changes``
keeps only the fields the owner may read. A deleted record is ``null`` (it is in the
recycle bin: ``object`` and ``record_id`` say which it was). The payload is stored, so
every attempt and a resend carry the same body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ...core.errors import CRMError
from ...metadata.model import ObjectDef, Snapshot
from ...runtime import masking
from ...runtime.context import open_ctx
from ...runtime.events import EventName, changes_json
from ...runtime.fields import SYSTEM_FIELD_DEFS
from ...runtime.instance import Tenant
from ...runtime.records import RecordService
from ...security import accounts
from ...security.engine import engine as permission_engine
from ...security.principal import Principal
from ...security.tables import users
from . import runner
from .documents import ALL
from .store import PENDING, deliveries, ensure_tables, iso, names, now, webhooks

NAME = "webhooks"
#: How long this process trusts its list of subscriptions without reading it again.
REFRESH_SECONDS = 5.0
#: System fields a change may name (``owner`` is the owner on a transfer event).
_SYSTEM_CHANGES = frozenset(SYSTEM_FIELD_DEFS) | {"owner"}


@dataclass
class _Subscriptions:
    loaded: float
    pairs: list[tuple[frozenset[str], frozenset[str]]] = field(default_factory=list)

    def match(self, event: str, obj: str) -> bool:
        return any((ALL in ev or event in ev) and (ALL in ob or obj in ob)
                   for ev, ob in self.pairs)


_cache: dict[str, _Subscriptions] = {}
_lock = threading.Lock()


def invalidate(tenant: Tenant) -> None:
    """A webhook of ``tenant`` changed in this process: read them again on next use."""
    with _lock:
        _cache.pop(tenant.key, None)


def _matches(row: Any, event: str, obj: str) -> bool:
    ev, ob = names(row.events), names(row.objects)
    return (ALL in ev or event in ev) and (ALL in ob or obj in ob)


def _subscriptions(tenant: Tenant) -> _Subscriptions:
    with _lock:
        found = _cache.get(tenant.key)
    if found is not None and time.monotonic() - found.loaded < REFRESH_SECONDS:
        return found
    ensure_tables(tenant)
    with tenant.read() as conn:
        rows = conn.execute(sa.select(webhooks.c.events, webhooks.c.objects)
                            .where(webhooks.c.active)).all()
    found = _Subscriptions(time.monotonic(), [
        (frozenset(names(r.events)), frozenset(names(r.objects))) for r in rows])
    with _lock:
        _cache[tenant.key] = found
    return found


class _Views:
    """What each owner sees of the records of one batch of events (read once each)."""

    def __init__(self, tenant: Tenant, conn: sa.Connection, snapshot: Snapshot) -> None:
        self.tenant, self.conn, self.snapshot = tenant, conn, snapshot
        self.records = RecordService(tenant)
        self._principals: dict[int, Principal | None] = {}
        self._fields: dict[tuple[int, str], frozenset[str]] = {}
        self._seen: dict[tuple[int, str, int], dict[str, Any] | None] = {}

    def principal(self, user_id: int) -> Principal | None:
        if user_id not in self._principals:
            name = self.conn.execute(sa.select(users.c.username).where(
                users.c.id == user_id)).scalar()
            try:
                self._principals[user_id] = None if name is None else \
                    accounts.principal_of(self.conn, str(name))
            except CRMError:  # no longer active: sees nothing
                self._principals[user_id] = None
        return self._principals[user_id]

    def readable(self, owner: Principal, obj: ObjectDef) -> frozenset[str]:
        key = (int(owner.user_id or 0), obj.id)
        if key not in self._fields:
            ctx = open_ctx(self.tenant, permission_engine, self.conn, owner, obj.name)
            masked = masking.row_paths(ctx, obj)
            self._fields[key] = frozenset(
                n for n in ctx.access.readable(obj) if n not in masked) | _SYSTEM_CHANGES
        return self._fields[key]

    def record(self, owner: Principal, obj: ObjectDef, record_id: int) -> dict[str, Any] | None:
        key = (int(owner.user_id or 0), obj.id, record_id)
        if key not in self._seen:
            try:
                self._seen[key] = self.records.get(owner, obj.name, record_id)
            except CRMError:  # not visible to the owner (or gone): nothing of it
                self._seen[key] = None
        return self._seen[key]

    def payload(self, owner_id: int, event: Any, obj: ObjectDef | None) -> dict[str, Any]:
        record: dict[str, Any] | None = None
        changes: dict[str, Any] = {}
        owner = self.principal(owner_id)
        if owner is not None and obj is not None and event.event != EventName.DELETED:
            record = self.record(owner, obj, int(event.record_id))
            if record is not None:
                readable = self.readable(owner, obj)
                changes = {k: v for k, v in changes_json(event).items() if k in readable}
        return {"event": event.event, "tenant": self.tenant.name,
                "object": obj.name if obj is not None else event.object,
                "record_id": int(event.record_id), "occurred_at": iso(event.occurred_at),
                "record": record, "changes": changes}


class WebhookConsumer:
    """The ``EventConsumer`` of webhooks (wired by ``crmforge.composition``)."""

    name = NAME

    def wants(self, tenant: Tenant, snapshot: Snapshot, event: str, obj: ObjectDef) -> bool:
        return _subscriptions(tenant).match(event, obj.name)

    def handle(self, tenant: Tenant, conn: sa.Connection, rows: Sequence[Any]) -> None:
        ensure_tables(tenant)
        hooks = conn.execute(sa.select(webhooks.c.id, webhooks.c.events, webhooks.c.objects,
                                       webhooks.c.owner_id).where(webhooks.c.active)
                             .order_by(webhooks.c.id)).all()
        if not hooks:
            return
        snapshot = tenant.snapshot(conn)
        views = _Views(tenant, conn, snapshot)
        at = now()
        new: list[dict[str, Any]] = []
        for event in rows:
            obj = snapshot.object_by_id(event.object_id)
            name = obj.name if obj is not None else event.object
            for hook in hooks:
                if not _matches(hook, event.event, name):
                    continue
                body = views.payload(int(hook.owner_id), event, obj)
                new.append({"webhook_id": hook.id, "event_id": event.id, "event": event.event,
                            "object": name, "object_id": event.object_id,
                            "record_id": event.record_id, "status": PENDING, "attempts": 0,
                            "next_attempt_at": at, "created_at": at,
                            "payload": json.dumps(body, ensure_ascii=False,
                                                  separators=(",", ":"), default=str)})
        if new:
            conn.execute(deliveries.insert(), new)
            tenant.after_commit(lambda: runner.kick(tenant))


consumer = WebhookConsumer()

__all__ = ["NAME", "REFRESH_SECONDS", "WebhookConsumer", "consumer", "invalidate"]
