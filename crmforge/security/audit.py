"""Access and admin audit (DOMAIN: who looked at or exported what must be traceable).

A read of a list page costs one row holding the page's ids, not one row per record, so
auditing stays cheap enough for every list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..core import clock
from .principal import Principal
from .tables import access_audit, admin_audit


def _now() -> Any:
    return clock.now().replace(tzinfo=None)


def record_access(conn: sa.Connection, principal: Principal, object_id: str, action: str,
                  record_ids: Sequence[int]) -> None:
    if not record_ids or principal.is_system:
        return
    conn.execute(access_audit.insert().values(
        user_id=principal.user_id, username=principal.label, object_id=object_id,
        action=action, record_ids=",".join(str(i) for i in record_ids),
        record_count=len(record_ids), at=_now()))


def admin_action(conn: sa.Connection, principal: Principal, action: str, target: str,
                 details: Any = None) -> None:
    conn.execute(admin_audit.insert().values(
        actor_id=principal.user_id, actor=principal.label, action=action, target=target[:200],
        details=None if details is None else json.dumps(details, ensure_ascii=False,
                                                        default=str)[:10000],
        at=_now()))


def access_log(conn: sa.Connection, *, user_id: int | None = None, object_id: str | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    q = sa.select(access_audit).order_by(access_audit.c.id.desc()).limit(limit)
    if user_id is not None:
        q = q.where(access_audit.c.user_id == user_id)
    if object_id is not None:
        q = q.where(access_audit.c.object_id == object_id)
    return [{"user": r.username, "object_id": r.object_id, "action": r.action,
             "records": [int(x) for x in r.record_ids.split(",") if x],
             "at": r.at.isoformat(timespec="seconds") + "Z"} for r in conn.execute(q)]


def admin_log(conn: sa.Connection, limit: int = 200) -> list[dict[str, Any]]:
    q = sa.select(admin_audit).order_by(admin_audit.c.id.desc()).limit(limit)
    return [{"actor": r.actor, "action": r.action, "target": r.target,
             "details": json.loads(r.details) if r.details else None,
             "at": r.at.isoformat(timespec="seconds") + "Z"} for r in conn.execute(q)]
