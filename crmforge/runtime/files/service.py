"""The file service: uploads, attachments, downloads and previews, each through the record
service's checks (DESIGN §4, §5).

- Reading a file needs the record to be visible to the reader (the record read's own
  lookup: an invisible record is a 404, exactly as for the record) and, for a file field,
  the field to be readable (a hidden field is a 404 too).
- Adding, removing and restoring attachments are changes of the record: the reader must be
  allowed to update it (object operation, row scope, status rules and locks).
- An upload is received and checked whole (size, sniffed type, policy) before anything is
  stored; its content goes to the store first and its row is written after, so a row
  never points at missing content. A failed write removes the content it stored.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa

from ...core.errors import Forbidden, NotFound, PayloadTooLarge, Unavailable, ValidationFailed
from ...security.engine import PermissionEngine
from ...security.principal import Principal
from .. import writes
from ..context import Ctx, utcnow
from ..instance import Tenant
from ..records import RecordService
from .binding import PREVIEW_SUFFIX, describe, discard, discard_after_commit
from .content import (
    INLINE_TYPES,
    MARKUP_TYPES,
    PREVIEW_TYPES,
    SNIFF_BYTES,
    UploadPolicy,
    clean_name,
    preview,
    sniff,
)
from .storage import CHUNK, Blob, BlobStore, new_key
from .tables import ensure, stored_files

#: History actions of attachments (the record's history, ``field`` null).
ADDED, REMOVED, RESTORED = "attachment_added", "attachment_removed", "attachment_restored"


@dataclass(frozen=True)
class Received:
    name: str
    size: int
    content_type: str
    sha256: str


@dataclass(frozen=True)
class Download:
    """A file to send: what it is, and ``open()`` for its content (not read from the store
    until asked: a conditional request answered 304 never reads it). Close the blob."""

    name: str
    content_type: str
    size: int
    etag: str
    open: Callable[[], Blob]

    @property
    def inline(self) -> bool:
        """Whether a browser may show it in place (images and plain text); anything else,
        markup above all, is only ever downloaded."""
        return self.content_type in INLINE_TYPES

    @property
    def served_type(self) -> str:
        """The Content-Type to send: the sniffed type, except that markup a browser could
        render or run is sent as opaque bytes."""
        if self.content_type in MARKUP_TYPES:
            return "application/octet-stream"
        if self.content_type.startswith("text/"):
            return self.content_type + "; charset=utf-8"
        return self.content_type


class FileService:
    def __init__(self, tenant: Tenant, policy: UploadPolicy | None = None,
                 permissions: PermissionEngine | None = None) -> None:
        self.tenant = tenant
        self.policy = policy or UploadPolicy()
        self.records = RecordService(tenant, permissions)

    # -- helpers ----------------------------------------------------------------------------
    def store(self) -> BlobStore:
        if self.tenant.file_store is None:
            raise Unavailable("no file store is configured for this tenant")
        return self.tenant.file_store()

    def _receive(self, source: IO[bytes], filename: str | None) -> Received:
        """Check an upload before anything is stored: size, emptiness, sniffed type."""
        name = clean_name(filename)
        source.seek(0)
        digest = hashlib.sha256()
        size = 0
        head = b""
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > self.policy.max_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than the limit of {self.policy.describe_limit()}",
                    {"file": [f"is larger than {self.policy.describe_limit()}"]},
                    details={"max_bytes": self.policy.max_bytes})
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
        if size == 0:
            raise ValidationFailed("the file is empty", {"file": ["is empty"]})
        content_type = sniff(head, name)
        refusal = self.policy.refusal(content_type, name)
        if refusal:
            raise ValidationFailed(refusal, {"file": [refusal]},
                                   details={"content_type": content_type})
        source.seek(0)
        return Received(name, size, content_type, digest.hexdigest())

    def _put(self, source: IO[bytes], got: Received) -> str:
        key = new_key()
        self.store().put(self.tenant.name, key, source, got.size, got.content_type)
        return key

    def _row(self, key: str, got: Received, principal: Principal, **attached: Any
             ) -> dict[str, Any]:
        now = utcnow()
        return {"key": key, "name": got.name, "size": got.size,
                "content_type": got.content_type, "sha256": got.sha256,
                "uploaded_by": principal.user_id, "uploaded_by_name": principal.label,
                "uploaded_at": now, **({"attached_at": now, **attached} if attached else {})}

    def _edit_ctx(self, conn: sa.Connection, principal: Principal, object_name: str,
                  rid: Any) -> tuple[Ctx, Any]:
        """The context and row of a record the principal may change (attachments)."""
        ctx = self.records._ctx(conn, principal, object_name, "update")
        row = self.records._fetch(ctx, rid, write=True)
        self.records._status(ctx, row, "update")
        return ctx, row

    def _history(self, ctx: Ctx, row: Any, action: str, file: Mapping[str, Any]) -> None:
        entry = writes.history_entry(ctx, ctx.obj, row.id, row.version, action)
        shown = json.dumps({"id": file["id"], "name": file["name"]}, ensure_ascii=False)
        entry.update(old_value=shown if action == REMOVED else None,
                     new_value=None if action == REMOVED else shown)
        writes.record_history(ctx, [entry])

    # -- uploads ----------------------------------------------------------------------------
    def upload(self, principal: Principal, source: IO[bytes], filename: str | None
               ) -> dict[str, Any]:
        """Store an upload that a file field of a record may then be set to (by the same
        principal, once)."""
        ensure(self.tenant)
        got = self._receive(source, filename)
        key = self._put(source, got)
        try:
            with self.tenant.write() as conn:
                fid = _new_id(conn.execute(stored_files.insert().values(
                    **self._row(key, got, principal))))
        except BaseException:
            discard(self.tenant, [key])
            raise
        return {"id": int(fid), "name": got.name, "size": got.size,
                "content_type": got.content_type}

    # -- attachments ------------------------------------------------------------------------
    def attach(self, principal: Principal, object_name: str, rid: Any, source: IO[bytes],
               filename: str | None) -> dict[str, Any]:
        """Add an attachment to a record the principal may change."""
        ensure(self.tenant)
        with self.tenant.read() as conn:  # refused before anything is stored
            self._edit_ctx(conn, principal, object_name, rid)
        got = self._receive(source, filename)
        key = self._put(source, got)
        try:
            with self.tenant.write() as conn:
                ctx, row = self._edit_ctx(conn, principal, object_name, rid)
                values = self._row(key, got, principal, object_id=ctx.obj.id, record_id=row.id)
                fid = _new_id(conn.execute(stored_files.insert().values(**values)))
                item = {"id": int(fid), "name": got.name, "size": got.size,
                        "content_type": got.content_type}
                self._history(ctx, row, ADDED, item)
        except BaseException:
            discard(self.tenant, [key])
            raise
        return item

    def attachments(self, principal: Principal, object_name: str, rid: Any
                    ) -> list[dict[str, Any]]:
        """The attachments of a record the principal can see, oldest first."""
        ensure(self.tenant)
        with self.tenant.read() as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            rows = conn.execute(sa.select(stored_files).where(
                stored_files.c.object_id == ctx.obj.id, stored_files.c.record_id == row.id,
                stored_files.c.field_id.is_(None), stored_files.c.deleted_at.is_(None))
                .order_by(stored_files.c.id)).all()
        return [{**describe(r), "uploaded_by": r.uploaded_by_name,
                 "uploaded_at": r.uploaded_at.isoformat(timespec="milliseconds") + "Z",
                 "preview": r.content_type in PREVIEW_TYPES} for r in rows]

    def may_change(self, principal: Principal, object_name: str, rid: Any) -> bool:
        """Whether the principal may add and remove the record's attachments (pages)."""
        try:
            with self.tenant.read() as conn:
                self._edit_ctx(conn, principal, object_name, rid)
        except (Forbidden, NotFound):
            return False
        return True

    def remove(self, principal: Principal, object_name: str, rid: Any, fid: int) -> None:
        """Move an attachment to the recycle bin."""
        ensure(self.tenant)
        with self.tenant.write() as conn:
            ctx, row = self._edit_ctx(conn, principal, object_name, rid)
            found = conn.execute(sa.select(stored_files).where(
                stored_files.c.id == fid, stored_files.c.object_id == ctx.obj.id,
                stored_files.c.record_id == row.id, stored_files.c.field_id.is_(None),
                stored_files.c.deleted_at.is_(None))).first()
            if found is None:
                raise NotFound(f"no attachment {fid} on this record")
            conn.execute(stored_files.update().where(stored_files.c.id == found.id).values(
                deleted_at=utcnow(), deleted_by=principal.user_id,
                deleted_by_name=principal.label))
            self._history(ctx, row, REMOVED, describe(found))

    def restore(self, principal: Principal, object_name: str, rid: Any, fid: int
                ) -> dict[str, Any]:
        """Bring a removed file of a record back from the recycle bin, as an attachment
        (a file a file field held comes back as an attachment too: the field keeps its
        current value)."""
        ensure(self.tenant)
        with self.tenant.write() as conn:
            ctx, row = self._edit_ctx(conn, principal, object_name, rid)
            found = self._removed_file(ctx, row.id, fid)
            conn.execute(stored_files.update().where(stored_files.c.id == found.id).values(
                deleted_at=None, deleted_by=None, deleted_by_name=None, field_id=None))
            item = describe(found)
            self._history(ctx, row, RESTORED, item)
        return item

    def purge(self, principal: Principal, object_name: str, rid: Any, fid: int) -> None:
        """Delete for good a removed file of a record (administrators), content included."""
        if not (principal.is_admin or principal.is_system):
            raise Forbidden("only administrators purge the recycle bin")
        ensure(self.tenant)
        with self.tenant.write() as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            found = self._removed_file(ctx, row.id, fid)
            conn.execute(stored_files.delete().where(stored_files.c.id == found.id))
            discard_after_commit(self.tenant, [found.key])

    def _removed_file(self, ctx: Ctx, rid: int, fid: int) -> Any:
        found = ctx.conn.execute(sa.select(stored_files).where(
            stored_files.c.id == fid, stored_files.c.object_id == ctx.obj.id,
            stored_files.c.record_id == rid, stored_files.c.deleted_at.is_not(None))).first()
        if found is None or (found.field_id is not None and not self._field_readable(
                ctx, found.field_id)):
            raise NotFound(f"no removed file {fid} of this record")
        return found

    @staticmethod
    def _field_readable(ctx: Ctx, field_id: str) -> bool:
        readable = ctx.access.readable(ctx.obj)
        return any(f.id == field_id and f.name in readable for f in ctx.obj.fields)

    def removed(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        """Removed files (attachments, replaced file-field values) of live records the
        principal can see, newest first: the files part of the recycle bin."""
        ensure(self.tenant)
        with self.tenant.read() as conn:
            snap = self.tenant.snapshot(conn)
            rows = conn.execute(sa.select(stored_files).where(
                stored_files.c.deleted_at.is_not(None), stored_files.c.object_id.is_not(None))
                .order_by(stored_files.c.deleted_at.desc(), stored_files.c.id.desc())
                .limit(limit * 5)).all()
        by_id = {o.id: o for o in snap.objects.values()}
        wanted: dict[str, set[int]] = {}
        for r in rows:
            obj = by_id.get(r.object_id)
            if obj is not None:
                wanted.setdefault(obj.name, set()).add(int(r.record_id))
        titles = self.records.titles(principal, wanted)  # only records the reader sees
        access = self.records.permissions.access(principal, snap)
        out: list[dict[str, Any]] = []
        for r in rows:
            obj = by_id.get(r.object_id)
            if obj is None or (obj.name, int(r.record_id)) not in titles:
                continue
            field = next((f for f in obj.fields if f.id == r.field_id), None)
            if r.field_id is not None and (field is None
                                           or field.name not in access.readable(obj)):
                continue
            out.append({**describe(r), "object": obj.name, "record": int(r.record_id),
                        "title": titles[(obj.name, int(r.record_id))],
                        "field": field.name if field is not None else None,
                        "deleted_at": r.deleted_at.isoformat(timespec="seconds") + "Z",
                        "deleted_by": r.deleted_by_name})
            if len(out) >= limit:
                break
        return out

    # -- downloads --------------------------------------------------------------------------
    def open_attachment(self, principal: Principal, object_name: str, rid: Any, fid: int,
                        *, thumbnail: bool = False) -> Download:
        ensure(self.tenant)
        with self.tenant.read() as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            found = conn.execute(sa.select(stored_files).where(
                stored_files.c.id == fid, stored_files.c.object_id == ctx.obj.id,
                stored_files.c.record_id == row.id, stored_files.c.field_id.is_(None),
                stored_files.c.deleted_at.is_(None))).first()
        if found is None:
            raise NotFound(f"no attachment {fid} on this record")
        self.records._audit(principal, ctx.obj.id, "download", [row.id])
        return self._open(found, thumbnail)

    def open_field(self, principal: Principal, object_name: str, rid: Any, field: str,
                   *, thumbnail: bool = False) -> Download:
        ensure(self.tenant)
        with self.tenant.read() as conn:
            ctx = self.records._ctx(conn, principal, object_name, None)
            row = self.records._fetch(ctx, rid)
            f = ctx.obj.field(field)
            if f is None or f.type != "file" or f.name not in ctx.access.readable(ctx.obj):
                raise NotFound(f"no file field named '{str(field)[:40]}'")
            value = row._mapping[f.name]
            fid = value.get("id") if isinstance(value, Mapping) else None
            found = None if fid is None else conn.execute(sa.select(stored_files).where(
                stored_files.c.id == fid, stored_files.c.object_id == ctx.obj.id,
                stored_files.c.record_id == row.id, stored_files.c.field_id == f.id)).first()
        if found is None:
            raise NotFound(f"this record has no file in '{f.name}'")
        self.records._audit(principal, ctx.obj.id, "download", [row.id])
        return self._open(found, thumbnail)

    def _open(self, found: Any, thumbnail: bool) -> Download:
        if thumbnail:
            return self._preview(found)
        store, tenant, key = self.store(), self.tenant.name, found.key
        return Download(found.name, found.content_type, int(found.size), found.sha256,
                        lambda: store.open(tenant, key))

    def _preview(self, found: Any) -> Download:
        """A thumbnail of an image, made on first request and kept in the store beside it."""
        if found.content_type not in PREVIEW_TYPES:
            raise NotFound("this file has no preview (only images have)")
        store = self.store()
        key = found.key + PREVIEW_SUFFIX
        try:
            data = store.open(self.tenant.name, key).read_all()
        except NotFound:
            made = preview(store.open(self.tenant.name, found.key).read_all())
            if made is None:
                raise NotFound("this image cannot be previewed") from None
            data = made[0]
            store.put(self.tenant.name, key, io.BytesIO(data), len(data), made[1])
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        stem = found.name.rsplit(".", 1)[0] if "." in found.name else found.name
        name = f"{stem}-preview.{'png' if kind == 'image/png' else 'jpg'}"
        return Download(name, kind, len(data), found.sha256 + "-p",
                        lambda: Blob(len(data), iter([data])))


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


__all__ = ["ADDED", "REMOVED", "RESTORED", "Download", "FileService"]
