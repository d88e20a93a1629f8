"""API keys for integrations (the website, ERP, a call center): named bearer credentials.

A key is a token row of kind ``key`` (stored as its SHA-256, like every token) plus a row
here with its name. It acts with its user's permissions and login rules, never needs the
password (so password lockout does not stop it), expires only if given an expiry, and is
revoked at once and for good. The key itself is shown once, when it is made. Every use
updates its ``last_used_at`` (at most once a minute), and the reads it makes are in the
access audit under its user like any other.

The table (``tables.api_keys``) is created on first use in a tenant made before keys
existed (``checkfirst``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import NotFound, ValidationFailed
from ..core.ids import hash_token, new_token, parse_id
from .accounts import KEY
from .credentials import credentials_changed
from .principal import Principal
from .tables import api_keys, tokens

#: Keys one user may hold at once (revoked and expired ones do not count).
MAX_KEYS = 50
#: A key without an expiry: the tokens table needs a time.
NEVER = dt.datetime(9999, 12, 31)

def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None, microsecond=0)


def _ensure(conn: sa.Connection) -> None:
    api_keys.create(conn, checkfirst=True)


def _expiry(value: Any) -> dt.datetime:
    if value is None:
        return NEVER
    try:
        at = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("expires_at is an ISO 8601 date and time",
                               {"expires_at": ["not a date and time"]}) from None
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    if at <= _now():
        raise ValidationFailed("expires_at must be in the future",
                               {"expires_at": ["in the past"]})
    return at


def create(conn: sa.Connection, user_id: int, name: Any, expires_at: Any,
           by: Principal) -> dict[str, Any]:
    """A new key for ``user_id``; the answer holds the key, shown this once."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValidationFailed("a key needs a name of 1-100 characters", {"name": ["required"]})
    expires = _expiry(expires_at)
    _ensure(conn)
    live = conn.execute(sa.select(sa.func.count()).select_from(
        api_keys.join(tokens, tokens.c.id == api_keys.c.token_id)).where(
        api_keys.c.user_id == user_id, tokens.c.revoked_at.is_(None),
        tokens.c.expires_at > _now())).scalar_one()
    if live >= MAX_KEYS:
        raise ValidationFailed(f"a user holds at most {MAX_KEYS} live keys; revoke one first",
                               {"name": ["too many keys"]})
    value = "crmk_" + new_token()
    now = _now()
    token_id = int(conn.execute(tokens.insert().values(
        token_hash=hash_token(value), user_id=user_id, created_at=now, expires_at=expires,
        kind=KEY).returning(tokens.c.id)).scalar_one())
    key_id = int(conn.execute(api_keys.insert().values(
        token_id=token_id, user_id=user_id, name=name.strip(), created_by=by.label[:150],
        created_at=now).returning(api_keys.c.id)).scalar_one())
    return {**_doc(conn, key_id), "key": value}


def _doc(conn: sa.Connection, key_id: int) -> dict[str, Any]:
    row = conn.execute(_select().where(api_keys.c.id == key_id)).one()
    return _as_dict(row)


def _select() -> sa.Select[Any]:
    return sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.user_id, api_keys.c.created_by,
                     api_keys.c.created_at, tokens.c.expires_at, tokens.c.revoked_at,
                     tokens.c.last_used_at).join(tokens, tokens.c.id == api_keys.c.token_id)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _as_dict(row: Any) -> dict[str, Any]:
    return {"id": int(row.id), "name": row.name, "created_by": row.created_by,
            "created_at": _iso(row.created_at),
            "expires_at": None if row.expires_at >= NEVER else _iso(row.expires_at),
            "last_used_at": _iso(row.last_used_at), "revoked": row.revoked_at is not None}


def list_for(conn: sa.Connection, user_id: int) -> list[dict[str, Any]]:
    """A user's keys, newest first (never the keys themselves)."""
    _ensure(conn)
    return [_as_dict(r) for r in conn.execute(
        _select().where(api_keys.c.user_id == user_id).order_by(api_keys.c.id.desc()))]


def revoke(conn: sa.Connection, user_id: int, key_ref: Any) -> None:
    """Revoke one of ``user_id``'s keys at once; another user's key answers 404."""
    key_id = parse_id(key_ref)
    _ensure(conn)
    row = None if key_id is None else conn.execute(sa.select(api_keys.c.token_id).where(
        api_keys.c.id == key_id, api_keys.c.user_id == user_id)).first()
    if row is None:
        raise NotFound(f"no API key {str(key_ref)[:40]}")
    conn.execute(tokens.update().where(tokens.c.id == row.token_id,
                                       tokens.c.revoked_at.is_(None))
                 .values(revoked_at=_now()))
    credentials_changed(conn)


__all__ = ["MAX_KEYS", "api_keys", "create", "list_for", "revoke"]
