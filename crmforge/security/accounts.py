"""Users and their credentials: creation, sign-in with lockout and login restrictions,
credential resolution, revocation and password changes.

A credential is a row of ``sys_tokens``: ``kind`` "api" for a bearer token, "session" for a
browser session behind the session cookie (docs/decisions/0004-sessions.md). Only the
SHA-256 of the secret is stored, so a leaked table grants nothing. Every sign-in attempt,
and every later request refused by the login rules, is one row of ``sys_signin_audit``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from ..core.ids import hash_token, new_token
from ..metadata import store as meta_store
from ..metadata.store import meta_versions
from .credentials import CredentialCache, Resolved, credentials_changed
from .credentials import ensure as ensure_credentials_version
from .login import DEFAULT_POLICY, LoginPolicy, LoginRefused, refusal, restrictions
from .passwords import DUMMY_HASH, check_policy, hash_password, verify_password
from .principal import Principal
from .tables import signin_audit, tokens, user_roles, users

API = "api"
SESSION = "session"
#: An API key for an integration (security/api_keys.py): a bearer credential with a name,
#: an optional expiry, no password lockout, revoked only on purpose.
KEY = "key"

# Kept for callers that read the defaults; the numbers in force come from a LoginPolicy.
TOKEN_LIFETIME = DEFAULT_POLICY.token_lifetime
MAX_FAILED_LOGINS = DEFAULT_POLICY.max_failed_logins
LOCKOUT = DEFAULT_POLICY.lockout

#: Role documents by name for a metadata version (None: the current one). The web layer
#: passes one backed by the snapshot cache; the default reads the stored snapshot.
RoleSource = Callable[[sa.Connection, int | None], Mapping[str, Mapping[str, Any]]]

_TOUCH_EVERY = dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None)


def stored_roles(conn: sa.Connection, version: int | None) -> Mapping[str, Mapping[str, Any]]:
    """Role documents straight from the metadata store (no cache)."""
    q = sa.select(meta_versions.c.snapshot)
    q = q.where(meta_versions.c.version == (
        version if version is not None else sa.select(sa.func.max(meta_versions.c.version))
        .scalar_subquery()))
    text = conn.execute(q).scalar()
    if not text:
        return {}
    return {r["name"]: r for r in json.loads(text).get("roles", [])}


def create_user(
    conn: sa.Connection,
    username: str,
    password: str,
    *,
    is_admin: bool = False,
    department_id: int | None = None,
    display_name: str | None = None,
) -> int:
    if not isinstance(username, str) or not 1 <= len(username) <= 150 \
            or username.strip() != username:
        raise ValidationFailed("the username is not valid",
                               {"username": ["1-150 characters, no spaces around"]})
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


def create_users(conn: sa.Connection, specs: list[Mapping[str, Any]], password: str) -> list[int]:
    """Create several users sharing one password (a pack's sample organisation): the
    policy is checked and the password hashed once, which is most of a user's cost.
    ``specs``: ``{"username", "display_name", "department_id"}`` each; a taken or invalid
    username refuses them all (the caller's transaction rolls back)."""
    check_policy(password)
    hashed = hash_password(password)
    made = []
    for spec in specs:
        username = spec["username"]
        if not isinstance(username, str) or not 1 <= len(username) <= 150 \
                or username.strip() != username:
            raise ValidationFailed("the username is not valid",
                                   {"username": ["1-150 characters, no spaces around"]})
        if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
            raise Conflict(f"a user named '{username}' already exists",
                           {"username": ["already taken"]})
        result = conn.execute(users.insert().values(
            username=username, password_hash=hashed, is_admin=False, active=True,
            department_id=spec.get("department_id"), display_name=spec.get("display_name"),
            failed_logins=0, created_at=_now()))
        pk = result.inserted_primary_key
        assert pk is not None
        made.append(int(pk[0]))
    return made


# -- audit -------------------------------------------------------------------------------
def audit_signin(conn: sa.Connection, username: str, user_id: int | None, ok: bool,
                 reason: str, remote_addr: str | None, channel: str | None = None) -> None:
    conn.execute(signin_audit.insert().values(
        username=username[:150], user_id=user_id, at=_now(), success=ok, reason=reason[:100],
        remote_addr=(remote_addr or None) and remote_addr[:64], channel=channel,
    ))


def signin_log(conn: sa.Connection, *, username: str | None = None,
               success: bool | None = None, before: int | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
    """The newest sign-in audit rows first; ``before`` (an id) pages further back."""
    q = sa.select(signin_audit).order_by(signin_audit.c.id.desc()).limit(limit)
    if username is not None:
        q = q.where(signin_audit.c.username == username)
    if success is not None:
        q = q.where(signin_audit.c.success == success)
    if before is not None:
        q = q.where(signin_audit.c.id < before)
    return [{"id": r.id, "username": r.username, "success": bool(r.success),
             "reason": r.reason, "remote_addr": r.remote_addr, "channel": r.channel,
             "at": r.at.isoformat(timespec="seconds") + "Z"} for r in conn.execute(q)]


# -- sign-in -------------------------------------------------------------------------------
def _user_roles(conn: sa.Connection, user_id: int) -> list[str]:
    return [r[0] for r in conn.execute(
        sa.select(user_roles.c.role).where(user_roles.c.user_id == user_id))]


def _login_refusal(conn: sa.Connection, row: Any, role_names: list[str], version: int | None,
                   roles: RoleSource, remote_addr: str | None) -> LoginRefused | None:
    """The hours/address refusal for a user row, loading role documents only when a role
    could matter (not for administrators, not when the user's own settings decide)."""
    docs: list[Mapping[str, Any]] = []
    if role_names and not row.is_admin and (row.login_hours is None or row.ip_ranges is None):
        by_name = roles(conn, version)
        docs = [by_name[n] for n in role_names if n in by_name]
    ways = restrictions(row.login_hours, row.ip_ranges, docs, is_admin=bool(row.is_admin))
    return refusal(ways, clock.now(), remote_addr)


def sign_in(conn: sa.Connection, username: Any, password: Any,
            remote_addr: str | None = None, *, kind: str = API,
            roles: RoleSource = stored_roles, policy: LoginPolicy = DEFAULT_POLICY,
            channel: str | None = None) -> tuple[str, dt.datetime]:
    """Check the password and the login rules and issue a credential; every attempt is
    audited (commit the connection even when this raises).

    The same message answers a wrong name, a wrong password and an inactive account, and a
    missing user still costs one hash verification, so neither text nor timing reveals which
    names exist. Hours and address rules are checked only after the password is right, so
    only someone who knows it learns that the account is restricted.
    """
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise ValidationFailed("username and password are required",
                               {"username": ["required"], "password": ["required"]})
    channel = channel or ("form" if kind == SESSION else "token")
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    now = _now()
    if row is None:
        verify_password(DUMMY_HASH, password)
        audit_signin(conn, username, None, False, "unknown user", remote_addr, channel)
        raise Unauthorized("wrong username or password")
    if row.locked_until is not None and row.locked_until > now:
        audit_signin(conn, username, row.id, False, "locked", remote_addr, channel)
        raise Unauthorized("this account is locked after repeated failed sign-ins; try again "
                           "later or ask an administrator to unlock it")
    if not verify_password(row.password_hash, password):
        failed = row.failed_logins + 1
        locked = now + policy.lockout if failed >= policy.max_failed_logins else None
        conn.execute(users.update().where(users.c.id == row.id).values(
            failed_logins=0 if locked else failed, locked_until=locked))
        audit_signin(conn, username, row.id, False, "wrong password", remote_addr, channel)
        raise Unauthorized("wrong username or password")
    if not row.active:
        audit_signin(conn, username, row.id, False, "inactive", remote_addr, channel)
        raise Unauthorized("wrong username or password")
    refused = _login_refusal(conn, row, _user_roles(conn, row.id), None, roles, remote_addr)
    if refused is not None:
        audit_signin(conn, username, row.id, False, refused.reason, remote_addr, channel)
        raise refused
    conn.execute(users.update().where(users.c.id == row.id)
                 .values(failed_logins=0, locked_until=None))
    token = new_token()
    expires = now + (policy.session_lifetime if kind == SESSION else policy.token_lifetime)
    conn.execute(tokens.insert().values(
        token_hash=hash_token(token), user_id=row.id, created_at=now, expires_at=expires,
        kind=kind, last_used_at=now if kind == SESSION else None))
    ensure_credentials_version(conn)  # a tenant older than the counter gets it here
    audit_signin(conn, username, row.id, True, "ok", remote_addr, channel)
    return token, expires


# -- resolving credentials -------------------------------------------------------------------
@dataclass(frozen=True)
class Credential:
    """A resolved token or session: who, which row, and whether it needs a touch."""

    principal: Principal
    token_id: int
    kind: str
    expires_at: dt.datetime  # naive UTC, like every stored time
    stale: bool  # a session whose last use is old enough to be refreshed


def authenticate(conn: sa.Connection, token: str, *, kind: str = API,
                 remote_addr: str | None = None, roles: RoleSource = stored_roles,
                 policy: LoginPolicy = DEFAULT_POLICY,
                 cache: CredentialCache | None = None) -> Credential:
    """The principal behind a token or session.

    With a ``cache`` (the tenant's) a known token costs no query of its own: one statement
    reads the metadata and credentials versions, which the request needs for its snapshot
    anyway (``credentials``). Otherwise, or when the cached answer would refuse, one query
    reads the token with its user and roles. The metadata version found is noted on the
    connection, so the snapshot of this request comes without another query.

    Raises Unauthorized for an unknown, revoked, expired or idle credential or an inactive
    user, and LoginRefused (also a 401) outside the user's login hours or networks; the
    caller audits a LoginRefused.
    """
    token_hash = hash_token(token)
    versions = cache.versions(conn) if cache is not None else None
    if cache is not None and versions is not None:
        meta_store.note_version(conn, versions[0])
        cached = cache.get(token_hash, versions)
        if cached is not None:
            try:
                return _judge(conn, cached, versions[0], kind, remote_addr, roles, policy)
            except Unauthorized:
                cache.forget(token_hash)  # the database decides a refusal, never the cache
    resolved, meta_version = _resolve(conn, token_hash)
    meta_store.note_version(conn, meta_version)
    credential = _judge(conn, resolved, meta_version, kind, remote_addr, roles, policy)
    if cache is not None and versions is not None and versions[0] == meta_version \
            and resolved is not None:
        cache.put(token_hash, versions, resolved)
    return credential


def _resolve(conn: sa.Connection, token_hash: str) -> tuple[Resolved | None, int]:
    """The token's row with its user and roles, and the metadata version, in one query."""
    version = sa.select(sa.func.max(meta_versions.c.version)).scalar_subquery()
    rows = conn.execute(
        sa.select(users.c.id, users.c.username, users.c.is_admin, users.c.department_id,
                  users.c.active, users.c.login_hours, users.c.ip_ranges,
                  tokens.c.id.label("token_id"), tokens.c.kind, tokens.c.expires_at,
                  tokens.c.revoked_at, tokens.c.last_used_at, user_roles.c.role,
                  version.label("meta_version"))
        .select_from(tokens.join(users, users.c.id == tokens.c.user_id)
                     .outerjoin(user_roles, user_roles.c.user_id == users.c.id))
        .where(tokens.c.token_hash == token_hash)
    ).all()
    if not rows:
        meta = conn.execute(sa.select(sa.func.max(meta_versions.c.version))).scalar()
        return None, int(meta or 0)
    row = rows[0]
    return Resolved(
        user_id=row.id, username=row.username, is_admin=bool(row.is_admin),
        department_id=row.department_id, active=bool(row.active),
        login_hours=row.login_hours, ip_ranges=row.ip_ranges, token_id=row.token_id,
        kind=row.kind, expires_at=row.expires_at, revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        roles=tuple(sorted(r.role for r in rows if r.role is not None)),
    ), int(row.meta_version or 0)


def _judge(conn: sa.Connection, row: Resolved | None, meta_version: int, kind: str,
           remote_addr: str | None, roles: RoleSource, policy: LoginPolicy) -> Credential:
    """Accept or refuse a resolved token: the same checks for a cached and a fresh row."""
    noun = "session" if kind == SESSION else "token"
    accepted = (API, KEY) if kind == API else (kind,)  # a bearer may be a token or a key
    if row is not None and row.kind == KEY:
        noun = "API key"
    if row is None or row.kind not in accepted or row.revoked_at is not None \
            or not row.active:
        raise Unauthorized(f"the {noun} is not valid; sign in again")
    now = _now()
    if row.expires_at <= now:
        raise Unauthorized(f"the {noun} has expired; sign in again")
    if kind == SESSION and row.last_used_at is not None \
            and row.last_used_at + policy.session_idle <= now:
        raise Unauthorized("the session ended after a period of inactivity; sign in again")
    role_names = list(row.roles)
    refused = _login_refusal(conn, row, role_names, meta_version, roles, remote_addr)
    if refused is not None:
        refused.username, refused.user_id = row.username, row.user_id
        raise refused
    principal = Principal(row.user_id, row.username, row.is_admin, row.department_id,
                          roles=frozenset(role_names))
    # Sessions and keys record their last use (at most once a minute): a session ends when
    # idle, and an administrator sees which keys are still in use.
    stale = row.kind in (SESSION, KEY) and (row.last_used_at is None
                                            or row.last_used_at + _TOUCH_EVERY <= now)
    return Credential(principal, row.token_id, row.kind, row.expires_at, stale)


def principal_for_token(conn: sa.Connection, token: str,
                        remote_addr: str | None = None) -> Principal:
    """The principal behind a bearer token, login rules included."""
    return authenticate(conn, token, remote_addr=remote_addr).principal


def principal_of(conn: sa.Connection, username: str) -> Principal:
    """An active user as a principal, for work done on their behalf without a sign-in
    (the command line acting as a tenant's administrator)."""
    row = conn.execute(sa.select(users).where(users.c.username == username,
                                              users.c.active)).first()
    if row is None:
        raise NotFound(f"no active user named '{username[:150]}'")
    return Principal(row.id, row.username, bool(row.is_admin), row.department_id,
                     roles=frozenset(_user_roles(conn, row.id)))


def touch(conn: sa.Connection, token_id: int) -> None:
    """Record that a session was used now (it ends after ``session_idle`` without use)."""
    conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=_now()))


# -- revocation and account changes ----------------------------------------------------------
def revoke_token(conn: sa.Connection, token: str) -> None:
    conn.execute(tokens.update().where(tokens.c.token_hash == hash_token(token),
                                       tokens.c.revoked_at.is_(None))
                 .values(revoked_at=_now()))
    credentials_changed(conn)


def revoke_credential(conn: sa.Connection, token_id: int) -> None:
    conn.execute(tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                 .values(revoked_at=_now()))
    credentials_changed(conn)


def revoke_all(conn: sa.Connection, user_id: int) -> int:
    """End every token and session of a user (not their API keys, which integrations
    hold and which are revoked one by one); returns how many were still live."""
    result = conn.execute(tokens.update().where(
        tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None), tokens.c.kind != KEY,
        tokens.c.expires_at > _now()).values(revoked_at=_now()))
    credentials_changed(conn)
    return int(result.rowcount or 0)


def _user_id(conn: sa.Connection, username: str) -> int:
    uid = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar()
    if uid is None:
        raise NotFound(f"no user named '{username[:40]}'")
    return int(uid)


def change_password(conn: sa.Connection, username: str, new_password: Any, *,
                    current_password: Any = None) -> int:
    """Set a new password and end every token and session of the user (a password change
    is how people recover from a leak, so old credentials must not survive it).

    With ``current_password`` (self-service) the old password must be given and right.
    Returns how many credentials were revoked.
    """
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user named '{username[:40]}'")
    if current_password is not None and not (
            isinstance(current_password, str) and verify_password(row.password_hash,
                                                                  current_password)):
        raise ValidationFailed("the current password is wrong",
                               {"current_password": ["wrong"]})
    password = check_policy(new_password)
    if verify_password(row.password_hash, password):
        raise ValidationFailed("the new password must differ from the old one",
                               {"password": ["same as before"]})
    conn.execute(users.update().where(users.c.id == row.id).values(
        password_hash=hash_password(password), failed_logins=0, locked_until=None))
    return revoke_all(conn, row.id)


def deactivate(conn: sa.Connection, username: str) -> int:
    """Deactivate a user and end their tokens and sessions (requests check ``active`` too,
    so this is belt and braces: a later reactivation does not revive old tokens)."""
    uid = _user_id(conn, username)
    conn.execute(users.update().where(users.c.id == uid).values(active=False))
    return revoke_all(conn, uid)


def unlock(conn: sa.Connection, username: str) -> None:
    """Lift a lockout before it runs out (admins: ``PATCH /admin/users/<name>`` with
    ``{"unlock": true}``, through ``org.update_user``)."""
    uid = _user_id(conn, username)
    conn.execute(users.update().where(users.c.id == uid).values(locked_until=None,
                                                                failed_logins=0))


def check_policy_or_raise(password: Any) -> None:
    """The password policy, for callers outside a request (command line, tenant creation)."""
    check_policy(password, "admin_password")
