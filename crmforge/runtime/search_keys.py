"""Pinyin search keys of record titles (decision 0032).

Chinese users find 张三 by typing ``zhangsan``, ``zhang`` or ``zs``. Neither database can
turn characters into pinyin, so each record whose title holds Chinese characters keeps its
title's full spelling and initials in ``sys_search_keys``, written by the write pipeline
in the transaction of the write that set the title (create, update; purge removes them).
A deletion keeps the row: search reads only live records, so the record disappears from
the results with its ``deleted_at`` and comes back with its restore, keys unchanged.

A key names the title field it was computed from: after the object's title field
changes, the old keys stop matching, and ``build`` (run lazily by the search for objects
not yet built for their current title field, ``sys_search_built``) computes them again,
as it does for records written before this feature existed. Titles without Chinese
characters have no row: search by plain text covers them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from pypinyin import Style, lazy_pinyin

from ..metadata.model import FieldDef, ObjectDef
from .context import Ctx
from .instance import Tenant
from .lazy_tables import LazyTables

search_metadata = sa.MetaData()

#: Longest key kept: a title is at most a few hundred characters, and a search term at
#: most ``MAX_TERM`` (the rest of a very long title is never what someone types).
FULL_LENGTH, INITIALS_LENGTH = 255, 100

search_keys = sa.Table(
    "sys_search_keys",
    search_metadata,
    sa.Column("object_id", sa.String(20), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("field_id", sa.String(20), nullable=False),
    sa.Column("full", sa.String(FULL_LENGTH), nullable=False),
    sa.Column("initials", sa.String(INITIALS_LENGTH), nullable=False),
    sa.Index("ix_search_keys_initials", "object_id", "initials"),
    sa.Index("ix_search_keys_full", "object_id", "full"),
)

#: Objects whose keys are complete for a title field (by id): what ``build`` did last.
search_built = sa.Table(
    "sys_search_built",
    search_metadata,
    sa.Column("object_id", sa.String(20), primary_key=True),
    sa.Column("field_id", sa.String(20), nullable=False),
)

_tables = LazyTables(search_metadata)
ensure = _tables.ensure

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[0-9a-z]+")

#: Field types stored as text whose values a title search can compare.
TEXT_TITLES = frozenset({"text", "autonumber", "email", "phone", "textarea", "url"})


def key(title: str | None) -> tuple[str, str] | None:
    """``(full spelling, initials)`` of a title holding Chinese characters, else None.

    Chinese characters give their pinyin without tones (pypinyin's default reading for a
    polyphonic character, with its phrase dictionary: 重庆 is ``chongqing``); other text
    keeps its letters and digits, lower case, and gives each word's first letter as its
    initial: ``ACME 上海分公司`` is ``acmeshanghaifengongsi`` and ``ashfgs``."""
    if not title or not _HAN.search(title):
        return None
    full: list[str] = []
    initials: list[str] = []
    for part in lazy_pinyin(title, style=Style.NORMAL, errors="default"):
        words = _WORD.findall(part.lower())
        full.extend(words)
        initials.extend(w[0] for w in words)
    if not full:
        return None
    return "".join(full)[:FULL_LENGTH], "".join(initials)[:INITIALS_LENGTH]


def title_field(obj: ObjectDef) -> FieldDef | None:
    """The stored text field naming the object's records, if it has one."""
    f = obj.field(obj.title_field)
    if f is None or not f.stored or f.type not in TEXT_TITLES:
        return None
    return f


def _rows(obj: ObjectDef, f: FieldDef,
          records: Iterable[tuple[int, Any]]) -> list[dict[str, Any]]:
    out = []
    for rid, title in records:
        found = key(None if title is None else str(title))
        if found is not None:
            out.append({"object_id": obj.id, "record_id": int(rid), "field_id": f.id,
                        "full": found[0], "initials": found[1]})
    return out


def created(ctx: Ctx, ids: Sequence[int], rows: Sequence[Mapping[str, Any]]) -> None:
    """Keys of new records, one executemany for the batch (none without Chinese titles)."""
    f = title_field(ctx.obj)
    if f is None:
        return
    keys = _rows(ctx.obj, f, ((rid, row.get(f.name)) for rid, row in
                              zip(ids, rows, strict=True)))
    if keys:
        ensure(ctx.tenant)
        ctx.conn.execute(search_keys.insert(), keys)


def updated(ctx: Ctx, rid: int, changed: Mapping[str, Any]) -> None:
    """The key of a record whose title changed: the old one goes, the new one (if any)
    comes, so a renamed record is found by its new name only."""
    f = title_field(ctx.obj)
    if f is None or f.name not in changed:
        return
    ensure(ctx.tenant)
    ctx.conn.execute(search_keys.delete().where(search_keys.c.object_id == ctx.obj.id,
                                                search_keys.c.record_id == rid))
    keys = _rows(ctx.obj, f, [(rid, changed[f.name])])
    if keys:
        ctx.conn.execute(search_keys.insert(), keys)


def purged(ctx: Ctx, obj: ObjectDef, ids: Sequence[int]) -> None:
    """Keys of records deleted for good."""
    if ids:
        ensure(ctx.tenant)
        ctx.conn.execute(search_keys.delete().where(search_keys.c.object_id == obj.id,
                                                    search_keys.c.record_id.in_(list(ids))))


#: Records read per batch by ``build``.
BATCH = 2000


def build(conn: sa.Connection, obj: ObjectDef, table: sa.Table) -> int:
    """Every key of one object computed again from its records (the deleted ones too, so
    a restore needs nothing), in batches by id; records the object as built for its
    current title field. The caller holds a write transaction and has called ``ensure``.
    Returns the number of keys written."""
    f = title_field(obj)
    conn.execute(search_keys.delete().where(search_keys.c.object_id == obj.id))
    written = 0
    if f is not None:
        last = 0
        col = table.c[f.name]
        while True:
            batch = conn.execute(sa.select(table.c.id, col).where(table.c.id > last)
                                 .order_by(table.c.id).limit(BATCH)).all()
            if not batch:
                break
            last = int(batch[-1][0])
            keys = _rows(obj, f, ((r[0], r[1]) for r in batch))
            if keys:
                conn.execute(search_keys.insert(), keys)
                written += len(keys)
    conn.execute(search_built.delete().where(search_built.c.object_id == obj.id))
    conn.execute(search_built.insert(), [{"object_id": obj.id,
                                          "field_id": f.id if f is not None else ""}])
    return written


def stale(conn: sa.Connection, objects: Iterable[ObjectDef]) -> list[ObjectDef]:
    """The objects whose keys were not built for their current title field."""
    built = {r.object_id: r.field_id for r in conn.execute(sa.select(search_built))}
    out = []
    for obj in objects:
        f = title_field(obj)
        if built.get(obj.id) != (f.id if f is not None else ""):
            out.append(obj)
    return out


def build_stale(tenant: Tenant) -> list[str]:
    """Build the keys of every object not built for its current title field (records
    written before search existed, or after a change of title field); their names. Two
    builders at once: the one that loses the race on a key rolls back, and the next
    search sees the winner's work."""
    ensure(tenant)
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
        todo = [o.name for o in stale(conn, snap.objects.values())]
    if not todo:
        return []
    try:
        with tenant.write() as conn:
            snap = tenant.snapshot(conn)
            schema = tenant.schema(snap)
            for obj in stale(conn, snap.objects.values()):
                build(conn, obj, schema.table(obj.name))
    except sa.exc.IntegrityError:
        return []
    return todo


__all__ = ["build", "build_stale", "created", "ensure", "key", "purged", "search_built",
           "search_keys", "stale", "title_field", "updated"]
