"""Users and departments named in a request by id or by name (a transfer's new owner, a
share's user or department): looked up with bound values only, refused with a message
that echoes no more than what the client sent."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..core.errors import ValidationFailed
from ..core.ids import parse_id
from ..security.tables import departments, users


def user_id(conn: sa.Connection, ref: Any) -> int:
    """An active user by id or username. Anything else (a list, a number no id can be)
    names nobody: it is never bound as a parameter, where the driver would refuse it."""
    found = by_ref(conn, users.c.id, users.c.username, ref, users.c.active)
    if found is None:
        raise ValidationFailed(f"no active user {shown(ref)}", {"user": ["no such user"]})
    return found


def department_id(conn: sa.Connection, ref: Any) -> int:
    found = by_ref(conn, departments.c.id, departments.c.name, ref, sa.true())
    if found is None:
        raise ValidationFailed(f"no department {shown(ref)}",
                               {"department": ["no such department"]})
    return found


def by_ref(conn: sa.Connection, id_col: Any, name_col: Any, ref: Any, where: Any) -> int | None:
    """The id of the row named by ``ref``: a whole number is an id, text a name; only
    values the column can hold are ever bound (no overflow or type error in the driver)."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        rid = parse_id(ref)
        cond = id_col == rid if rid is not None else None
    else:
        cond = name_col == ref if isinstance(ref, str) and ref else None
    if cond is None:
        return None
    found = conn.execute(sa.select(id_col).where(cond, where)).scalar()
    return int(found) if found is not None else None


def shown(ref: Any) -> str:
    """A reference as echoed in a message: short, and only what the client sent as text or
    a whole number (never a float, a list or an object)."""
    if isinstance(ref, str) or (isinstance(ref, int) and not isinstance(ref, bool)
                                and abs(ref) < 10**40):
        return str(ref)[:40]
    return "(not a name or id)"


__all__ = ["by_ref", "department_id", "shown", "user_id"]
