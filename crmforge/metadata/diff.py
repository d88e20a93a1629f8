"""Differences between two snapshots, as data; storage compiles them to DDL.

Objects and fields are matched by immutable id, so a rename is a rename and a removal
followed by a restore brings the same column back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import (
    FieldDef,
    ObjectDef,
    Snapshot,
    composite_index_name,
    removed_column_name,
    removed_table_name,
    table_name,
)


@dataclass(frozen=True)
class Change:
    """One schema change. ``kind`` names it; the other attributes say what it acts on."""

    kind: str
    object_id: str
    table: str
    new_table: str | None = None
    field_id: str | None = None
    column: str | None = None
    new_column: str | None = None
    old_field: FieldDef | None = None
    new_field: FieldDef | None = None
    obj: ObjectDef | None = None
    #: create_index / drop_index: a composite index's name and (create) its columns.
    index: str | None = None
    index_columns: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        names = ("kind", "object_id", "table", "new_table", "field_id", "column", "new_column",
                 "index")
        out: dict[str, Any] = {n: getattr(self, n) for n in names if getattr(self, n)}
        if self.old_field is not None and self.new_field is not None \
                and self.old_field.type != self.new_field.type:
            out["from_type"], out["to_type"] = self.old_field.type, self.new_field.type
        return out


def _column_shape(f: FieldDef) -> tuple[str, str]:
    col = f.kind.column_type(f)
    return ("" if col is None else repr(col), f.type)


def diff(old: Snapshot, new: Snapshot) -> list[Change]:
    changes: list[Change] = []
    old_active = {o.id: o for o in old.objects.values()}
    new_active = {o.id: o for o in new.objects.values()}
    old_removed = {oid: r.obj for oid, r in old.removed_objects.items()}
    new_removed = {oid: r.obj for oid, r in new.removed_objects.items()}

    for oid, o in new_active.items():
        if oid in old_active:
            prev = old_active[oid]
            if prev.name != o.name:
                changes.append(Change("rename_table", oid, prev.table, new_table=o.table))
            _with_indexes(changes, prev, o, _field_changes(prev, o))
        elif oid in old_removed:
            changes.append(Change("restore_table", oid, removed_table_name(oid), new_table=o.table))
            _with_indexes(changes, old_removed[oid], o,
                          _field_changes(old_removed[oid], o, table=o.table))
        else:
            changes.append(Change("create_table", oid, o.table, obj=o))
    for oid, o in old_active.items():
        if oid in new_active:
            continue
        if oid in new_removed:
            changes.append(Change("remove_table", oid, o.table, new_table=removed_table_name(oid)))
        else:
            raise ValueError(f"object {o.name} would vanish without going to the recycle bin")
    for oid, o in old_removed.items():
        if oid not in new_active and oid not in new_removed:
            changes.append(Change("drop_table", oid, removed_table_name(oid), obj=o))
    return changes


def _with_indexes(changes: list[Change], prev: ObjectDef, cur: ObjectDef,
                  field_changes: list[Change]) -> None:
    """Field changes between the composite indexes that go (dropped first, while their
    columns are where they were) and those that come (created last, on the final columns)."""
    # A type change rebuilds its column, which cannot go while an index holds it.
    rebuilt = {ch.field_id for ch in field_changes if ch.kind == "convert_column"}
    before = {composite_index_name(ix): ix for ix in prev.composite_indexes}
    after = {composite_index_name(ix): ix for ix in cur.composite_indexes}
    kept = {name for name in before.keys() & after.keys()
            if not rebuilt & {f.id for f in after[name]}}
    changes.extend(Change("drop_index", cur.id, cur.table, index=name)
                   for name in sorted(before.keys() - kept))
    changes.extend(field_changes)
    changes.extend(Change("create_index", cur.id, cur.table, index=name,
                          index_columns=tuple(f.name for f in after[name]))
                   for name in sorted(after.keys() - kept))


def _field_changes(prev: ObjectDef, cur: ObjectDef, table: str | None = None) -> list[Change]:
    table = table or cur.table
    out: list[Change] = []
    prev_fields = {f.id: f for f in prev.fields}
    prev_removed = {r.field.id: r.field for r in prev.removed_fields}
    cur_removed = {r.field.id for r in cur.removed_fields}
    for f in cur.fields:
        if f.id in prev_fields:
            p = prev_fields[f.id]
            if p.stored and not f.stored:
                out.append(Change("remove_column", cur.id, table, field_id=f.id, column=p.name,
                                  new_column=removed_column_name(f.id), old_field=p))
                continue
            if f.stored and not p.stored:
                out.append(Change("add_column", cur.id, table, field_id=f.id, column=f.name,
                                  new_field=f))
                continue
            if p.name != f.name and f.stored:
                out.append(Change("rename_column", cur.id, table, field_id=f.id, column=p.name,
                                  new_column=f.name, old_field=p, new_field=f))
            # Equal options make equal columns; comparing them first spares building and
            # printing column types for every field on every change.
            if f.stored and p.options != f.options and _column_shape(p) != _column_shape(f):
                out.append(Change("convert_column", cur.id, table, field_id=f.id, column=f.name,
                                  old_field=p, new_field=f))
            if f.stored and (p.unique, p.indexed) != (f.unique, f.indexed):
                out.append(Change("reindex_column", cur.id, table, field_id=f.id, column=f.name,
                                  old_field=p, new_field=f))
        elif f.id in prev_removed:
            if f.stored:
                out.append(Change("restore_column", cur.id, table, field_id=f.id,
                                  column=removed_column_name(f.id), new_column=f.name,
                                  old_field=prev_removed[f.id], new_field=f))
        elif f.stored:
            out.append(Change("add_column", cur.id, table, field_id=f.id, column=f.name, new_field=f))
    for fid, p in prev_fields.items():
        if cur.field_by_id(fid) is not None:
            continue
        if fid not in cur_removed:
            raise ValueError(f"field {p.name} would vanish without going to the recycle bin")
        if p.stored:
            out.append(Change("remove_column", cur.id, table, field_id=fid, column=p.name,
                              new_column=removed_column_name(fid), old_field=p))
    for fid, p in prev_removed.items():
        if cur.field_by_id(fid) is None and fid not in cur_removed and p.stored:
            out.append(Change("drop_column", cur.id, table, field_id=fid,
                              column=removed_column_name(fid), old_field=p))
    return out


__all__ = ["Change", "diff", "table_name"]
