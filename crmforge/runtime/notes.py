"""Notes and follow-ups on records: short texts users attach to a record they can see,
optionally with a date to follow up on (decision 0035).

A note belongs to its record: reading and adding notes both need the record to be visible
to the user (the record read's own lookup, so an invisible or deleted record is a 404 and
nothing is stored). Notes are not record changes: they need no update permission, leave
the record's version alone and are kept in their own table, keyed by the object's
immutable id so a renamed object keeps them. A record moved to the recycle bin hides its
notes (its lookup no longer finds it); a restore shows them again; a purge deletes them.

Its author may change a note and delete it; an administrator may delete any note. What a
note said before each change, and the whole of a deleted note, is kept in
``sys_note_changes``: a deleted note can be restored under its id, and nothing written on
a record is lost.

The tables are created on first use (``lazy_tables``), so tenants made before notes
existed get them without a migration step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ..core.errors import Forbidden, NotFound, ValidationFailed
from ..core.ids import parse_id
from ..security.principal import Principal
from ..security.tables import users
from .context import utcnow
from .instance import Tenant
from .note_tables import ensure, note_changes, notes
from .records import RecordService

#: The longest note kept; a longer text is refused, never cut.
MAX_LENGTH = 4000
#: The most notes a record's page or a GET lists (newest first).
LIST_LIMIT = 100
#: A value left out of an edit: the note keeps what it has.
_KEEP: Any = object()

def _stamp(at: dt.datetime | None) -> str | None:
    return at.isoformat(timespec="milliseconds") + "Z" if at is not None else None


def _doc(row: Any, edited_at: dt.datetime | None = None) -> dict[str, Any]:
    return {"id": int(row.id), "body": row.body,
            "follow_up": row.follow_up.isoformat() if row.follow_up else None,
            "author": row.author, "author_id": row.author_id, "at": _stamp(row.at),
            "edited_at": _stamp(edited_at)}


#: When a note was last edited (NULL: never), beside each listed note.
_EDITED_AT = sa.select(sa.func.max(note_changes.c.changed_at)).where(
    note_changes.c.note_id == notes.c.id, note_changes.c.kind == "edited"
).correlate(notes).scalar_subquery().label("edited_at")
_NOTE_COLUMNS = [notes.c[n] for n in ("id", "object_id", "record_id", "body", "follow_up",
                                      "author_id", "author", "at")]


def _storable(text: str) -> bool:
    """Text every database keeps: no NUL, no lone surrogate (a form may post either)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def check(body: Any, follow_up: Any, verb: str = "added") -> tuple[str, dt.date | None]:
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
        raise ValidationFailed("the note was not changed" if verb == "changed"
                               else "the note was not added", errors)
    return text, date


def _check_author(note: Any, principal: Principal) -> None:
    """Only a note's author changes it: a note speaks in its author's name."""
    if note.author_id != principal.user_id:
        raise Forbidden("only its author may change a note")


class NoteService:
    """Notes of one tenant's records, each call checking the record's visibility."""

    def __init__(self, tenant: Tenant, records: RecordService | None = None) -> None:
        self.tenant = tenant
        self.records = records or RecordService(tenant)

    @contextmanager
    def _on_record(self, principal: Principal, object_name: str, rid: Any, *,
                   write: bool) -> Iterator[tuple[sa.Connection, str, int]]:
        """A transaction on the record ``rid`` as the principal sees it: (connection,
        object id, record id); a 404 when it is not visible, before anything else."""
        ensure(self.tenant)
        with (self.tenant.write() if write else self.tenant.read()) as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            yield conn, ctx.obj.id, int(row.id)

    def list(self, principal: Principal, object_name: str, rid: Any,
             limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The record's notes, newest first (404 when the record is not visible)."""
        with self._on_record(principal, object_name, rid, write=False) as (conn, oid, rec):
            rows = conn.execute(sa.select(notes, _EDITED_AT).where(
                notes.c.object_id == oid, notes.c.record_id == rec)
                .order_by(notes.c.id.desc()).limit(limit)).all()
        return [_doc(r, r.edited_at) for r in rows]

    def add(self, principal: Principal, object_name: str, rid: Any, body: Any,
            follow_up: Any = None) -> dict[str, Any]:
        """Attach a note to a record the principal can see (404 otherwise, nothing kept;
        the record is looked up first, so bad input on an invisible record is a 404 too)."""
        with self._on_record(principal, object_name, rid, write=True) as (conn, oid, rec):
            text, date = check(body, follow_up)
            values = {"object_id": oid, "record_id": rec, "body": text,
                      "follow_up": date, "author_id": principal.user_id,
                      "author": principal.label, "at": utcnow()}
            key = conn.execute(notes.insert().values(**values)).inserted_primary_key
            assert key is not None
        return _doc(_Row(id=int(key[0]), **values))

    def one(self, principal: Principal, object_name: str, rid: Any, note_id: Any, *,
            to_edit: bool = False) -> dict[str, Any]:
        """One note of a record the principal can see (404 otherwise); ``to_edit``: 403
        unless the principal wrote it (an edit form asked for, before it is filled in)."""
        with self._on_record(principal, object_name, rid, write=False) as (conn, oid, rec):
            found = self._note(conn, oid, rec, note_id)
            if to_edit:
                _check_author(found, principal)
            row = conn.execute(sa.select(notes, _EDITED_AT)
                               .where(notes.c.id == found.id)).one()
        return _doc(row, row.edited_at)

    def edit(self, principal: Principal, object_name: str, rid: Any, note_id: Any,
             body: Any = _KEEP, follow_up: Any = _KEEP) -> dict[str, Any]:
        """Change a note's text or follow-up date (what is not sent stays). Only its
        author may: a note speaks in its author's name. The text before is kept."""
        with self._on_record(principal, object_name, rid, write=True) as (conn, oid, rec):
            found = self._note(conn, oid, rec, note_id)
            _check_author(found, principal)
            text, date = check(found.body if body is _KEEP else body,
                               (found.follow_up.isoformat() if found.follow_up else None)
                               if follow_up is _KEEP else follow_up, "changed")
            now = utcnow()
            if (text, date) != (found.body, found.follow_up):
                self._keep(conn, found, "edited", principal, now)
                conn.execute(notes.update().where(notes.c.id == found.id)
                             .values(body=text, follow_up=date))
            row = conn.execute(sa.select(notes, _EDITED_AT)
                               .where(notes.c.id == found.id)).one()
        return _doc(row, row.edited_at)

    def delete(self, principal: Principal, object_name: str, rid: Any,
               note_id: Any) -> None:
        """Remove a note from its record: its author may, and an administrator (a note
        that should not be there). The whole note is kept and ``restore`` brings it back."""
        with self._on_record(principal, object_name, rid, write=True) as (conn, oid, rec):
            found = self._note(conn, oid, rec, note_id)
            if found.author_id != principal.user_id and not principal.is_admin:
                raise Forbidden("only its author or an administrator may delete a note")
            self._keep(conn, found, "deleted", principal, utcnow())
            conn.execute(notes.delete().where(notes.c.id == found.id))

    def restore(self, principal: Principal, object_name: str, rid: Any,
                note_id: Any) -> dict[str, Any]:
        """Bring a deleted note back, as it was, under its own id (whoever may delete it)."""
        with self._on_record(principal, object_name, rid, write=True) as (conn, oid, rec):
            nid = parse_id(note_id)
            kept = None if nid is None else conn.execute(
                sa.select(note_changes).where(
                    note_changes.c.note_id == nid, note_changes.c.object_id == oid,
                    note_changes.c.record_id == rec)
                .order_by(note_changes.c.id.desc()).limit(1)).first()
            if kept is None or kept.kind != "deleted":
                raise NotFound(f"no deleted note {str(note_id)[:20]} on this record")
            if kept.author_id != principal.user_id and not principal.is_admin:
                raise Forbidden("only its author or an administrator may restore a note")
            values = {"id": nid, "object_id": kept.object_id, "record_id": kept.record_id,
                      "body": kept.body, "follow_up": kept.follow_up,
                      "author_id": kept.author_id, "author": kept.author, "at": kept.at}
            conn.execute(notes.insert().values(**values))
            self._keep(conn, _Row(**values), "restored", principal, utcnow())
            row = conn.execute(sa.select(notes, _EDITED_AT).where(notes.c.id == nid)).one()
        return _doc(row, row.edited_at)

    @staticmethod
    def _note(conn: sa.Connection, object_id: str, record_id: int, note_id: Any) -> Any:
        """The note ``note_id`` of this record (a note of another record is a 404 too)."""
        nid = parse_id(note_id)
        found = None if nid is None else conn.execute(
            sa.select(*_NOTE_COLUMNS).where(notes.c.id == nid, notes.c.object_id == object_id,
                                            notes.c.record_id == record_id)).first()
        if found is None:
            raise NotFound(f"no note {str(note_id)[:20]} on this record")
        return found

    @staticmethod
    def _keep(conn: sa.Connection, note: Any, kind: str, principal: Principal,
              at: dt.datetime) -> None:
        conn.execute(note_changes.insert().values(
            note_id=note.id, object_id=note.object_id, record_id=note.record_id, kind=kind,
            body=note.body, follow_up=note.follow_up, author_id=note.author_id,
            author=note.author, at=note.at, changed_by=principal.label, changed_at=at))

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
