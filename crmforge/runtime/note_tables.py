"""The table of notes on records (``runtime.notes``), created on first use, and what a
purge does to it; apart from the note service so the recycle bin can reach it without
importing the record service."""

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

_tables = LazyTables(notes_metadata)
ensure = _tables.ensure


def purge_records(ctx: Ctx, obj: ObjectDef, ids: Iterable[int]) -> None:
    """Delete for good the notes of purged records (the purge's own transaction)."""
    chosen = list(ids)
    if not chosen:
        return
    ensure(ctx.tenant)
    ctx.conn.execute(notes.delete().where(notes.c.object_id == obj.id,
                                          notes.c.record_id.in_(chosen)))


__all__ = ["ensure", "notes", "notes_metadata", "purge_records"]
