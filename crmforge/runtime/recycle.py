"""The record recycle bin: soft deletion in batches (a record and its master-detail
children), restore of a whole batch, and purge."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..core.errors import Conflict
from ..metadata.model import ObjectDef
from . import note_tables, propagation, search_keys, writes
from .context import Ctx, utcnow
from .files import binding as file_binding
from .systables import recycle_bin

Moved = list[tuple[ObjectDef, int, int]]  # object, record id, version of records moved


def delete(ctx: Ctx, row: Any) -> Moved:
    """Move a record and its master-detail children to the bin; what moved, root first."""
    moved: Moved = []
    _soft_delete(ctx, ctx.obj, [row], secrets.token_hex(8), utcnow(), moved, root=True)
    return moved


def _soft_delete(ctx: Ctx, obj: ObjectDef, rows: Sequence[Any], batch: str, now: Any,
                 moved: Moved, *, root: bool) -> None:
    if not rows:
        return
    moved.extend((obj, int(r.id), int(r.version)) for r in rows)
    table = ctx.schema.table(obj.name)
    ids = [r.id for r in rows]
    ctx.conn.execute(table.update().where(table.c.id.in_(ids)).values(
        deleted_at=now, deleted_batch=batch))
    for rid in ids:
        writes.rewritten(ctx.conn, obj.id, rid)
    ctx.conn.execute(recycle_bin.insert(), [
        {"object_id": obj.id, "record_id": r.id, "title": _title(obj, r), "batch": batch,
         "is_root": root, "deleted_at": now, "deleted_by": ctx.principal.user_id,
         "deleted_by_name": ctx.principal.label} for r in rows])
    writes.record_history(ctx, [writes.history_entry(ctx, obj, r.id, r.version, "delete")
                                for r in rows])
    propagation.presence(ctx, obj, [r._mapping for r in rows], ids)
    for child, f in obj.children(ctx.snapshot):
        ct = ctx.schema.table(child.name)
        kids = ctx.conn.execute(sa.select(ct).where(
            ct.c[f.name].in_(ids), ct.c.deleted_at.is_(None))).all()
        _soft_delete(ctx, child, kids, batch, now, moved, root=False)


def restore(ctx: Ctx, row: Any) -> Moved:
    """Bring back a record's whole deletion batch; what came back."""
    entry = ctx.conn.execute(sa.select(recycle_bin).where(
        recycle_bin.c.object_id == ctx.obj.id, recycle_bin.c.record_id == row.id,
        recycle_bin.c.batch == row.deleted_batch)).first()
    if entry is not None and not entry.is_root:
        raise Conflict("this record was deleted with its master record; restore that one")
    for f in ctx.obj.fields:
        if f.type == "master_detail" and row._mapping[f.name] is not None:
            parent = ctx.snapshot.object(f.target or "")
            if parent is None:
                continue
            pt = ctx.schema.table(parent.name)
            alive = ctx.conn.execute(sa.select(pt.c.id).where(
                pt.c.id == row._mapping[f.name], pt.c.deleted_at.is_(None))).first()
            if alive is None:
                raise Conflict(f"the master {parent.name} record is in the recycle bin; "
                               "restore it first")
    by_id = {o.id: o for o in ctx.snapshot.objects.values()}
    restored: Moved = []
    for e in ctx.conn.execute(sa.select(recycle_bin).where(
            recycle_bin.c.batch == row.deleted_batch)).all():
        obj = by_id.get(e.object_id)
        if obj is None:
            continue
        t = ctx.schema.table(obj.name)
        version = ctx.conn.execute(sa.select(t.c.version).where(t.c.id == e.record_id)).scalar()
        ctx.conn.execute(t.update().where(t.c.id == e.record_id).values(
            deleted_at=None, deleted_batch=None))
        writes.record_history(ctx, [writes.history_entry(ctx, obj, e.record_id,
                                                         int(version or 0), "restore")])
        restored.append((obj, int(e.record_id), int(version or 0)))
    ctx.conn.execute(recycle_bin.delete().where(recycle_bin.c.batch == row.deleted_batch))
    _refresh_parents(ctx, [(o, rid) for o, rid, _ in restored])
    return restored


def _refresh_parents(ctx: Ctx, records: list[tuple[ObjectDef, Any]]) -> None:
    """Roll-ups of the parents of restored or purged records, once all of the batch moved
    (a parent restored with its children then counts them all)."""
    for obj in {o.name: o for o, _ in records}.values():
        t = ctx.schema.table(obj.name)
        ids = [rid for o, rid in records if o.name == obj.name]
        rows = [r._mapping for r in ctx.conn.execute(sa.select(t).where(t.c.id.in_(ids)))]
        propagation.presence(ctx, obj, rows, ids)


def purge(ctx: Ctx, row: Any) -> None:
    entry = ctx.conn.execute(sa.select(recycle_bin.c.is_root).where(
        recycle_bin.c.object_id == ctx.obj.id, recycle_bin.c.record_id == row.id,
        recycle_bin.c.batch == row.deleted_batch)).first()
    if entry is not None and not entry.is_root:  # the batch would take the master with it
        raise Conflict("this record was deleted with its master record; purge that one")
    by_id = {o.id: o for o in ctx.snapshot.objects.values()}
    purged: list[tuple[ObjectDef, Any]] = []
    for e in ctx.conn.execute(sa.select(recycle_bin).where(
            recycle_bin.c.batch == row.deleted_batch)).all():
        obj = by_id.get(e.object_id)
        if obj is None:
            continue
        t = ctx.schema.table(obj.name)
        purged.append((obj, ctx.conn.execute(sa.select(t).where(t.c.id == e.record_id)).first()))
        ctx.conn.execute(t.delete().where(t.c.id == e.record_id, t.c.deleted_at.is_not(None)))
        file_binding.purge_records(ctx, obj, [e.record_id])  # attachments and file fields
        search_keys.purged(ctx, obj, [e.record_id])
        note_tables.purge_records(ctx, obj, [e.record_id])
        writes.record_history(ctx, [writes.history_entry(ctx, obj, e.record_id, 0, "purge")])
    ctx.conn.execute(recycle_bin.delete().where(recycle_bin.c.batch == row.deleted_batch))
    for obj, gone in purged:  # the rows are gone: their parents come from the copies
        if gone is not None:
            propagation.presence(ctx, obj, [gone._mapping], ())


def entries(ctx_for: Any, conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """Root entries of the bin, newest first, that ``ctx_for(obj)`` says are visible.

    ``ctx_for`` returns a context for an object, or None when the reader may not read it.
    """
    out: list[dict[str, Any]] = []
    for r in conn.execute(sa.select(recycle_bin).where(recycle_bin.c.is_root)
                          .order_by(recycle_bin.c.id.desc())):
        ctx = ctx_for(r.object_id)
        if ctx is None:
            continue
        t = ctx.table
        if conn.execute(sa.select(t.c.id).where(
                t.c.id == r.record_id, ctx.access.visibility(ctx.obj, t))).first() is None:
            continue
        out.append({"object": ctx.obj.name, "id": r.record_id, "title": r.title,
                    "deleted_at": r.deleted_at.isoformat(timespec="seconds") + "Z",
                    "deleted_by": r.deleted_by_name})
        if len(out) >= limit:
            break
    return out


def _title(obj: ObjectDef, row: Any) -> str | None:
    value = row._mapping.get(obj.title_field)
    return None if value is None else str(value)[:255]
