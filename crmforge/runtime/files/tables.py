"""The tenant's table of stored files: one row per upload, with what it is attached to.

A row is, in turn: an upload (``object_id`` NULL: only its uploader may attach it), then
attached to a record (as an attachment, ``field_id`` NULL, or as the value of a file field)
and possibly removed (``deleted_at`` set: in the recycle bin, restorable, its content kept
until purged). Contents live in the file store under ``key``, unique in the tenant.
Created on first use (``runtime.lazy_tables``), so tenants made before files existed get
it without a migration step.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..lazy_tables import LazyTables

files_metadata = sa.MetaData()

stored_files = sa.Table(
    "sys_files",
    files_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("key", sa.String(48), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_by", sa.BigInteger, nullable=True),
    sa.Column("uploaded_by_name", sa.String(150), nullable=False),
    sa.Column("uploaded_at", sa.DateTime, nullable=False),
    sa.Column("object_id", sa.String(20), nullable=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("field_id", sa.String(20), nullable=True),
    sa.Column("attached_at", sa.DateTime, nullable=True),
    sa.Column("deleted_at", sa.DateTime, nullable=True),
    sa.Column("deleted_by", sa.BigInteger, nullable=True),
    sa.Column("deleted_by_name", sa.String(150), nullable=True),
    sa.Index("ix_files_record", "object_id", "record_id", "id"),
    sa.Index("ix_files_uploaded", "uploaded_at"),
)

_tables = LazyTables(files_metadata)
ensure = _tables.ensure

__all__ = ["ensure", "files_metadata", "stored_files"]
