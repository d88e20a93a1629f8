"""Who approves: resolving a step's approvers against the organisation and the record.

A step may combine sources; the result is every active user they name, in a stable order.
A step that resolves to nobody goes to the process administrator (the tenant's first
active administrator) rather than passing silently: an approval nobody gave is never
recorded as given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core.ids import parse_id
from ..security.tables import departments, user_roles, users


def active_ids(conn: sa.Connection, ids: Iterable[Any]) -> list[int]:
    wanted = [i for i in (parse_id(i) if isinstance(i, int) else None for i in ids)
              if i is not None]
    if not wanted:
        return []
    found = {r[0] for r in conn.execute(sa.select(users.c.id).where(
        users.c.id.in_(wanted), users.c.active))}
    return [i for i in dict.fromkeys(wanted) if i in found]


def user_by_ref(conn: sa.Connection, ref: Any) -> int | None:
    """An active user by id or username."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        col: Any = users.c.id
        ref = parse_id(ref)  # beyond any id: nobody (and never bound, the driver refuses it)
        if ref is None:
            return None
    elif isinstance(ref, str) and ref:
        col = users.c.username
    else:
        return None
    found = conn.execute(sa.select(users.c.id).where(col == ref, users.c.active)).scalar()
    return int(found) if found is not None else None


def process_admin(conn: sa.Connection) -> int:
    found = conn.execute(sa.select(users.c.id).where(users.c.is_admin, users.c.active)
                         .order_by(users.c.id).limit(1)).scalar()
    assert found is not None, "a tenant always has an administrator"
    return int(found)


def department_head(conn: sa.Connection, department_id: Any) -> int | None:
    if department_id is None:
        return None
    head = conn.execute(sa.select(departments.c.head_user_id).where(
        departments.c.id == department_id)).scalar()
    return int(head) if head is not None else None


def manager_of(conn: sa.Connection, user_id: Any) -> int | None:
    """The head of the user's department; for the head, the head of the parent department."""
    if user_id is None:
        return None
    dept = conn.execute(sa.select(users.c.department_id).where(users.c.id == user_id)).scalar()
    while dept is not None:
        row = conn.execute(sa.select(departments.c.head_user_id, departments.c.parent_id).where(
            departments.c.id == dept)).first()
        if row is None:
            return None
        if row.head_user_id is not None and row.head_user_id != user_id:
            return int(row.head_user_id)
        dept = row.parent_id
    return None


def resolve(conn: sa.Connection, approvers: Mapping[str, Any], record: Mapping[str, Any],
            chosen: Iterable[int] = ()) -> list[int]:
    """Active users a step's ``approvers`` names for ``record`` (possibly none)."""
    ids: list[Any] = []
    names = list(approvers.get("users", []))
    if names:
        found = {r.username: r.id for r in conn.execute(sa.select(users.c.id, users.c.username)
                                                       .where(users.c.username.in_(names)))}
        ids += [found[n] for n in names if n in found]
    role = approvers.get("role")
    if role:
        ids += [r[0] for r in conn.execute(sa.select(user_roles.c.user_id).where(
            user_roles.c.role == role).order_by(user_roles.c.user_id))]
    if approvers.get("manager"):
        ids.append(manager_of(conn, record.get("owner_id")))
    if approvers.get("department_head"):
        ids.append(department_head(conn, record.get("department_id")))
    field = approvers.get("field")
    if field:
        ids.append(record.get(field))
    if approvers.get("chosen_by_previous"):
        ids += list(chosen)
    return active_ids(conn, [i for i in ids if i is not None])


def usernames(conn: sa.Connection, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {r.id: r.username for r in conn.execute(
        sa.select(users.c.id, users.c.username).where(users.c.id.in_(wanted)))}


def email_of(conn: sa.Connection, user_id: int) -> str | None:
    found = conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar()
    return str(found) if found else None


__all__ = ["active_ids", "department_head", "email_of", "manager_of", "process_admin",
           "resolve", "user_by_ref", "usernames"]
