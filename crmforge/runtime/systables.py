"""The runtime's system tables: field history, the record recycle bin, sequences."""

from __future__ import annotations

import sqlalchemy as sa

runtime_metadata = sa.MetaData()

_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")

history = sa.Table(
    "sys_history",
    runtime_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("field_id", sa.String(20), nullable=True),
    sa.Column("field", sa.String(40), nullable=True),
    sa.Column("old_value", sa.Text, nullable=True),
    sa.Column("new_value", sa.Text, nullable=True),
    sa.Column("record_version", sa.Integer, nullable=False),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("actor", sa.String(150), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_history_record", "object_id", "record_id", "id"),
)

recycle_bin = sa.Table(
    "sys_recycle_bin",
    runtime_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("title", sa.String(255), nullable=True),
    sa.Column("batch", sa.String(40), nullable=False),
    sa.Column("is_root", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("deleted_at", sa.DateTime, nullable=False),
    sa.Column("deleted_by", sa.BigInteger, nullable=True),
    sa.Column("deleted_by_name", sa.String(150), nullable=False),
    sa.Index("ix_recycle_record", "object_id", "record_id"),
    sa.Index("ix_recycle_batch", "batch"),
)

sequences = sa.Table(
    "sys_sequences",
    runtime_metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
