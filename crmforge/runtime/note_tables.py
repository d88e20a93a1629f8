"""The tables of notes on records and of their earlier versions (``runtime.notes``),
created on first use, and what a purge does to them; apart from the note service so the
recycle bin can reach them without importing the record service."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from ..metadata.model import ObjectDef
from .context import Ctx
from .lazy_tables import LazyTables

notes_metadata = sa.MetaData()

notes = sa.Table(
    "sys_notes",
    notes_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("follow_up", sa.Date, nullable=True),
    sa.Column("author_id", sa.BigInteger, nullable=True),
    sa.Column("author", sa.String(150), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_notes_record", "object_id", "record_id", "id"),
)

#: What a note was before each edit, and the whole note at its deletion (and a row when it
#: was restored): nothing written on a record is lost. ``kind``: edited, deleted, restored.
note_changes = sa.Table(
    "sys_note_changes",
    notes_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("note_id", sa.BigInteger, nullable=False),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("follow_up", sa.Date, nullable=True),
    sa.Column("author_id", sa.BigInteger, nullable=True),
    sa.Column("author", sa.String(150), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("changed_by", sa.String(150), nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Index("ix_note_changes_note", "note_id", "id"),
    sa.Index("ix_note_changes_record", "object_id", "record_id"),
)

_tables = LazyTables(notes_metadata)
ensure = _tables.ensure


def purge_records(ctx: Ctx, obj: ObjectDef, ids: Iterable[int]) -> None:
    """Delete for good the notes of purged records (the purge's own transaction)."""
    chosen = list(ids)
    if not chosen:
        return
    ensure(ctx.tenant)
    for table in (notes, note_changes):
        ctx.conn.execute(table.delete().where(table.c.object_id == obj.id,
                                              table.c.record_id.in_(chosen)))


__all__ = ["ensure", "note_changes", "notes", "notes_metadata", "purge_records"]
