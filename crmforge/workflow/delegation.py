"""Delegation (委托): while someone is away, the approval tasks they would get go to a
delegate.

A user has at most one standing delegation ``{"to", "from", "until", "processes"}``
(bounds optional: open on that side; ``processes`` optional: all). It is read when a task
opens (``delegate_for``): a task created inside the window goes to the delegate, and the
trail records a ``delegate`` action so the approval shows the decision as taken on behalf
of the original approver. Tasks opened before the window keep their holder; closing the
window does not move tasks back. A delegate who delegates too is followed (at most a few
hops); cycles are refused when saved, so following always ends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import NotFound, ValidationFailed
from ..metadata.processes import process_docs
from ..runtime.context import utcnow
from ..runtime.instance import Tenant
from ..security.principal import Principal
from ..security.tables import users
from . import people
from .tables import delegations, ensure_tables

#: Hops followed from a delegate who delegates too (a chain longer than this is unusual).
MAX_HOPS = 5


def delegate_for(conn: sa.Connection, user_id: int, process: str,
                 now: dt.datetime | None = None) -> int:
    """Who receives a task meant for ``user_id`` now (``user_id`` when nobody does)."""
    at = now or utcnow()
    seen = {user_id}
    current = user_id
    for _ in range(MAX_HOPS):
        row = conn.execute(sa.select(delegations).where(
            delegations.c.user_id == current)).first()
        if row is None or not _covers(row, process, at):
            break
        nxt = people.user_by_ref(conn, int(row.to_id))
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        current = nxt
    return current


def _covers(row: Any, process: str, at: dt.datetime) -> bool:
    if row.starts_at is not None and at < row.starts_at:
        return False
    if row.ends_at is not None and at >= row.ends_at:
        return False
    wanted = json.loads(row.processes) if row.processes else None
    return wanted is None or process in wanted


def _when(value: Any, key: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} is an ISO date and time", {key: ["not a date and time"]})
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{key} is an ISO date and time such as 2026-03-02T09:00:00Z",
                               {key: ["not a date and time"]}) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


class Delegations:
    """Read, set and clear users' delegations (the API's ``/auth/me/delegation`` and the
    administrators' ``/admin/users/<u>/delegation``)."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        ensure_tables(tenant)

    def get(self, user_id: int) -> dict[str, Any] | None:
        with self.tenant.read() as conn:
            row = conn.execute(sa.select(delegations).where(
                delegations.c.user_id == user_id)).first()
            if row is None:
                return None
            names = people.usernames(conn, [int(row.to_id)])
            now = utcnow()
            return {"to": names.get(int(row.to_id)), "from": _iso(row.starts_at),
                    "until": _iso(row.ends_at),
                    "processes": json.loads(row.processes) if row.processes else None,
                    "active": (row.starts_at is None or now >= row.starts_at)
                    and (row.ends_at is None or now < row.ends_at)}

    def put(self, by: Principal, user_id: int, body: Any) -> dict[str, Any]:
        """Set the delegation; every problem refuses it (422) and nothing changes."""
        if not isinstance(body, Mapping):
            raise ValidationFailed('send {"to", "from", "until", "processes"}',
                                   {"$": ["not an object"]})
        with self.tenant.write() as conn:
            to = people.user_by_ref(conn, body.get("to"))
            if to is None:
                raise ValidationFailed(
                    f"no active user '{str(body.get('to'))[:40]}' to delegate to "
                    f"(没有可委托的在职用户)", {"to": ["no active user"]})
            if to == user_id:
                raise ValidationFailed("you cannot delegate to yourself (不能委托给自己)",
                                       {"to": ["yourself"]})
            start, end = _when(body.get("from"), "from"), _when(body.get("until"), "until")
            if start is not None and end is not None and end <= start:
                raise ValidationFailed("until must be after from (结束时间须晚于开始时间)",
                                       {"until": ["not after from"]})
            processes = body.get("processes")
            if processes is not None:
                known = process_docs(self.tenant.snapshot(conn))
                if not isinstance(processes, list) or not processes or not all(
                        isinstance(p, str) and p in known for p in processes):
                    raise ValidationFailed("processes lists existing process names "
                                           "(流程名称无效)", {"processes": ["unknown process"]})
            self._no_cycle(conn, user_id, to)
            conn.execute(delegations.delete().where(delegations.c.user_id == user_id))
            conn.execute(delegations.insert().values(
                user_id=user_id, to_id=to, starts_at=start, ends_at=end,
                processes=json.dumps(processes) if processes is not None else None,
                set_by=by.user_id, updated_at=utcnow()))
        found = self.get(user_id)
        assert found is not None
        return found

    def _no_cycle(self, conn: sa.Connection, user_id: int, to: int) -> None:
        """Following the delegate's own delegations must not come back (any window)."""
        current, seen = to, {user_id}
        while True:
            if current in seen:
                raise ValidationFailed("this delegation would make a cycle: the delegate "
                                       "delegates back to you (委托形成循环)",
                                       {"to": ["cycle"]})
            seen.add(current)
            nxt = conn.execute(sa.select(delegations.c.to_id).where(
                delegations.c.user_id == current)).scalar()
            if nxt is None:
                return
            current = int(nxt)

    def delete(self, user_id: int) -> None:
        with self.tenant.write() as conn:
            conn.execute(delegations.delete().where(delegations.c.user_id == user_id))

    def user_id(self, ref: str) -> int:
        """A user of the tenant by username (active or not: an administrator may clear an
        inactive user's delegation)."""
        with self.tenant.read() as conn:
            found = conn.execute(sa.select(users.c.id).where(users.c.username == ref)).scalar()
        if found is None:
            raise NotFound(f"no user '{ref[:40]}'")
        return int(found)


__all__ = ["Delegations", "delegate_for"]
