"""Notes and follow-ups on records: short texts users attach to a record they can see,
optionally with a date to follow up on (decision 0035).

A note belongs to its record: reading and adding notes both need the record to be visible
to the user (the record read's own lookup, so an invisible or deleted record is a 404 and
nothing is stored). Notes are not record changes: they need no update permission, leave
the record's version alone and are kept in their own table, keyed by the object's
immutable id so a renamed object keeps them. A record moved to the recycle bin hides its
notes (its lookup no longer finds it); a restore shows them again; a purge deletes them.

The table is created on first use (``lazy_tables``), so tenants made before notes existed
get it without a migration step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from ..core.errors import ValidationFailed
from ..security.principal import Principal
from ..security.tables import users
from .context import utcnow
from .instance import Tenant
from .note_tables import ensure, notes
from .records import RecordService

#: The longest note kept; a longer text is refused, never cut.
MAX_LENGTH = 4000
#: The most notes a record's page or a GET lists (newest first).
LIST_LIMIT = 100

def _doc(row: Any) -> dict[str, Any]:
    return {"id": int(row.id), "body": row.body,
            "follow_up": row.follow_up.isoformat() if row.follow_up else None,
            "author": row.author, "at": row.at.isoformat(timespec="milliseconds") + "Z"}


def _storable(text: str) -> bool:
    """Text every database keeps: no NUL, no lone surrogate (a form may post either)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def check(body: Any, follow_up: Any) -> tuple[str, dt.date | None]:
    """The note's text and follow-up date, or a 422 naming each bad input (the messages
    are in the server-message catalogue, so pages show them in the user's language)."""
    errors: dict[str, list[str]] = {}
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        errors["body"] = ["a note needs some text"]
    elif len(text) > MAX_LENGTH:
        errors["body"] = [f"a note has at most {MAX_LENGTH} characters"]
    elif not _storable(text):
        errors["body"] = ["the note holds characters that cannot be stored"]
    date: dt.date | None = None
    if follow_up not in (None, ""):
        try:
            date = dt.date.fromisoformat(str(follow_up))
        except ValueError:
            errors["follow_up"] = ["enter the follow-up date as YYYY-MM-DD"]
    if errors:
        raise ValidationFailed("the note was not added", errors)
    return text, date


class NoteService:
    """Notes of one tenant's records, each call checking the record's visibility."""

    def __init__(self, tenant: Tenant, records: RecordService | None = None) -> None:
        self.tenant = tenant
        self.records = records or RecordService(tenant)

    def list(self, principal: Principal, object_name: str, rid: Any,
             limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The record's notes, newest first (404 when the record is not visible)."""
        ensure(self.tenant)
        with self.tenant.read() as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            rows = conn.execute(sa.select(notes).where(
                notes.c.object_id == ctx.obj.id, notes.c.record_id == row.id)
                .order_by(notes.c.id.desc()).limit(limit)).all()
        return [_doc(r) for r in rows]

    def add(self, principal: Principal, object_name: str, rid: Any, body: Any,
            follow_up: Any = None) -> dict[str, Any]:
        """Attach a note to a record the principal can see (404 otherwise, nothing kept;
        the record is looked up first, so bad input on an invisible record is a 404 too)."""
        ensure(self.tenant)
        with self.tenant.write() as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            text, date = check(body, follow_up)
            values = {"object_id": ctx.obj.id, "record_id": row.id, "body": text,
                      "follow_up": date, "author_id": principal.user_id,
                      "author": principal.label, "at": utcnow()}
            key = conn.execute(notes.insert().values(**values)).inserted_primary_key
            assert key is not None
        return _doc(_Row(id=int(key[0]), **values))

    def owner_name(self, owner_id: Any) -> str | None:
        """The display name (else user name) of a record's owner, for the record's header.
        Owners are people of the tenant; naming one reveals no record data."""
        if not isinstance(owner_id, int):
            return None
        with self.tenant.read() as conn:
            found = conn.execute(sa.select(users.c.display_name, users.c.username)
                                 .where(users.c.id == owner_id)).first()
        return (found.display_name or found.username) if found is not None else None


class _Row:
    """A just-inserted note in the shape ``_doc`` reads."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


__all__ = ["LIST_LIMIT", "MAX_LENGTH", "NoteService", "check"]
