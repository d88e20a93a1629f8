"""Compile a metadata snapshot into SQLAlchemy Core tables (a separate pass, as data).

Each snapshot gets its own ``MetaData`` (a Table goes stale after DDL, so tables are never
shared across versions) and the result is cached by (tenant, version).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ...metadata.model import FieldDef, ObjectDef, Snapshot, composite_index_name


def system_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("owner_id", sa.BigInteger, nullable=True),
        sa.Column("department_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.BigInteger, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted_at", sa.DateTime, nullable=True),
        sa.Column("deleted_batch", sa.String(40), nullable=True),
    ]


def field_column(f: FieldDef, name: str | None = None) -> sa.Column[Any]:
    col_type = f.kind.column_type(f)
    assert col_type is not None, f"{f.name} has no column"
    return sa.Column(name or f.name, col_type, nullable=True)


#: Columns every non-unique index ends with, after the fields it is declared on (decision
#: 0031). ``id`` completes the list order ``(field, id)``, so a walk of the index needs no
#: sort; ``owner_id`` and ``department_id`` let a scoped reader's visibility test run on the
#: index entry, so SQLite reads a table row only for entries the reader may see (a walk for
#: a reader who sees a quarter of the rows otherwise reads four times as many rows).
SCOPE_COLUMNS = ("id", "owner_id", "department_id")


def index_columns(columns: Iterable[str]) -> list[str]:
    """The columns of a non-unique index declared on ``columns`` (field indexes, reference
    indexes and composite indexes alike): the same in created tables and in migrations."""
    return [*columns, *SCOPE_COLUMNS]


def field_indexes(table: sa.Table, f: FieldDef, column: str | None = None) -> list[sa.Index]:
    """Index names come from the immutable field id, so renames never touch them."""
    col = table.c[column or f.name]
    if f.unique:
        return [sa.Index("uq_" + f.id, col, unique=True)]
    if f.indexed or f.kind.expression_type == "reference":
        return [sa.Index("ix_" + f.id, col, *(table.c[c] for c in SCOPE_COLUMNS))]
    return []


def system_indexes(table: sa.Table, obj: ObjectDef) -> list[sa.Index]:
    return [
        sa.Index(f"ix_{obj.id}_owner", table.c.owner_id),
        sa.Index(f"ix_{obj.id}_dept", table.c.department_id),
        sa.Index(f"ix_{obj.id}_deleted", table.c.deleted_at),
    ]


@dataclass(frozen=True)
class CompiledSchema:
    version: int
    metadata: sa.MetaData
    tables: dict[str, sa.Table]

    def table(self, object_name: str) -> sa.Table:
        return self.tables[object_name]


# Per snapshot object, not per (tenant, version): a snapshot published by a transaction
# that rolls back must not lend its tables to a later, different snapshot of that number.
# Snapshots live in the metadata store's cache, so compiled schemas live as long as they do.
_cache: weakref.WeakKeyDictionary[Snapshot, CompiledSchema] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def compile_snapshot(tenant_key: str, snapshot: Snapshot) -> CompiledSchema:
    """The SQLAlchemy tables of ``snapshot`` (``tenant_key`` is kept for callers' sake:
    a snapshot belongs to one tenant)."""
    with _lock:
        hit = _cache.get(snapshot)
        if hit is not None:
            return hit
    md = sa.MetaData()
    tables = {}
    for obj in snapshot.objects.values():
        t = sa.Table(obj.table, md, *system_columns(),
                     *(field_column(f) for f in obj.stored_fields()))
        for f in obj.stored_fields():
            field_indexes(t, f)
        system_indexes(t, obj)
        for fields in obj.composite_indexes:
            sa.Index(composite_index_name(fields),
                     *(t.c[c] for c in index_columns(f.name for f in fields)))
        tables[obj.name] = t
    compiled = CompiledSchema(snapshot.version, md, tables)
    with _lock:
        return _cache.setdefault(snapshot, compiled)
