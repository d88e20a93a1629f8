"""The steps of the write pipeline (``pipeline`` runs them, DESIGN §4): payload checks,
conversion, defaults, required, references, uniqueness, the row write and its history.
All errors of a payload are collected and reported together; a field-level denial is a
403 that changes nothing."""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from ..core.errors import Conflict, Forbidden, ValidationFailed
from ..metadata.fieldtypes import AutonumberType, ConversionError, FieldType
from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..rules import ObjectRules
from ..rules.object_rules import ALL
from ..security.tables import users
from . import dependent_picklists
from .context import Ctx, utcnow
from .fields import SYSTEM_FIELD_DEFS
from .systables import history, sequences

NOT_WRITABLE_SYSTEM = frozenset(SYSTEM_FIELD_DEFS) | {"deleted_at"}


@dataclass(frozen=True)
class Shape:
    """What the steps ask of an object's fields, worked out once per metadata version
    instead of once per record."""

    references: frozenset[str]  # lookup, master-detail and user fields
    unique: frozenset[str]
    defaults: tuple[FieldDef, ...]  # writable fields with a default
    dependents: bool  # any dependent picklist
    files: bool  # any file field
    names: frozenset[str]  # every field's name: what a row may hold


_shapes: weakref.WeakKeyDictionary[Snapshot, dict[str, Shape]] = weakref.WeakKeyDictionary()


def shape_of(ctx: Ctx) -> Shape:
    per_object = _shapes.get(ctx.snapshot)
    if per_object is None:
        per_object = _shapes.setdefault(ctx.snapshot, {})
    found = per_object.get(ctx.obj.id)
    if found is None:
        fields = ctx.obj.fields
        found = per_object[ctx.obj.id] = Shape(
            frozenset(f.name for f in fields if f.type in ("lookup", "master_detail", "user")),
            frozenset(f.name for f in fields if f.unique),
            tuple(f for f in fields if f.kind.writable and f.options.get("default")),
            bool(dependent_picklists.dependents(ctx.obj)),
            any(f.type == "file" for f in fields),
            frozenset(f.name for f in fields))
    return found


class Known:
    """Answers for a batch of new records, read with one query per field instead of one
    per record: which referenced records exist for the writer, and which unique values are
    taken. A value the batch did not ask about (set by a default, a formula or a trigger)
    is asked as for a single record. Only valid in the transaction that read it, before the
    batch writes (records of the batch itself are checked by the caller)."""

    def __init__(self, ctx: Ctx, payloads: Sequence[Any]) -> None:
        self.asked: dict[str, set[Any]] = {}
        self.found: dict[str, set[Any]] = {}
        shape = shape_of(ctx)
        for name in shape.references | shape.unique:
            f = ctx.obj.field(name)
            assert f is not None
            if f.type in ("lookup", "master_detail") and ctx.snapshot.object(f.target or "") \
                    is None:
                continue  # asked record by record: "points at a removed object"
            wanted: set[Any] = set()
            for data in payloads:
                raw = data.get(name) if isinstance(data, Mapping) else None
                if raw is None:
                    continue
                try:
                    wanted.add(f.kind.to_python(f, raw))
                except (ConversionError, TypeError):
                    continue  # prepare reports it
            wanted.discard(None)
            if not wanted:
                continue
            self.asked[name] = wanted
            self.found[name] = _present(ctx, f, sorted(wanted, key=str))


def _present(ctx: Ctx, f: FieldDef, values: list[Any]) -> set[Any]:
    found: set[Any] = set()
    for start in range(0, len(values), 500):
        part = values[start:start + 500]
        if f.unique:
            col = ctx.table.c[f.name]
            found.update(ctx.conn.execute(sa.select(col).where(col.in_(part))).scalars())
        elif f.type == "user":
            found.update(ctx.conn.execute(sa.select(users.c.id).where(
                users.c.id.in_(part))).scalars())
        else:
            target = ctx.snapshot.object(f.target or "")
            assert target is not None
            t = ctx.schema.table(target.name)
            found.update(ctx.conn.execute(sa.select(t.c.id).where(
                t.c.id.in_(part), t.c.deleted_at.is_(None),
                ctx.access.visibility(target, t))).scalars())
    return found


#: What a writer is told when a field they may not read (a formula over a hidden cost,
#: say) cannot be computed: neither its name nor the cause, which could carry its value.
CONCEALED = "a value computed from fields you may not see could not be computed"


def conceal(ctx: Ctx, errors: dict[str, list[str]]) -> None:
    """Errors on fields hidden from the writer become one message that names nothing:
    the write is still refused (the record would be wrong), but the refusal reveals
    neither the hidden field nor a value derived from it."""
    readable = ctx.access.readable(ctx.obj)
    hidden = [k for k in errors if ctx.obj.field(k) is not None and k not in readable]
    for key in hidden:
        del errors[key]
    if hidden:
        errors.setdefault("__all__", []).append(CONCEALED)


_HIDDEN, _COMPUTED, _DENIED, _WRITE = "hidden", "computed", "denied", "write"


def _fields_for(ctx: Ctx) -> dict[str, tuple[FieldDef, str]]:
    """Field name -> (field, what the writer may do with it), per access and object: the
    checks of ``_convert`` in the order it makes them (hidden, computed, read-only). Kept
    in the access's own ``derived`` values: asked once per record written."""
    per_object: dict[str, dict[str, tuple[FieldDef, str]]] = \
        ctx.access.derived.setdefault(_fields_for, {})
    found = per_object.get(ctx.obj.id)
    if found is None:
        readable = ctx.access.readable(ctx.obj)
        writable = ctx.access.writable(ctx.obj)
        found = per_object[ctx.obj.id] = {
            f.name: (f, _HIDDEN if f.name not in readable else _COMPUTED
                     if not f.kind.writable else _DENIED if f.name not in writable
                     else _WRITE) for f in ctx.obj.fields}
    return found


def convert(ctx: Ctx, data: Mapping[Any, Any], errors: dict[str, list[str]],
            existing: Any = None) -> dict[str, Any]:
    """The sent values as Python values; a field the writer may not write is a 403 that
    changes nothing (hidden fields are never named, so the refusal does not reveal them).
    An update sending back a stored value that today's checks refuse keeps it when the
    type allows (``FieldType.keeps_stored``: a phone number stored before numbers were
    checked), so the record's other fields can still change."""
    fields = _fields_for(ctx)
    denied: dict[str, list[str]] = {}
    hidden_sent = False
    values: dict[str, Any] = {}
    for key, raw in data.items():
        found = fields.get(key) if isinstance(key, str) else None
        if found is None:
            reason = "is set by the system" if key in NOT_WRITABLE_SYSTEM else "no such field"
            errors.setdefault(str(key)[:40], []).append(reason)
            continue
        f, access = found
        if access is _HIDDEN:
            hidden_sent = True
            continue
        if access is _COMPUTED:
            errors.setdefault(key, []).append(f"is a {f.type} field and computed")
            continue
        if access is _DENIED:
            denied.setdefault(key, []).append("is read-only for you")
            continue
        try:
            values[key] = f.kind.to_python(f, raw)
        except ConversionError as exc:
            if existing is not None and f.kind.keeps_stored(f, raw, existing._mapping.get(key)):
                values[key] = existing._mapping[key]
            else:
                errors.setdefault(key, []).append(str(exc))
    if hidden_sent or denied:
        raise Forbidden("you may not write some of the fields you sent" if hidden_sent and not denied
                        else f"you may not write {', '.join(sorted(denied))}", denied)
    return values


def defaults(ctx: Ctx, values: dict[str, Any], errors: dict[str, list[str]],
              defaulted: Sequence[FieldDef]) -> None:
    """Defaults of the fields the payload does not name; a default may read the values
    sent (``add_days(start_date, 30)``). An explicit null stays null."""
    missing = [f for f in defaulted if f.name not in values and f.name not in errors]
    if not missing:
        return
    try:
        found = ObjectRules.for_object(ctx.obj, ctx.snapshot).defaults(values)
    except ValidationFailed as exc:
        found = {}
        for name, messages in exc.fields.items():
            if name not in values:
                errors.setdefault(name, []).extend(messages)
    for f in missing:
        if f.name in found:
            try:
                values[f.name] = f.kind.to_python(f, found[f.name], lenient=True)
            except ConversionError as exc:
                errors.setdefault(f.name, []).append(f"default: {exc}")


def references(ctx: Ctx, values: dict[str, Any], errors: dict[str, list[str]],
                shape: Shape, known: Known | None) -> None:
    """Lookups name live records the writer can see; user fields name users."""
    for name, value in values.items():
        if name not in shape.references:
            continue
        f = ctx.obj.field(name)
        if value is None or f is None:
            continue
        if known is not None and value in known.asked.get(name, ()):
            if value not in known.found[name]:
                errors.setdefault(name, []).append(
                    f"no user {value}" if f.type == "user" else f"no {f.target} record {value}")
            continue
        if f.type in ("lookup", "master_detail"):
            target = ctx.snapshot.object(f.target or "")
            if target is None:
                errors.setdefault(name, []).append("points at a removed object")
                continue
            t = ctx.schema.table(target.name)
            found = ctx.conn.execute(sa.select(t.c.id).where(
                t.c.id == value, t.c.deleted_at.is_(None),
                ctx.access.visibility(target, t))).first()
            if found is None:
                errors.setdefault(name, []).append(f"no {target.name} record {value}")
        elif f.type == "user" and ctx.conn.execute(
                sa.select(users.c.id).where(users.c.id == value)).first() is None:
            errors.setdefault(name, []).append(f"no user {value}")


def unique(ctx: Ctx, values: dict[str, Any], existing: Any, errors: dict[str, list[str]],
            shape: Shape, known: Known | None) -> None:
    """A unique value is unique across every record of the object, the ones the writer
    cannot see and the deleted ones included (the unique index holds them all). So the
    check reads past visibility, and its answer is the same whoever holds the value: it
    never says whether that record is visible, deleted or whose it is (decision 0015)."""
    t = ctx.table
    for name, value in values.items():
        if value is None or name not in shape.unique:
            continue
        if known is not None and value in known.asked.get(name, ()):
            taken = value in known.found[name]
        else:
            q = sa.select(t.c.id).where(t.c[name] == value)
            if existing is not None:
                q = q.where(t.c.id != existing.id)
            taken = ctx.conn.execute(q.limit(1)).first() is not None
        if taken:
            key, message = unique_refusal(ctx, name)
            errors.setdefault(key, []).append(message)


UNIQUE_MESSAGE = "must be unique; another record has this value"
#: The same refusal for a field hidden from the writer (set by a default or a trigger):
#: not keyed by the field, whose name the writer may not learn.
UNIQUE_HIDDEN_MESSAGE = "another record has a value that must be unique"


def unique_refusal(ctx: Ctx, name: str) -> tuple[str, str]:
    """The key and message of a unique conflict on field ``name`` for this writer."""
    if name in ctx.access.readable(ctx.obj):
        return name, UNIQUE_MESSAGE
    return ALL, UNIQUE_HIDDEN_MESSAGE


@contextmanager
def _unique_index_refusals(ctx: Ctx) -> Iterator[None]:
    """A unique value written by two transactions at once passes ``_unique`` in both and
    meets the unique index in the second: the same 422 on the field, not a server error.
    The write's transaction rolls back with it, so nothing is left half-done."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        column = ctx.tenant.dialect.unique_violation(exc, ctx.table)
        if column is None:
            raise
        key, message = unique_refusal(ctx, column)
        raise ValidationFailed(f"{key}: {message}", {key: [message]}) from None


def _next_number(ctx: Ctx, f: FieldDef) -> str:
    start = int(f.options.get("start", 1))
    value = ctx.tenant.dialect.next_in_sequence(ctx.conn, sequences, f.id, start)
    kind = f.kind
    assert isinstance(kind, AutonumberType)
    return kind.render(f, value)


def insert_rows(ctx: Ctx, prepared: Sequence[dict[str, Any]],
                owner: tuple[int, int | None] | None = None
                ) -> tuple[list[int], list[dict[str, Any]], Any]:
    """The row write of new records (pipeline step 3): autonumbers and system fields
    added, one executemany. ``owner``: (user, department) owning them instead of the
    writer. Returns their ids, the rows as written, and the time."""
    now = utcnow()
    p = ctx.principal
    owner_id, department_id = owner if owner is not None else (p.user_id, p.department_id)
    autonumbers = [f for f in ctx.obj.fields if f.type == "autonumber"]
    rows = []
    for values in prepared:
        row = dict(values)
        for f in autonumbers:
            row[f.name] = _next_number(ctx, f)
        row.update(owner_id=owner_id, department_id=department_id, created_at=now,
                   created_by=p.user_id, updated_at=now, updated_by=p.user_id, version=1)
        rows.append(row)
    keys = set().union(*rows)  # same keys in every row so one executemany carries them
    for r in rows:  # (the rows are this function's own copies)
        if len(r) != len(keys):
            r.update(dict.fromkeys(keys - r.keys()))
    with _unique_index_refusals(ctx):
        ids = ctx.tenant.dialect.insert_rows(ctx.conn, ctx.table, rows)
    return ids, rows, now


def update_row(ctx: Ctx, row: Any, changed: dict[str, Any]) -> tuple[int, Any]:
    """The row write of an update (pipeline step 3), only if the row is still at the
    version read (else 409). Returns the new version and the time."""
    t = ctx.table
    new_version = row.version + 1
    now = utcnow()
    with _unique_index_refusals(ctx):
        result = ctx.conn.execute(
            t.update().where(t.c.id == row.id, t.c.version == row.version)
            .values(**changed, version=new_version, updated_at=now,
                    updated_by=ctx.principal.user_id))
    if result.rowcount != 1:
        raise Conflict("the record changed meanwhile; reload and try again")
    rewritten(ctx.conn, ctx.obj.id, row.id)
    return new_version, now


#: The records each open write transaction changed after writing them (``rewritten``),
#: keyed by the transaction: the notes end with it.
_rewritten: weakref.WeakKeyDictionary[sa.RootTransaction, set[tuple[str, int]]] = \
    weakref.WeakKeyDictionary()


def rewritten(conn: sa.Connection, object_id: str, rid: int) -> None:
    """Note that record ``rid`` changed in ``conn``'s transaction (an update, a move to the
    recycle bin): a create answers from the values it inserted only when nothing after the
    insert (an after-save trigger, an approval submitted and decided at once) changed them."""
    transaction = conn.get_transaction()
    if transaction is not None:
        _rewritten.setdefault(transaction, set()).add((object_id, int(rid)))


def was_rewritten(conn: sa.Connection, object_id: str, rid: int) -> bool:
    transaction = conn.get_transaction()
    return transaction is None or (object_id, int(rid)) in _rewritten.get(transaction, ())


#: The ``field`` of a history entry that holds all the fields a write changed.
MANY_FIELDS = "*"

Change = tuple[FieldDef, Any, Any]  # field, old value, new value (Python values)


def history_entry(ctx: Ctx, obj: ObjectDef, rid: int, version: int, action: str,
                  changes: Sequence[Change] = (), at: Any = None) -> dict[str, Any]:
    """One history row for one write: every field it changed, as
    ``{"<field id>": [old, new]}`` JSON in ``new_value`` (``field`` = ``*``). A create of
    ten fields is one row, not ten (sys_history used to grow five times faster than the
    data). Readers expand it per field (``RecordService.history``); rows written one per
    field before keep their old shape and read the same."""
    values = {f.id: [None if old is None else f.kind.to_json(f, old),
                     None if new is None else f.kind.to_json(f, new)]
              for f, old, new in changes}
    return {"object_id": obj.id, "record_id": rid, "action": action,
            "field_id": None, "field": MANY_FIELDS if values else None,
            "old_value": None, "new_value": _compact_json(values) if values else None,
            "record_version": version, "actor_id": ctx.principal.user_id,
            "actor": ctx.principal.label, "at": at or utcnow()}


def created_entries(ctx: Ctx, obj: ObjectDef, ids: Sequence[int],
                    rows: Sequence[Mapping[str, Any]], at: Any) -> list[dict[str, Any]]:
    """The history entries of new records: ``history_entry(..., "create", [every stored
    field set, from None])`` for each, the same rows, built from the object's stored
    fields looked at once rather than once per record (an import writes one per row)."""
    plan = [(f, f.id, f.name, None if type(f.kind).to_json is FieldType.to_json
             else f.kind.to_json) for f in obj.fields if f.stored]
    blank = history_entry(ctx, obj, 0, 1, "create", (), at)  # every record's but these:
    written = {**blank, "field": MANY_FIELDS}
    out: list[dict[str, Any]] = []
    for rid, row in zip(ids, rows, strict=True):
        values = {}
        for f, fid, name, to_json in plan:
            value = row.get(name)
            if value is not None:
                values[fid] = [None, value if to_json is None else to_json(f, value)]
        out.append({**written, "record_id": rid, "new_value": _compact_json(values)} if values
                   else {**blank, "record_id": rid})
    return out


def _compact_json(values: dict[str, Any]) -> str:
    """``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``, the same text,
    by orjson (five times faster; history is written for every record of an import)."""
    try:
        return orjson.dumps(values).decode()
    except TypeError:  # a value orjson does not know: the standard library's answer
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def record_history(ctx: Ctx, entries: Sequence[dict[str, Any]]) -> None:
    """Insert history entries, unless the operation records its own (a backfill run)."""
    if entries and ctx.record_history:
        ctx.tenant.dialect.insert_many(ctx.conn, history, entries)
