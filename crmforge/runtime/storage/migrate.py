"""Apply metadata changes as DDL, inside the caller's transaction (online migrations).

Adding, renaming and removing are metadata-only operations on both databases (a removed
column or table is renamed into the recycle bin, never dropped until purged). A type
change converts value by value into a new column, refusing the whole change, with a
report, when any value would not survive the round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from ...core.errors import ConversionRefused
from ...metadata.diff import Change
from ...metadata.fieldtypes import ConversionError
from ...metadata.model import FieldDef, ObjectDef, composite_index_name
from .dialects import Dialect
from .tables import field_column, index_columns, system_columns

BATCH = 5000
REPORT_LIMIT = 100


def _ops(conn: sa.Connection) -> Operations:
    return Operations(MigrationContext.configure(conn))


def _index_specs(f: FieldDef) -> list[tuple[str, bool]]:
    if f.unique:
        return [("uq_" + f.id, True)]
    if f.indexed or f.kind.expression_type == "reference":
        return [("ix_" + f.id, False)]
    return []


def _create_indexes(op: Operations, table: str, f: FieldDef, column: str) -> None:
    for name, unique in _index_specs(f):
        if unique:
            _refuse_repeats(op.get_bind(), table, f, column)
        op.create_index(name, table, [column] if unique else index_columns([column]),
                        unique=unique)


def _refuse_repeats(conn: sa.Connection, table: str, f: FieldDef, column: str) -> None:
    """A unique index over repeated values is refused with a report, not a database error."""
    t = sa.table(table, sa.column("id"), sa.column(column, f.kind.column_type(f)))
    col = t.c[column]
    repeated = (sa.select(col).where(col.is_not(None)).group_by(col)
                .having(sa.func.count() > 1).scalar_subquery())
    rows = conn.execute(sa.select(t.c.id, col).where(col.in_(repeated)).order_by(t.c.id)).all()
    if not rows:
        return
    reason = f"{len(rows)} records share values of '{f.name}', so it cannot be unique"
    failures = [{"id": r[0], "value": f.kind.to_json(f, r[1]),
                 "error": "another record has this value"} for r in rows[:REPORT_LIMIT]]
    raise ConversionRefused(reason, {f.name: [reason]}, details={
        "convertible": False, "rows": None, "failures": failures, "failure_count": len(rows)})


def _drop_indexes(op: Operations, conn: sa.Connection, table: str, f: FieldDef) -> None:
    existing = {ix["name"] for ix in sa.inspect(conn).get_indexes(table)}
    for name in ("uq_" + f.id, "ix_" + f.id):
        if name in existing:
            op.drop_index(name, table_name=table)


def create_object_table(op: Operations, obj: ObjectDef) -> None:
    columns = [*system_columns(), *(field_column(f) for f in obj.stored_fields())]
    op.create_table(obj.table, *columns)
    op.create_index(f"ix_{obj.id}_owner", obj.table, ["owner_id"])
    op.create_index(f"ix_{obj.id}_dept", obj.table, ["department_id"])
    op.create_index(f"ix_{obj.id}_deleted", obj.table, ["deleted_at"])
    for f in obj.stored_fields():
        _create_indexes(op, obj.table, f, f.name)
    for fields in obj.composite_indexes:
        op.create_index(composite_index_name(fields), obj.table,
                        index_columns(f.name for f in fields))


def apply_changes(conn: sa.Connection, dialect: Dialect, changes: Iterable[Change]) -> None:
    changes = list(changes)
    if not changes:
        return
    dialect.prepare_ddl(conn)
    op = _ops(conn)
    for ch in changes:
        _apply(conn, op, ch)


def _apply(conn: sa.Connection, op: Operations, ch: Change) -> None:
    k = ch.kind
    if k == "create_table":
        assert ch.obj is not None
        create_object_table(op, ch.obj)
    elif k in ("rename_table", "remove_table", "restore_table"):
        assert ch.new_table
        op.rename_table(ch.table, ch.new_table)
    elif k == "drop_table":
        op.drop_table(ch.table)
    elif k == "add_column":
        assert ch.new_field and ch.column
        op.add_column(ch.table, field_column(ch.new_field, ch.column))
        _create_indexes(op, ch.table, ch.new_field, ch.column)
    elif k == "rename_column":
        assert ch.column and ch.new_column
        op.alter_column(ch.table, ch.column, new_column_name=ch.new_column)
    elif k == "remove_column":
        assert ch.old_field and ch.column and ch.new_column
        _drop_indexes(op, conn, ch.table, ch.old_field)
        op.alter_column(ch.table, ch.column, new_column_name=ch.new_column)
    elif k == "restore_column":
        assert ch.new_field and ch.column and ch.new_column
        op.alter_column(ch.table, ch.column, new_column_name=ch.new_column)
        _create_indexes(op, ch.table, ch.new_field, ch.new_column)
    elif k == "drop_column":
        assert ch.column
        op.drop_column(ch.table, ch.column)
    elif k == "reindex_column":
        assert ch.old_field and ch.new_field and ch.column
        _drop_indexes(op, conn, ch.table, ch.old_field)
        _create_indexes(op, ch.table, ch.new_field, ch.column)
    elif k == "convert_column":
        _convert(conn, op, ch)
    elif k == "create_index":
        assert ch.index and ch.index_columns
        op.create_index(ch.index, ch.table, index_columns(ch.index_columns))
    elif k == "drop_index":
        assert ch.index
        if ch.index in {ix["name"] for ix in sa.inspect(conn).get_indexes(ch.table)}:
            op.drop_index(ch.index, table_name=ch.table)
    else:  # pragma: no cover - diff and migrate are kept in step by tests
        raise ValueError(f"unknown change {k}")


def convert_value(old: FieldDef, new: FieldDef, value: Any) -> Any:
    """Convert one stored value through its JSON form; ConversionError when it does not fit.

    The new type converts leniently but never loses information: a decimal with cents does
    not become an integer, a time of day does not become a date, long text is not cut.
    """
    if value is None:
        return None
    return new.kind.to_python(new, old.kind.to_json(old, value), lenient=True)


def conversion_report(
    conn: sa.Connection, table: str, column: str, old: FieldDef, new: FieldDef
) -> dict[str, Any]:
    """Which values would not convert from ``old`` to ``new`` (the dry run of a type change)."""
    if not (old.kind.scalar and new.kind.scalar):
        return {"convertible": False, "reason": f"a {old.type} field cannot become {new.type}",
                "rows": 0, "failures": [], "failure_count": 0}
    t = sa.table(table, sa.column("id"), sa.column(column, old.kind.column_type(old)))
    failures: list[dict[str, Any]] = []
    count = rows = 0
    for row in conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None))):
        rows += 1
        try:
            convert_value(old, new, row[1])
        except ConversionError as exc:
            count += 1
            if len(failures) < REPORT_LIMIT:
                failures.append({"id": row[0], "value": old.kind.to_json(old, row[1]),
                                 "error": str(exc)})
    return {"convertible": count == 0, "rows": rows, "failures": failures,
            "failure_count": count}


def _convert(conn: sa.Connection, op: Operations, ch: Change) -> None:
    old, new = ch.old_field, ch.new_field
    assert old and new and ch.column
    report = conversion_report(conn, ch.table, ch.column, old, new)
    if not report["convertible"]:
        reason = report.get("reason") or (
            f"{report['failure_count']} of {report['rows']} values of '{new.name}' would not "
            f"convert from {old.type} to {new.type}"
        )
        raise ConversionRefused(reason, {new.name: [reason]}, details=report)
    temp = "cv_" + new.id
    op.add_column(ch.table, field_column(new, temp))
    src = sa.table(ch.table, sa.column("id"), sa.column(ch.column, old.kind.column_type(old)))
    dst = sa.table(ch.table, sa.column("id"), sa.column(temp, new.kind.column_type(new)))
    stmt = dst.update().where(dst.c.id == sa.bindparam("_id")).values({temp: sa.bindparam("_v")})
    last = 0
    while True:  # keyset batches: never hold a read cursor open across our own updates
        rows = conn.execute(
            sa.select(src.c.id, src.c[ch.column])
            .where(src.c[ch.column].is_not(None), src.c.id > last)
            .order_by(src.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(stmt, [{"_id": r[0], "_v": convert_value(old, new, r[1])} for r in rows])
        last = rows[-1][0]
    _drop_indexes(op, conn, ch.table, old)
    op.drop_column(ch.table, ch.column)
    op.alter_column(ch.table, temp, new_column_name=ch.column)
    _create_indexes(op, ch.table, new, ch.column)


def reshape_indexes(conn: sa.Connection, dialect: Dialect,
                    tables: Iterable[sa.Table]) -> list[str]:
    """Rebuild the indexes of ``tables`` whose columns differ from what the current code
    declares (an earlier CRMForge made list indexes without the scope columns, decision
    0031); returns their names. In the caller's transaction: all or none."""
    tables = list(tables)
    if not tables:
        return []
    inspector = sa.inspect(conn)
    rebuilt: list[str] = []
    for table in tables:
        found = {ix["name"]: list(ix["column_names"]) for ix in inspector.get_indexes(table.name)}
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            wanted = [c.name for c in index.columns]
            if str(index.name) not in found or found[str(index.name)] == wanted:
                continue  # a missing index is the designer's business, not a shape to mend
            if not rebuilt:
                dialect.prepare_ddl(conn)
            op = _ops(conn)
            op.drop_index(str(index.name), table_name=table.name)
            op.create_index(str(index.name), table.name, wanted, unique=bool(index.unique))
            rebuilt.append(str(index.name))
    return rebuilt
