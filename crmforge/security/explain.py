"""Explanations: why may (or may not) this user do this to this record?

The explanation walks the levels in the order the engine applies them and names the level
and rule that decided. It evaluates the same predicates the engine puts into queries, one
part at a time, so the answer cannot drift from what reads and writes do.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..metadata.model import ObjectDef
from ..metadata.roles import HIERARCHY_DEFAULT, role_docs
from .engine import Access, Decision
from .policy import subordinates
from .sharing import lock_of
from .tables import user_roles

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
                        "not shared with them" + (" for editing" if write else "")
                        + _hierarchy_note(conn, access, obj, row, write, op))
    denial = access.status_denial(obj, row, operation, (), lock_of(conn, obj.id, record_id))
    if denial:
        return Decision(False, "status", denial)
    level = _deciding_level(conn, access, obj, table, record_id, write, op)
    above = _above_owner(conn, access, obj, row, write, op) if level == "role" else None
    if above is not None:
        return Decision(True, level,
                        f"'{operation}' granted by {sources}; the record is within reach "
                        f"through the role hierarchy: role '{above[0]}' is above role "
                        f"'{above[1]}' held by the owner, and the record's department is "
                        "within the user's department tree")
    return Decision(True, level,
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
    hierarchy = access.hierarchy_part(g, table, write=write, op=op) if g else None
    if hierarchy is not None and _in(conn, table, record_id, hierarchy):
        return "role"
    return "person"  # a share or temporary access


def _owner_roles(conn: sa.Connection, row: Any) -> frozenset[str]:
    return frozenset(conn.execute(sa.select(user_roles.c.role).where(
        user_roles.c.user_id == row["owner_id"])).scalars())


def _above_owner(conn: sa.Connection, access: Access, obj: ObjectDef, row: Any, write: bool,
                 op: str | None) -> tuple[str, str] | None:
    """(superior role held by the user, role below it held by the record's owner) through
    which the hierarchy reaches the owner for these operations, if any."""
    g = access.grant(obj)
    if g is None:
        return None
    owner = _owner_roles(conn, row)
    for superior, below in sorted(g.superiors_for(write=write, op=op).items()):
        held = sorted(below & owner)
        if held:
            return superior, held[0]
    return None


def _hierarchy_note(conn: sa.Connection, access: Access, obj: ObjectDef, row: Any, write: bool,
                    op: str | None) -> str:
    """Why the hierarchy did not reach a record whose owner holds a role below the user's:
    an administrator who expects it to deserves to know which rule bounded it."""
    if access.plan is None:
        return ""
    found = _above_owner(conn, access, obj, row, write, op)
    if found is not None:
        return (f"; role '{found[0]}' is above role '{found[1]}' held by the owner, but the "
                "role hierarchy reaches only the user's department tree")
    ops = {op} if op is not None else {"update", "delete"} if write else {"read"}
    docs = role_docs(access.snapshot)
    owner = _owner_roles(conn, row)
    held = access.plan.roles
    for superior in sorted(held):
        g = docs[superior].get("permissions", {}).get(obj.name, {})
        if g.get("hierarchy", HIERARCHY_DEFAULT) or not ops & set(g.get("operations", [])):
            continue
        below = sorted((subordinates(docs, frozenset({superior})) - held) & owner)
        if below:
            return (f"; role '{superior}' is above role '{below[0]}' held by the owner, but "
                    f"its hierarchy access to {obj.name} is switched off")
    return ""
