"""The organisation: departments (a tree kept with a closure table) and users' roles and
departments. Roles themselves are metadata (``metadata/roles.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from ..core.names import NAME_PATTERN
from .accounts import revoke_all
from .credentials import credentials_changed, sharing_widened
from .login import check_login_settings
from .passwords import check_policy, hash_password
from .tables import department_closure, departments, user_roles, users


def _now() -> Any:
    return clock.now().replace(tzinfo=None)


def _label(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value or \
            not all(k in ("zh", "en") and isinstance(v, str) for k, v in value.items()):
        raise ValidationFailed("a label is {\"zh\": ..., \"en\": ...}", {"label": ["invalid"]})
    return json.dumps(dict(value), ensure_ascii=False)


# -- departments --------------------------------------------------------------------------
def department_id(conn: sa.Connection, name: Any) -> int:
    found = conn.execute(sa.select(departments.c.id).where(departments.c.name == name)).scalar() \
        if isinstance(name, str) else None  # a number or a list names no department
    if found is None:
        raise NotFound(f"no department named '{str(name)[:40]}'")
    return int(found)


def department_doc(conn: sa.Connection, row: Any) -> dict[str, Any]:
    parent = None
    if row.parent_id is not None:
        parent = conn.execute(sa.select(departments.c.name).where(
            departments.c.id == row.parent_id)).scalar()
    head = None
    if row.head_user_id is not None:
        head = conn.execute(sa.select(users.c.username).where(
            users.c.id == row.head_user_id)).scalar()
    return {"id": row.id, "name": row.name, "label": json.loads(row.label) if row.label else None,
            "parent": parent, "head": head}


def list_departments(conn: sa.Connection) -> list[dict[str, Any]]:
    return [department_doc(conn, r) for r in
            conn.execute(sa.select(departments).order_by(departments.c.name))]


def get_department(conn: sa.Connection, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(departments).where(departments.c.name == name)).first()
    if row is None:
        raise NotFound(f"no department named '{name[:40]}'")
    return department_doc(conn, row)


def create_department(conn: sa.Connection, body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise BadRequest("send {\"name\", \"label\", \"parent\"}")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValidationFailed("a department name has lowercase ASCII letters, digits and '_'",
                               {"name": ["invalid"]})
    if conn.execute(sa.select(departments.c.id).where(departments.c.name == name)).first():
        raise Conflict(f"a department named '{name}' already exists", {"name": ["taken"]})
    parent_id = department_id(conn, body["parent"]) if body.get("parent") else None
    result = conn.execute(departments.insert().values(
        name=name, label=_label(body.get("label")), parent_id=parent_id, created_at=_now()))
    pk = result.inserted_primary_key
    assert pk is not None
    new_id = int(pk[0])
    # The new node is its own ancestor (depth 0) and below each ancestor of its parent.
    rows = [{"ancestor_id": new_id, "descendant_id": new_id, "depth": 0}]
    if parent_id is not None:
        rows += [{"ancestor_id": a, "descendant_id": new_id, "depth": d + 1} for a, d in
                 conn.execute(sa.select(department_closure.c.ancestor_id,
                                        department_closure.c.depth)
                              .where(department_closure.c.descendant_id == parent_id))]
    conn.execute(department_closure.insert(), rows)
    # Nobody is in the new department yet, so no reader's branches change; raised all the
    # same, so that every new link of the tree raises it (tests/unit/test_sharing_writes).
    sharing_widened(conn)
    if body.get("head"):
        set_department_head(conn, new_id, body["head"])
    return get_department(conn, name)


def set_department_head(conn: sa.Connection, dept_id: int, username: Any) -> None:
    uid = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar() \
        if isinstance(username, str) else None
    if uid is None:
        raise ValidationFailed(f"no user '{str(username)[:40]}'", {"head": ["no such user"]})
    conn.execute(departments.update().where(departments.c.id == dept_id).values(head_user_id=uid))


def update_department(conn: sa.Connection, name: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise BadRequest("send the fields to change")
    dept = department_id(conn, name)
    if "name" in body and body["name"] != name:
        raise ValidationFailed("departments keep their name", {"name": ["cannot change"]})
    if "label" in body:
        conn.execute(departments.update().where(departments.c.id == dept)
                     .values(label=_label(body["label"])))
    if "head" in body:
        if body["head"] is None:
            conn.execute(departments.update().where(departments.c.id == dept)
                         .values(head_user_id=None))
        else:
            set_department_head(conn, dept, body["head"])
    if "parent" in body:
        _move(conn, dept, department_id(conn, body["parent"]) if body["parent"] else None)
    return get_department(conn, name)


def _move(conn: sa.Connection, dept: int, new_parent: int | None) -> None:
    """Re-hang a subtree: drop its links to old ancestors, link it below the new parent.
    A share to a department reaches its sub-departments, so the moved people may now be
    reached by shares to their new ancestors: the sharing version rises."""
    sharing_widened(conn)
    c = department_closure
    subtree = [r[0] for r in conn.execute(sa.select(c.c.descendant_id).where(c.c.ancestor_id == dept))]
    if new_parent is not None and new_parent in subtree:
        raise ValidationFailed("a department cannot move below itself", {"parent": ["cycle"]})
    conn.execute(c.delete().where(c.c.descendant_id.in_(subtree),
                                  c.c.ancestor_id.not_in(subtree)))
    if new_parent is not None:
        ancestors = conn.execute(sa.select(c.c.ancestor_id, c.c.depth)
                                 .where(c.c.descendant_id == new_parent)).all()
        below = conn.execute(sa.select(c.c.descendant_id, c.c.depth)
                             .where(c.c.ancestor_id == dept)).all()
        conn.execute(c.insert(), [
            {"ancestor_id": a, "descendant_id": d, "depth": ad + dd + 1}
            for a, ad in ancestors for d, dd in below])
    conn.execute(departments.update().where(departments.c.id == dept).values(parent_id=new_parent))


def delete_department(conn: sa.Connection, name: str) -> None:
    dept = department_id(conn, name)
    if conn.execute(sa.select(departments.c.id).where(departments.c.parent_id == dept)).first():
        raise Conflict("the department has sub-departments; move or remove them first")
    if conn.execute(sa.select(users.c.id).where(users.c.department_id == dept)).first():
        raise Conflict("the department has members; move them first")
    conn.execute(department_closure.delete().where(department_closure.c.descendant_id == dept))
    conn.execute(departments.delete().where(departments.c.id == dept))


# -- users ----------------------------------------------------------------------------------
def user_doc(conn: sa.Connection, row: Any) -> dict[str, Any]:
    dept = None
    if row.department_id is not None:
        dept = conn.execute(sa.select(departments.c.name).where(
            departments.c.id == row.department_id)).scalar()
    roles = sorted(r[0] for r in conn.execute(
        sa.select(user_roles.c.role).where(user_roles.c.user_id == row.id)))
    return {"id": row.id, "username": row.username, "display_name": row.display_name,
            "email": row.email, "department": dept, "roles": roles, "is_admin": bool(row.is_admin),
            "active": bool(row.active),
            "locked": row.locked_until is not None and row.locked_until > _now(),
            "login_hours": json.loads(row.login_hours) if row.login_hours else None,
            "ip_ranges": json.loads(row.ip_ranges) if row.ip_ranges else None}


def user_row(conn: sa.Connection, username: str) -> Any:
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user named '{username[:40]}'")
    return row


def list_users(conn: sa.Connection) -> list[dict[str, Any]]:
    return [user_doc(conn, r) for r in conn.execute(sa.select(users).order_by(users.c.username))]


def set_roles(conn: sa.Connection, user_id: int, roles: Iterable[str], known: Iterable[str]) -> None:
    if not isinstance(roles, (list, tuple)) or not all(isinstance(r, str) for r in roles):
        raise ValidationFailed("roles is a list of role names", {"roles": ["not a list of names"]})
    roles = list(roles)
    unknown = sorted(set(roles) - set(known))
    if unknown:
        raise ValidationFailed(f"no role named {', '.join(unknown)}", {"roles": unknown})
    conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
    if roles:
        conn.execute(user_roles.insert(), [{"user_id": user_id, "role": r} for r in set(roles)])
    credentials_changed(conn)  # cached principals carry their roles


def update_user(conn: sa.Connection, username: str, body: Mapping[str, Any],
                known_roles: Iterable[str]) -> dict[str, Any]:
    row = user_row(conn, username)
    values: dict[str, Any] = {}
    for key, longest in (("display_name", 200), ("email", 254)):
        if key in body:
            if body[key] is not None and not (isinstance(body[key], str)
                                              and len(body[key]) <= longest):
                raise ValidationFailed(f"{key} is text of at most {longest} characters",
                                       {key: [f"text of at most {longest} characters"]})
            values[key] = body[key]
    if "department" in body:
        values["department_id"] = department_id(conn, body["department"]) \
            if body["department"] else None
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise ValidationFailed("active is true or false", {"active": ["boolean"]})
        values["active"] = body["active"]
    if "is_admin" in body:
        if not isinstance(body["is_admin"], bool):
            raise ValidationFailed("is_admin is true or false", {"is_admin": ["boolean"]})
        values["is_admin"] = body["is_admin"]
    if "password" in body:
        values["password_hash"] = hash_password(check_policy(body["password"]))
    if body.get("unlock"):
        values.update(locked_until=None, failed_logins=0)
    problems = check_login_settings({k: body[k] for k in ("login_hours", "ip_ranges")
                                     if k in body})
    if problems:
        raise ValidationFailed(problems[0], {"login_hours": problems})
    for key in ("login_hours", "ip_ranges"):
        if key in body:
            values[key] = None if body[key] is None else json.dumps(body[key])
    if values:
        conn.execute(users.update().where(users.c.id == row.id).values(**values))
        credentials_changed(conn)  # cached principals carry these columns
    if "password_hash" in values or values.get("active") is False:
        # A new password or a deactivation ends every token and session of the user.
        revoke_all(conn, row.id)
    if "roles" in body:
        if not isinstance(body["roles"], list):
            raise ValidationFailed("roles is a list of role names", {"roles": ["list"]})
        set_roles(conn, row.id, body["roles"], known_roles)
    return user_doc(conn, user_row(conn, username))
