"""The import's system tables, created on first use (``LazyTables``).

- ``sys_imports``: one row per import, keyed by its job's id (one id for both): the
  request (object, mode, key, mapping, options, the importing user and language), the
  file's description, and the outcome counts, updated in the same transaction as the rows
  they count.
- ``sys_import_blobs``: the uploaded file in pieces of ``PIECE`` bytes, so that the job
  finds it after a restart (and on another host) and no single value is huge.
- ``sys_import_landed``: which rows landed, one row per committed chunk (JSON pairs of
  file row and record id, created and updated apart): the report of exactly which rows
  landed and the ids undo moves to the recycle bin.
- ``sys_import_errors``: the refused rows with their messages and original cells (the
  error file is written from them).
"""

from __future__ import annotations

import sqlalchemy as sa

from ..lazy_tables import LazyTables

imports_metadata = sa.MetaData()
_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")

imports = sa.Table(
    "sys_imports",
    imports_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),  # the job's id
    sa.Column("object", sa.String(40), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("key", sa.String(40), nullable=True),
    sa.Column("mapping", sa.Text, nullable=False),  # JSON: [[column index, header, field]]
    sa.Column("options", sa.Text, nullable=False),  # JSON: dry_run, all_or_none, ...
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("file_format", sa.String(10), nullable=False),
    sa.Column("headers", sa.Text, nullable=False),  # JSON list
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("created_by", sa.String(150), nullable=False),
    sa.Column("created_by_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=True),
    sa.Column("processed", sa.BigInteger, nullable=False, default=0),
    sa.Column("created", sa.BigInteger, nullable=False, default=0),
    sa.Column("updated", sa.BigInteger, nullable=False, default=0),
    sa.Column("failed", sa.BigInteger, nullable=False, default=0),
    sa.Column("rolled_back", sa.BigInteger, nullable=False, default=0),
    sa.Column("outcome", sa.String(12), nullable=True),  # done | failed, once finished
    sa.Column("file_error", sa.Text, nullable=True),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Column("undo_job", sa.BigInteger, nullable=True),
    sa.Column("undone", sa.BigInteger, nullable=False, default=0),
    sa.Column("undo_failed", sa.Text, nullable=True),  # JSON [[record id, message]]
    sa.Index("ix_imports_creator", "created_by", "id"),
)

blobs = sa.Table(
    "sys_import_blobs",
    imports_metadata,
    sa.Column("import_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

landed = sa.Table(
    "sys_import_landed",
    imports_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("import_id", sa.BigInteger, nullable=False),
    sa.Column("first_row", sa.BigInteger, nullable=False),
    sa.Column("last_row", sa.BigInteger, nullable=False),
    sa.Column("created", sa.Text, nullable=False),  # JSON [[row, id], ...]
    sa.Column("updated", sa.Text, nullable=False),
    sa.Index("ix_import_landed", "import_id", "first_row"),
)

errors = sa.Table(
    "sys_import_errors",
    imports_metadata,
    sa.Column("import_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("row", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("errors", sa.Text, nullable=False),  # JSON [[field or null, message], ...]
    sa.Column("cells", sa.Text, nullable=False),  # JSON: the row's cells as read
)

tables = LazyTables(imports_metadata)

#: Bytes per stored piece of an uploaded file.
PIECE = 1024 * 1024

__all__ = ["PIECE", "blobs", "errors", "imports", "imports_metadata", "landed", "tables"]
