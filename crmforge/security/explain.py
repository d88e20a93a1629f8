"""Explanations: why may (or may not) this user do this to this record?

The explanation walks the levels in the order the engine applies them and names the level
and rule that decided. It evaluates the same predicates the engine puts into queries, one
part at a time, so the answer cannot drift from what reads and writes do.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..metadata.model import ObjectDef
from .engine import Access, Decision
from .sharing import lock_of

READ_LIKE = frozenset({"read", "export", "print"})
#: Operations whose reach is the scope of the roles that grant them (not update/delete's).
OWN_SCOPE_OPERATIONS = frozenset({"transfer", "share"})


def explain(conn: sa.Connection, access: Access, obj: ObjectDef, table: sa.Table,
            record_id: int | None, operation: str, *, active: bool = True) -> Decision:
    p = access.principal
    if not active:
        return Decision(False, "login", f"user '{p.label}' is inactive and cannot sign in")
    if access.unrestricted:
        if record_id is not None:
            row = _row(conn, table, record_id)
            if row is None:
                return Decision(False, "person", f"{obj.name} record {record_id} does not exist")
            denial = access.status_denial(obj, row, operation, (), lock_of(conn, obj.id, record_id))
            if denial:
                return Decision(False, "status", denial)
        return Decision(True, "role", f"'{p.label}' is an administrator")
    grant = access.grant(obj)
    if operation not in (grant.operations if grant else ()):
        roles = ", ".join(sorted(p.roles)) or "no roles"
        if record_id is not None and operation == "read" and _in(conn, table, record_id,
                                                                  access.visibility(obj, table)):
            return Decision(True, "person", "temporary access while holding an approval task")
        return Decision(False, "operation", f"none of the user's roles ({roles}) grants "
                                            f"'{operation}' on {obj.name}")
    sources = ", ".join(grant.sources.get(operation, ())) if grant else ""
    if record_id is None:
        return Decision(True, "operation", f"'{operation}' on {obj.name} is granted by {sources}")
    row = _row(conn, table, record_id)
    if row is None:
        return Decision(False, "person", f"{obj.name} record {record_id} does not exist")
    write = operation not in READ_LIKE
    op = operation if operation in OWN_SCOPE_OPERATIONS else None
    if not _in(conn, table, record_id, access.visibility(obj, table, write=write, op=op)):
        scope = grant.scope_for(write=write, op=op) if grant else "none"
        return Decision(False, "department" if scope.startswith("department") else "person",
                        f"the record is outside the user's data scope '{scope}' "
                        f"(owner {row['owner_id']}, department {row['department_id']}) and "
                        "not shared with them" + (" for editing" if write else ""))
    denial = access.status_denial(obj, row, operation, (), lock_of(conn, obj.id, record_id))
    if denial:
        return Decision(False, "status", denial)
    return Decision(True, _deciding_level(conn, access, obj, table, record_id, write, op),
                    f"'{operation}' granted by {sources}; the record is within reach "
                    f"(scope '{grant.scope_for(write=write, op=op) if grant else 'none'}')")


def _row(conn: sa.Connection, table: sa.Table, record_id: int) -> Any:
    row = conn.execute(sa.select(table).where(table.c.id == record_id,
                                              table.c.deleted_at.is_(None))).first()
    return None if row is None else row._mapping


def _in(conn: sa.Connection, table: sa.Table, record_id: int, predicate: Any) -> bool:
    return conn.execute(sa.select(table.c.id).where(table.c.id == record_id, predicate)).first() \
        is not None


def _deciding_level(conn: sa.Connection, access: Access, obj: ObjectDef, table: sa.Table,
                    record_id: int, write: bool, op: str | None = None) -> str:
    """Which level let the record through: own/department scope, hierarchy or a share."""
    g = access.grant(obj)
    scope = g.scope_for(write=write, op=op) if g else "none"
    if scope == "all":
        return "department"
    parts = access.scope_parts(scope, table)
    if parts and _in(conn, table, record_id, parts[0]):
        return "person"
    if len(parts) > 1 and _in(conn, table, record_id, parts[1]):
        return "department"
    return "role" if access.plan and access.plan.subordinate_roles else "person"
