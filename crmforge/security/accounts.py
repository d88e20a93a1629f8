"""Users and API tokens: creation, sign-in with lockout, token resolution and revocation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import Conflict, Unauthorized, ValidationFailed
from ..core.ids import hash_token, new_token
from .passwords import DUMMY_HASH, check_policy, hash_password, verify_password
from .principal import Principal
from .tables import signin_audit, tokens, user_roles, users

TOKEN_LIFETIME = dt.timedelta(hours=12)
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None)


def create_user(
    conn: sa.Connection,
    username: str,
    password: str,
    *,
    is_admin: bool = False,
    department_id: int | None = None,
    display_name: str | None = None,
) -> int:
    if not isinstance(username, str) or not 1 <= len(username) <= 150 or username.strip() != username:
        raise ValidationFailed("the username is not valid", {"username": ["1-150 characters, no spaces around"]})
    check_policy(password)
    exists = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if exists:
        raise Conflict(f"a user named '{username}' already exists", {"username": ["already taken"]})
    result = conn.execute(
        users.insert().values(
            username=username, password_hash=hash_password(password), is_admin=is_admin,
            active=True, department_id=department_id, display_name=display_name,
            failed_logins=0, created_at=_now(),
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _audit(conn: sa.Connection, username: str, user_id: int | None, ok: bool, reason: str,
           remote_addr: str | None) -> None:
    conn.execute(signin_audit.insert().values(
        username=username[:150], user_id=user_id, at=_now(), success=ok, reason=reason,
        remote_addr=remote_addr,
    ))


def sign_in(conn: sa.Connection, username: Any, password: Any,
            remote_addr: str | None = None) -> tuple[str, dt.datetime]:
    """Check the password and issue a token; every attempt is audited.

    The same message answers a wrong name and a wrong password, and a missing user still
    costs one hash verification, so neither text nor timing reveals which names exist.
    """
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise ValidationFailed("username and password are required",
                               {"username": ["required"], "password": ["required"]})
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    now = _now()
    if row is None:
        verify_password(DUMMY_HASH, password)
        _audit(conn, username, None, False, "unknown user", remote_addr)
        raise Unauthorized("wrong username or password")
    if row.locked_until is not None and row.locked_until > now:
        _audit(conn, username, row.id, False, "locked", remote_addr)
        raise Unauthorized("this account is locked after repeated failed sign-ins; try again later")
    if not verify_password(row.password_hash, password):
        failed = row.failed_logins + 1
        locked = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
        conn.execute(users.update().where(users.c.id == row.id).values(
            failed_logins=0 if locked else failed, locked_until=locked))
        _audit(conn, username, row.id, False, "wrong password", remote_addr)
        raise Unauthorized("wrong username or password")
    if not row.active:
        _audit(conn, username, row.id, False, "inactive", remote_addr)
        raise Unauthorized("wrong username or password")
    conn.execute(users.update().where(users.c.id == row.id).values(failed_logins=0, locked_until=None))
    token = new_token()
    expires = now + TOKEN_LIFETIME
    conn.execute(tokens.insert().values(
        token_hash=hash_token(token), user_id=row.id, created_at=now, expires_at=expires))
    _audit(conn, username, row.id, True, "ok", remote_addr)
    return token, expires


def principal_for_token(conn: sa.Connection, token: str) -> Principal:
    """The principal behind a bearer token, with its roles, in one query."""
    rows = conn.execute(
        sa.select(users.c.id, users.c.username, users.c.is_admin, users.c.department_id,
                  users.c.active, tokens.c.expires_at, tokens.c.revoked_at, user_roles.c.role)
        .select_from(tokens.join(users, users.c.id == tokens.c.user_id)
                     .outerjoin(user_roles, user_roles.c.user_id == users.c.id))
        .where(tokens.c.token_hash == hash_token(token))
    ).all()
    if not rows or rows[0].revoked_at is not None or not rows[0].active:
        raise Unauthorized("the token is not valid")
    row = rows[0]
    if row.expires_at <= _now():
        raise Unauthorized("the token has expired")
    roles = frozenset(r.role for r in rows if r.role is not None)
    return Principal(row.id, row.username, bool(row.is_admin), row.department_id, roles=roles)


def revoke_token(conn: sa.Connection, token: str) -> None:
    conn.execute(tokens.update().where(tokens.c.token_hash == hash_token(token))
                 .values(revoked_at=_now()))


def check_policy_or_raise(password: Any) -> None:
    """The password policy, for callers outside a request (command line, tenant creation)."""
    check_policy(password, "admin_password")
