"""Record shares, temporary access for approvers, and record locks.

These are the person-level (4) and status-level (7) facts the engine reads; the workflow
module calls ``grant_temporary_access``/``revoke_temporary_access`` and ``lock``/``unlock``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import NotFound, ValidationFailed
from .credentials import sharing_widened
from .tables import record_locks, shares, temporary_access


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None)


def add_share(conn: sa.Connection, object_id: str, record_id: int, *, user_id: int | None,
              department_id: int | None, access: str, by: int | None) -> int:
    if access not in ("read", "edit"):
        raise ValidationFailed("access is 'read' or 'edit'", {"access": ["read or edit"]})
    if (user_id is None) == (department_id is None):
        raise ValidationFailed("share with one user or one department",
                               {"user": ["user or department"]})
    existing = conn.execute(sa.select(shares.c.id).where(
        shares.c.object_id == object_id, shares.c.record_id == record_id,
        shares.c.user_id.is_(None) if user_id is None else shares.c.user_id == user_id,
        shares.c.department_id.is_(None) if department_id is None
        else shares.c.department_id == department_id)).scalar()
    sharing_widened(conn)  # a new share, or read widened to edit
    if existing is not None:
        conn.execute(shares.update().where(shares.c.id == existing).values(access=access))
        return int(existing)
    result = conn.execute(shares.insert().values(
        object_id=object_id, record_id=record_id, user_id=user_id, department_id=department_id,
        access=access, created_by=by, created_at=_now()))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def list_shares(conn: sa.Connection, object_id: str, record_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(shares).where(
        shares.c.object_id == object_id, shares.c.record_id == record_id).order_by(shares.c.id))
    return [{"id": r.id, "user_id": r.user_id, "department_id": r.department_id,
             "access": r.access} for r in rows]


def remove_share(conn: sa.Connection, object_id: str, record_id: int, share_id: int) -> None:
    result = conn.execute(shares.delete().where(
        shares.c.id == share_id, shares.c.object_id == object_id,
        shares.c.record_id == record_id))
    if result.rowcount == 0:
        raise NotFound(f"no share {share_id} on this record")


def grant_temporary_access(conn: sa.Connection, object_id: str, record_id: int, user_id: int,
                           reason: str, expires_at: dt.datetime | None = None) -> int:
    """Read access to one record while a user holds a task about it (approvals)."""
    sharing_widened(conn)
    result = conn.execute(temporary_access.insert().values(
        object_id=object_id, record_id=record_id, user_id=user_id, access="read",
        reason=reason[:200], expires_at=expires_at, created_at=_now()))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def revoke_temporary_access(conn: sa.Connection, object_id: str, record_id: int,
                            user_id: int | None = None, reason: str | None = None) -> int:
    q = temporary_access.delete().where(temporary_access.c.object_id == object_id,
                                        temporary_access.c.record_id == record_id)
    if user_id is not None:
        q = q.where(temporary_access.c.user_id == user_id)
    if reason is not None:
        q = q.where(temporary_access.c.reason == reason)
    return int(conn.execute(q).rowcount)


def lock(conn: sa.Connection, object_id: str, record_id: int, reason: str,
         editable_fields: Iterable[str] = ()) -> None:
    """Lock a record (e.g. while in approval): only ``editable_fields`` may change."""
    unlock(conn, object_id, record_id)
    conn.execute(record_locks.insert().values(
        object_id=object_id, record_id=record_id, reason=reason[:200],
        editable_fields=json.dumps(sorted(editable_fields)), locked_at=_now()))


def unlock(conn: sa.Connection, object_id: str, record_id: int) -> None:
    conn.execute(record_locks.delete().where(record_locks.c.object_id == object_id,
                                             record_locks.c.record_id == record_id))


def lock_of(conn: sa.Connection, object_id: str, record_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(record_locks).where(
        record_locks.c.object_id == object_id, record_locks.c.record_id == record_id)).first()
    return None if row is None else dict(row._mapping)
