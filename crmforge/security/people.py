"""Administering people: users and departments, each change checked and audited.

The REST API, the designer's pages and the command line all change users and departments
through these functions, so a refusal (a weak password, a taken name, a department moved
below itself) is the same refusal everywhere and every change lands in the admin audit.
Each runs inside the caller's write transaction: a refusal raises and the caller's
transaction rolls back, so nothing half-made stays behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import NotFound, ValidationFailed
from . import accounts, audit, org
from .principal import Principal

#: Settings of a user that creation passes on to ``org.update_user`` (checked as a change).
USER_SETTINGS = ("display_name", "email", "login_hours", "ip_ranges")


def _without_password(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "password"}


def add_user(conn: sa.Connection, actor: Principal, body: Mapping[str, Any],
             known_roles: Iterable[str]) -> dict[str, Any]:
    """Create a user from ``{"username", "password", "department", "roles", "is_admin", ...}``.

    An unknown department is a refusal of the ``department`` input (422), not a missing
    page: the name came from the form or body being checked."""
    username = body.get("username")
    if not isinstance(username, str):
        raise ValidationFailed("the username is not valid",
                               {"username": ["1-150 characters, no spaces around"]})
    known = list(known_roles)
    dept = None
    if body.get("department"):
        try:
            dept = org.department_id(conn, body["department"])
        except NotFound as exc:
            raise ValidationFailed(exc.message, {"department": [exc.message]}) from exc
    uid = accounts.create_user(conn, username, str(body.get("password") or ""),
                               department_id=dept, is_admin=body.get("is_admin") is True)
    org.set_roles(conn, uid, body.get("roles") or [], known)
    doc = org.update_user(conn, username, {k: body[k] for k in USER_SETTINGS if k in body},
                          known)
    audit.admin_action(conn, actor, "create user", username, _without_password(body))
    return doc


def change_user(conn: sa.Connection, actor: Principal, username: str,
                body: Mapping[str, Any], known_roles: Iterable[str],
                action: str = "change user") -> dict[str, Any]:
    """Change a user (roles, department, active, unlock, password...); an unknown
    department is a refusal of the ``department`` input."""
    org.user_row(conn, username)  # an unknown user is a missing page, not a bad input
    try:
        doc = org.update_user(conn, username, body, list(known_roles))
    except NotFound as exc:
        raise ValidationFailed(exc.message, {"department": [exc.message]}) from exc
    audit.admin_action(conn, actor, action, username, _without_password(body))
    return doc


def reset_password(conn: sa.Connection, actor: Principal, username: str,
                   password: Any) -> int:
    """Set a new password chosen by an administrator: the policy applies, it must differ
    from the old one, a lockout is lifted and every token and session of the user ends.
    Returns how many credentials were revoked."""
    revoked = accounts.change_password(conn, username, password)
    audit.admin_action(conn, actor, "reset password", username, {"revoked": revoked})
    return revoked


def add_department(conn: sa.Connection, actor: Principal, body: Any) -> dict[str, Any]:
    """Create a department; an unknown parent is a refusal of the ``parent`` input."""
    try:
        doc = org.create_department(conn, body)
    except NotFound as exc:
        raise ValidationFailed(exc.message, {"parent": [exc.message]}) from exc
    audit.admin_action(conn, actor, "create department", doc["name"], body)
    return doc


def change_department(conn: sa.Connection, actor: Principal, name: str,
                      body: Any) -> dict[str, Any]:
    """Relabel, move or give a head to a department; moving it below itself (or below
    one of its own sub-departments) is refused, an unknown parent is a bad ``parent``."""
    org.department_id(conn, name)  # an unknown department is a missing page
    try:
        doc = org.update_department(conn, name, body)
    except NotFound as exc:
        raise ValidationFailed(exc.message, {"parent": [exc.message]}) from exc
    audit.admin_action(conn, actor, "change department", name, body)
    return doc


def remove_department(conn: sa.Connection, actor: Principal, name: str) -> None:
    org.delete_department(conn, name)
    audit.admin_action(conn, actor, "delete department", name)
