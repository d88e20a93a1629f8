"""The context of one record operation: connection, principal, snapshot, object, access."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import NotFound
from ..core.ids import parse_id
from ..metadata.model import ObjectDef, Snapshot
from ..security.engine import Access, PermissionEngine
from ..security.principal import Principal
from .events import Cause
from .instance import Tenant
from .storage.tables import CompiledSchema


@dataclass(frozen=True)
class Ctx:
    tenant: Tenant
    conn: sa.Connection
    principal: Principal
    snapshot: Snapshot
    schema: CompiledSchema
    access: Access
    obj: ObjectDef
    table: sa.Table
    #: Whether writes leave per-record history entries. Off only for a backfill, which
    #: records one entry for its whole run instead (``backfill.run``).
    record_history: bool = True
    #: Why a system write happens (an automation rule) and how deep in a chain of
    #: event-caused writes it is; None for a person's or a program's write.
    cause: Cause | None = None

    def other(self, obj: ObjectDef) -> Ctx:
        """The same context for another object (children, lookup targets)."""
        return Ctx(self.tenant, self.conn, self.principal, self.snapshot, self.schema,
                   self.access, obj, self.schema.table(obj.name), self.record_history,
                   self.cause)


def open_ctx(tenant: Tenant, engine: PermissionEngine, conn: sa.Connection,
             principal: Principal, object_name: str) -> Ctx:
    snap = tenant.snapshot(conn)
    obj = snap.object(object_name)
    if obj is None:
        raise NotFound(f"no object named '{str(object_name)[:40]}'")
    schema = tenant.schema(snap)
    return Ctx(tenant, conn, principal, snap, schema, engine.access(
        principal, snap, conn, probe=tenant.dialect.probes_visibility,
        branches=tenant.branches), obj,
               schema.table(obj.name))


def record_id(value: Any) -> int:
    found = parse_id(value)
    if found is None:
        raise NotFound(f"no record {str(value)[:40]}")
    return found


def utcnow() -> dt.datetime:
    """Naive UTC in whole milliseconds, the form stored in every table: what a reader gets
    as JSON (and sends back in a filter or a cursor) is exactly the stored value."""
    now = clock.now()
    return now.replace(tzinfo=None, microsecond=now.microsecond // 1000 * 1000)
