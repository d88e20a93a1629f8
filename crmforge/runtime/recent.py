"""Recently viewed records: each user's last distinct records opened one by one (the record
page, ``GET /api/v1/records/<object>/<id>``), newest first (decision 0037).

Where they come from: every single-record read already leaves an entry in the tenant's
access log (``access_log``), written in batches off the request path. The same flush that
writes the audit rows upserts ``sys_recent_items`` (one row per user and record, the time
of the last opening) and trims each affected user to the newest ``KEEP`` rows, in the same
transaction. So a record GET costs nothing more than before: no statement, no write lock.
Entries still waiting in this process's log are merged in when the list is read, so a
record opened a moment ago is on the home page at once.

What a reader gets is decided when it is read, never when it was written: one statement
(a ``UNION ALL`` with one branch per object among the kept rows, at most ``KEEP``) asks
each object's visibility predicate for the ids, so a record deleted or no longer visible
drops out and its title never leaves the database. A title the reader may not read (a
hidden field, or a derived title masked on that row) shows as the record's number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..security.engine import Access
from ..security.principal import Principal
from . import masking, search_keys
from .context import Ctx
from .lazy_tables import LazyTables

if TYPE_CHECKING:
    from .access_log import AccessEntry
    from .instance import Tenant

#: Rows kept per user: more than are shown, so that records which became invisible or
#: were deleted leave enough behind to fill the list.
KEEP = 30
#: Records shown at most.
SHOWN = 10

recent_metadata = sa.MetaData()

recent_items = sa.Table(
    "sys_recent_items",
    recent_metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("object_id", sa.String(20), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_recent_items_user", "user_id", "at"),
)

_tables = LazyTables(recent_metadata)


def ensure(tenant: Tenant) -> None:
    """Create the table on first use (tenants made before it existed)."""
    _tables.ensure(tenant)


@dataclass(frozen=True)
class Opened:
    """A record a user opened, and when (naive UTC)."""

    user_id: int
    object_id: str
    record_id: int
    at: dt.datetime


def opened(entries: Iterable[AccessEntry]) -> list[Opened]:
    """The single-record openings among access-log entries, latest per user and record."""
    latest: dict[tuple[int, str, int], dt.datetime] = {}
    for e in entries:
        if not e.opened or e.record_count != 1 or e.user_id is None \
                or not e.record_ids.isdigit():
            continue
        key = (int(e.user_id), e.object_id, int(e.record_ids))
        if key not in latest or latest[key] < e.at:
            latest[key] = e.at
    return [Opened(u, o, r, at) for (u, o, r), at in latest.items()]


def remember(conn: sa.Connection, entries: Sequence[AccessEntry]) -> None:
    """Upsert the openings among ``entries`` and trim each of their users to ``KEEP`` rows:
    part of the access log's flush, in its transaction (one executemany of at most
    ``KEEP`` rows per user, one delete per user of the batch), so a flush after a burst
    of reads (a benchmark, a script) writes little."""
    newest: dict[int, list[Opened]] = {}
    for o in sorted(opened(entries), key=lambda o: o.at, reverse=True):
        mine = newest.setdefault(o.user_id, [])
        if len(mine) < KEEP:  # older ones would be trimmed at once: not written at all
            mine.append(o)
    rows = [o for kept in newest.values() for o in kept]
    if not rows:
        return
    insert: Any = postgresql.insert(recent_items) if conn.dialect.name == "postgresql" \
        else sqlite.insert(recent_items)
    stmt = insert.on_conflict_do_update(
        index_elements=["user_id", "object_id", "record_id"],
        set_={"at": sa.func.max(insert.excluded.at, recent_items.c.at)
              if conn.dialect.name == "sqlite"
              else sa.func.greatest(insert.excluded.at, recent_items.c.at)})
    conn.execute(stmt, [{"user_id": r.user_id, "object_id": r.object_id,
                         "record_id": r.record_id, "at": r.at} for r in rows])
    for user in sorted({r.user_id for r in rows}):
        oldest_kept = (sa.select(recent_items.c.at).where(recent_items.c.user_id == user)
                       .order_by(recent_items.c.at.desc()).limit(1).offset(KEEP - 1)
                       .scalar_subquery())
        conn.execute(recent_items.delete().where(recent_items.c.user_id == user,
                                                 recent_items.c.at < oldest_kept))


def stored(conn: sa.Connection, user_id: int) -> list[Opened]:
    """The user's kept openings, newest first (one statement on the user's index)."""
    t = recent_items
    return [Opened(user_id, r.object_id, int(r.record_id), r.at) for r in conn.execute(
        sa.select(t.c.object_id, t.c.record_id, t.c.at).where(t.c.user_id == user_id)
        .order_by(t.c.at.desc()).limit(KEEP))]


def merged(kept: Iterable[Opened], pending: Iterable[Opened]) -> list[tuple[str, int]]:
    """Distinct (object id, record id), newest first, from stored and pending openings."""
    ordered = sorted([*kept, *pending], key=lambda o: o.at, reverse=True)
    return list(dict.fromkeys((o.object_id, o.record_id) for o in ordered))[:KEEP]


def title_column_field(obj: ObjectDef) -> FieldDef | None:
    """The stored field naming the object's records: a text-like field
    (``search_keys.title_field``) or a stored formula giving text, whose value may be
    masked per row (callers read it through ``masking.effective_columns``)."""
    found = search_keys.title_field(obj)
    if found is not None:
        return found
    f = obj.field(obj.title_field)
    if f is not None and f.stored and f.type == "formula" \
            and f.options.get("result_type") == "text":
        return f
    return None


@dataclass(frozen=True)
class Titled:
    """A record the reader may see, with what names it for them."""

    obj: ObjectDef
    id: int
    title: str


def visible_titles(tenant: Tenant, conn: sa.Connection, principal: Principal, snap: Snapshot,
                   access: Access, refs: Sequence[tuple[str, int]],
                   titled: Iterable[tuple[str, int]] = ()) -> dict[tuple[str, int], Titled]:
    """Of ``refs`` (object id, record id), those live and visible to the reader, with their
    titles: one statement whatever the number of objects (a ``UNION ALL`` branch per
    object among ``refs``; callers bound ``refs``). A title the reader may not read, or
    masked on that row, or blank, answers ``#<id>``. ``titled``: records whose title the
    reader may see whatever their role says (an approval task's record, whose step shows
    its title to the approver: ``workflow.home``)."""
    by_object: dict[str, set[int]] = {}
    for oid, rid in refs:
        by_object.setdefault(oid, set()).add(int(rid))
    granted: dict[str, set[int]] = {}
    for oid, rid in titled:
        granted.setdefault(oid, set()).add(int(rid))
    schema = tenant.schema(snap)
    branches = []
    objects: dict[str, ObjectDef] = {}
    for oid in sorted(by_object):
        obj = snap.object_by_id(oid)
        if obj is None:  # the object itself was removed
            continue
        objects[oid] = obj
        t = schema.table(obj.name)
        f = title_column_field(obj)
        title: Any = sa.null()
        if f is not None and f.name in access.readable(obj):
            ctx = Ctx(tenant, conn, principal, snap, schema, access, obj, t)
            title = masking.effective_columns(ctx, [f.name]).get(f.name, t.c[f.name])
        elif f is not None and f.type != "formula" and granted.get(oid):  # never masked
            title = sa.case((t.c.id.in_(sorted(granted[oid])), t.c[f.name]), else_=sa.null())
        branches.append(sa.select(sa.literal(oid, sa.String).label("object_id"),
                                  t.c.id.label("id"), sa.cast(title, sa.Text).label("title"))
                        .where(t.c.id.in_(sorted(by_object[oid])), t.c.deleted_at.is_(None),
                               access.visibility(obj, t)))
    if not branches:
        return {}
    stmt = branches[0] if len(branches) == 1 else sa.union_all(*branches)
    out: dict[tuple[str, int], Titled] = {}
    for row in conn.execute(stmt):
        obj = objects[row.object_id]
        text = str(row.title) if row.title not in (None, "") else f"#{row.id}"
        out[(row.object_id, int(row.id))] = Titled(obj, int(row.id), text)
    return out


def recent_for(tenant: Tenant, principal: Principal, access_of: Any, lang: str,
               limit: int = SHOWN) -> list[dict[str, Any]]:
    """``items`` in a read transaction of its own; ``access_of(snapshot)`` gives the
    reader's ``Access`` (the permission engine's, for the snapshot read)."""
    ensure(tenant)
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
        return items(tenant, conn, principal, snap, access_of(snap), lang, limit)


def items(tenant: Tenant, conn: sa.Connection, principal: Principal, snap: Snapshot,
          access: Access, lang: str, limit: int = SHOWN,
          titles: Mapping[tuple[str, int], Titled] | None = None,
          ordered: tuple[list[tuple[str, int]], dict[tuple[str, int], dt.datetime]]
          | None = None) -> list[dict[str, Any]]:
    """The reader's recently viewed records they may still read, newest first:
    ``{"object", "label", "id", "title", "viewed_at"}``. Pass ``ordered`` (from
    ``candidates``) and ``titles`` when the caller looked them up together with others."""
    order, when = ordered if ordered is not None else candidates(tenant, conn, principal)
    found = titles if titles is not None else visible_titles(
        tenant, conn, principal, snap, access, order)
    out: list[dict[str, Any]] = []
    for ref in order:
        hit = found.get(ref)
        if hit is None:
            continue
        out.append({"object": hit.obj.name, "label": hit.obj.label(lang), "id": hit.id,
                    "title": hit.title,
                    "viewed_at": when[ref].isoformat(timespec="seconds") + "Z"})
        if len(out) >= limit:
            break
    return out


def candidates(tenant: Tenant, conn: sa.Connection, principal: Principal
               ) -> tuple[list[tuple[str, int]], dict[tuple[str, int], dt.datetime]]:
    """The reader's kept and pending openings, distinct and newest first (at most
    ``KEEP``), and when each was last opened; nothing checked yet. Call ``ensure`` before
    the read transaction begins (creating the table is a write)."""
    if principal.user_id is None or principal.is_system:
        return [], {}
    kept = stored(conn, principal.user_id)
    pending = opened(tenant.access_log.pending_of(principal.user_id))
    when: dict[tuple[str, int], dt.datetime] = {}
    for o in [*kept, *pending]:
        key = (o.object_id, o.record_id)
        if key not in when or when[key] < o.at:
            when[key] = o.at
    return merged(kept, pending), when


__all__ = ["KEEP", "SHOWN", "Opened", "Titled", "candidates", "ensure", "items", "merged",
           "opened", "recent_for", "recent_items", "remember", "stored", "title_column_field",
           "visible_titles"]
