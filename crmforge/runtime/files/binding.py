"""File fields in the record write path (DESIGN §4), and files leaving with their records.

Setting a file field is a record write like any other: the writer sends the id that
``POST /api/v1/files`` answered; ``resolve`` (a step of ``writes.prepare``) accepts only
an upload of the same principal that is not attached anywhere yet and fits the field's
``max_size`` and ``accept``, and puts the file's description in the record's column.
After the row write ``bind`` attaches the new file to the record and field and moves the
one it replaced to the recycle bin (restorable as an attachment); when two writes race
for one upload, the second fails on the conditional update and its transaction rolls
back. ``purge_records`` deletes the rows of purged records and, once the purge commits,
their contents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...core.errors import ValidationFailed
from ...metadata.model import ObjectDef
from ...security.principal import Principal
from .content import human_size, type_matches
from .tables import ensure, stored_files

if TYPE_CHECKING:
    from ..context import Ctx
    from ..instance import Tenant

log = logging.getLogger("crmforge.files")

#: Suffix of a file's preview in the store (runtime.files.service).
PREVIEW_SUFFIX = ".preview"


def describe(row: Any) -> dict[str, Any]:
    """What the API says of a stored file (and a file field holds)."""
    return {"id": int(row.id), "name": row.name, "size": int(row.size),
            "content_type": row.content_type}


def uploader_is(principal: Principal) -> Any:
    """The condition "uploaded by ``principal``" (the system principal has no user id)."""
    uid = principal.user_id
    return stored_files.c.uploaded_by == uid if uid is not None \
        else stored_files.c.uploaded_by.is_(None)


def file_fields(obj: ObjectDef) -> list[Any]:
    return [f for f in obj.fields if f.type == "file"]


def resolve(ctx: Ctx, values: dict[str, Any], existing: Any, errors: dict[str, list[str]]) -> None:
    """File ids sent for file fields become the files' descriptions; an id that is not an
    unattached upload of the writer, or a file the field does not take, is an error on
    the field. Sending back the file the field already holds changes nothing."""
    wanted = [(f, values[f.name]) for f in file_fields(ctx.obj)
              if isinstance(values.get(f.name), Mapping)]
    if not wanted:
        return
    ensure(ctx.tenant)
    for f, value in wanted:
        fid = value.get("id")
        current = existing._mapping[f.name] if existing is not None else None
        if isinstance(current, Mapping) and current.get("id") == fid:
            values[f.name] = dict(current)
            continue
        row = ctx.conn.execute(sa.select(stored_files).where(
            stored_files.c.id == fid, stored_files.c.object_id.is_(None),
            stored_files.c.deleted_at.is_(None), uploader_is(ctx.principal))).first()
        if row is None:
            errors.setdefault(f.name, []).append(
                f"no file {fid} that you uploaded and that is not attached elsewhere "
                "(upload it with POST /api/v1/files)")
            continue
        max_size = f.options.get("max_size")
        if isinstance(max_size, int) and row.size > max_size:
            errors.setdefault(f.name, []).append(
                f"the file is larger than this field's limit of {human_size(max_size)}")
            continue
        accept = f.options.get("accept")
        if isinstance(accept, list) and accept and not type_matches(row.content_type, row.name,
                                                                   accept):
            errors.setdefault(f.name, []).append(
                f"files of type {row.content_type} are not accepted here")
            continue
        values[f.name] = describe(row)


def bind(ctx: Ctx, rid: int, old: Mapping[str, Any] | None, new: Mapping[str, Any],
         now: Any) -> None:
    """After a row write: files newly set in file fields are attached to the record; the
    ones they replaced (or a cleared field's) go to the recycle bin."""
    for f in file_fields(ctx.obj):
        if f.name not in new:
            continue
        before = old.get(f.name) if old is not None else None
        after = new[f.name]
        before_id = before.get("id") if isinstance(before, Mapping) else None
        after_id = after.get("id") if isinstance(after, Mapping) else None
        if before_id == after_id:
            continue
        if after_id is not None:
            done = ctx.conn.execute(stored_files.update().where(
                stored_files.c.id == after_id, stored_files.c.object_id.is_(None),
                stored_files.c.deleted_at.is_(None)).values(
                object_id=ctx.obj.id, record_id=rid, field_id=f.id, attached_at=now))
            if done.rowcount != 1:
                message = "the file was attached elsewhere meanwhile; upload it again"
                raise ValidationFailed(f"{f.name}: {message}", {f.name: [message]})
        if before_id is not None:
            ctx.conn.execute(stored_files.update().where(
                stored_files.c.id == before_id, stored_files.c.object_id == ctx.obj.id,
                stored_files.c.record_id == rid, stored_files.c.deleted_at.is_(None)).values(
                deleted_at=now, deleted_by=ctx.principal.user_id,
                deleted_by_name=ctx.principal.label))


def bind_many(ctx: Ctx, rows: Sequence[tuple[int, Mapping[str, Any]]], now: Any) -> None:
    """``bind`` for newly inserted records."""
    if not file_fields(ctx.obj):
        return
    for rid, row in rows:
        bind(ctx, rid, None, row, now)


def purge_records(ctx: Ctx, obj: ObjectDef, ids: Iterable[int]) -> None:
    """Delete the files of records purged for good: their rows now, their contents once
    the purge commits (a purge that rolls back keeps them)."""
    ids = list(ids)
    if not ids:
        return
    ensure(ctx.tenant)
    where = (stored_files.c.object_id == obj.id, stored_files.c.record_id.in_(ids))
    keys = list(ctx.conn.execute(sa.select(stored_files.c.key).where(*where)).scalars())
    if keys:
        ctx.conn.execute(stored_files.delete().where(*where))
        discard_after_commit(ctx.tenant, keys)


def purge_where(tenant: Tenant, conn: sa.Connection, *where: Any) -> int:
    """Delete the file rows matching ``where`` and, after commit, their contents."""
    ensure(tenant)
    keys = list(conn.execute(sa.select(stored_files.c.key).where(*where)).scalars())
    if keys:
        conn.execute(stored_files.delete().where(stored_files.c.key.in_(keys)))
        discard_after_commit(tenant, keys)
    return len(keys)


def purge_files(tenant: Tenant, *where: Any) -> int:
    """``purge_where`` in the tenant's open write (a purge of an object or a field: the
    metadata change's transaction), or in a write of its own."""
    with tenant.write() as conn:
        return purge_where(tenant, conn, *where)


def discard_after_commit(tenant: Tenant, keys: list[str]) -> None:
    tenant.after_commit(lambda: discard(tenant, keys))


def discard(tenant: Tenant, keys: Iterable[str]) -> None:
    """Delete contents (and their previews) from the store. Never raises: the rows are
    gone, and content the store could not delete now is an orphan that the clean-up
    (``crmforge files prune``) removes later."""
    source = tenant.file_store
    if source is None:
        return
    try:
        store = source()
        for key in keys:
            store.delete(tenant.name, key)
            store.delete(tenant.name, key + PREVIEW_SUFFIX)
    except Exception:
        log.warning("could not delete file contents of tenant %s; the next prune removes "
                    "them", tenant.name, exc_info=True)


__all__ = ["PREVIEW_SUFFIX", "bind", "bind_many", "describe", "discard", "file_fields",
           "purge_files", "purge_records", "purge_where", "resolve", "uploader_is"]
