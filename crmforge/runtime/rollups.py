"""Roll-up fields kept current (DESIGN §3, §4 step 5).

A roll-up on a parent counts, sums, or takes the min or max of a field of its live
master-detail children, optionally only of children whose ``filter`` holds. Every write of
a child (insert, update, soft delete, restore, purge) has its parents recomputed in the
same transaction (``propagation`` decides which, from the graph compiled per metadata
version; this module computes one parent): the parent row is locked first (so concurrent
child writes on PostgreSQL serialise instead of losing a count), then one aggregate query
per parent and child object computes the unfiltered roll-ups, and one query reads the
live children for the filtered ones, whose filter runs in Python (the expression language
is not translated to SQL; correctness first).

The new values are written without a version bump or ``updated_at`` change, with one
history row per changed roll-up (action ``rollup``): see decision 0005.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from ..metadata.fieldtypes import RollupType
from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..rules import CompiledExpression, ExpressionError, ObjectRules, T, compile_expression
from . import writes
from .context import Ctx
from .formulas import FormulaReader, RelatedReader, stored_formulas
from .logic import differs

NUMERIC = frozenset({"integer", "decimal", "currency", "percent", "rollup"})
DATES = frozenset({"date", "datetime"})


@dataclass(frozen=True)
class Rollup:
    parent: ObjectDef
    field: FieldDef
    child: ObjectDef
    link: FieldDef
    filter: CompiledExpression | None
    #: Child fields whose change can move the value; None: any change can.
    inputs: frozenset[str] | None

    @property
    def function(self) -> str:
        return str(self.field.options.get("function"))

    @property
    def source(self) -> FieldDef | None:
        return self.child.field(str(self.field.options.get("field")))


def rollups_over(snapshot: Snapshot, child: ObjectDef) -> list[Rollup]:
    """The roll-ups of any parent that aggregate ``child`` (broken filters are skipped:
    the metadata check refuses them, and a stale value beats a wrong one)."""
    out = []
    for parent in snapshot.objects.values():
        for f in parent.fields:
            if f.type != "rollup" or f.options.get("child") != child.name:
                continue
            link = next((g for g in child.fields
                         if g.type == "master_detail" and g.target == parent.name), None)
            if link is None:
                continue
            compiled, inputs = None, {link.name, str(f.options.get("field"))}
            source = f.options.get("filter")
            if isinstance(source, str) and source.strip():
                try:
                    compiled = compile_expression(
                        source, ObjectRules.for_object(child, snapshot).context,
                        expected=T.BOOLEAN)
                except ExpressionError:
                    continue
                inputs |= compiled.fields
            computed = compiled is not None and (compiled.relations or any(
                (g := child.field(n)) is not None and g.type in ("formula", "rollup")
                for n in compiled.fields))
            out.append(Rollup(parent, f, child, link, compiled,
                              None if computed else frozenset(inputs)))
    return out


def recompute(ctx: Ctx, parent: ObjectDef, rollups: Sequence[Rollup], pid: int
              ) -> tuple[Mapping[Any, Any], dict[str, Any]] | None:
    """Recompute ``rollups`` of one parent row (and its stored formulas); write changes.
    Returns the row as it was and what changed, or None when nothing did."""
    t = ctx.schema.table(parent.name)
    row = ctx.conn.execute(sa.select(t).where(t.c.id == pid, t.c.deleted_at.is_(None))
                           .with_for_update()).first()
    if row is None:
        return None  # a deleted parent is recomputed when it is restored
    values = {r.field.name: _value(r, v) for r, v in _aggregates(ctx, rollups, pid)}
    current = row._mapping
    new = {**current, **values}
    values.update(stored_formulas(ctx, parent, new))
    changed = {k: v for k, v in values.items() if differs(current[k], v)}
    if not changed:
        return None
    ctx.conn.execute(t.update().where(t.c.id == pid).values(**changed))
    writes.record_history(ctx, [writes.history_entry(
        ctx, parent, pid, row.version, "rollup",
        [(f, current[k], v) for k, v in changed.items() if (f := parent.field(k)) is not None])])
    return current, changed


def _aggregates(ctx: Ctx, rollups: Sequence[Rollup], pid: int) -> list[tuple[Rollup, Any]]:
    out: list[tuple[Rollup, Any]] = []
    for child in {r.child.name: r.child for r in rollups}.values():
        mine = [r for r in rollups if r.child.name == child.name]
        ct = ctx.schema.table(child.name)
        plain = [r for r in mine if r.filter is None]
        live = [ct.c.deleted_at.is_(None)]
        if plain:
            link = plain[0].link
            found = ctx.conn.execute(sa.select(*(_sql(r, ct) for r in plain)).where(
                ct.c[link.name] == pid, *live)).one()
            out.extend(zip(plain, found, strict=True))
        filtered = [r for r in mine if r.filter is not None]
        if filtered:
            link = filtered[0].link
            kids = [k._mapping for k in ctx.conn.execute(
                sa.select(ct).where(ct.c[link.name] == pid, *live))]
            out.extend((r, _in_python(ctx, r, kids)) for r in filtered)
    return out


def numeric(f: FieldDef) -> bool:
    """Number fields, and stored formulas with a number result (they have a column, kept
    current on every write of the child before its parents' roll-ups are refreshed)."""
    return f.type in NUMERIC or (f.type == "formula" and f.stored
                                 and f.options.get("result_type") in NUMERIC)


def _sql(r: Rollup, ct: sa.Table) -> Any:
    source = r.source
    if r.function == "count" or source is None:
        return sa.func.count()
    if not (numeric(source) or source.type in DATES) or (source.type in DATES
                                                          and r.function == "sum"):
        return sa.null()  # the save check refuses these; old metadata reads as no value
    column = ct.c[source.name]
    if r.function == "sum":
        return sa.func.sum(column)
    return sa.func.min(column) if r.function == "min" else sa.func.max(column)


def _in_python(ctx: Ctx, r: Rollup, kids: Sequence[Mapping[Any, Any]]) -> Any:
    assert r.filter is not None
    related = RelatedReader(ctx, system=True)
    formulas = FormulaReader(ctx, r.child, related)
    chosen = []
    for kid in kids:
        record = {**kid, **formulas.values(kid)}
        try:
            if r.filter.evaluate(record, related.resolver(r.child, record)):
                chosen.append(record)
        except ExpressionError:
            continue  # a child the filter cannot judge is not counted
    if r.function == "count":
        return len(chosen)
    source = r.source
    if source is not None and source.type in DATES and r.function in ("min", "max"):
        dates = [k[source.name] for k in chosen if k.get(source.name) is not None]
        return (min(dates) if r.function == "min" else max(dates)) if dates else None
    if source is None or not numeric(source):
        return None
    numbers = [Decimal(str(k[source.name])) for k in chosen if k.get(source.name) is not None]
    if r.function == "sum":
        return sum(numbers, Decimal(0))
    if not numbers:
        return None
    return min(numbers) if r.function == "min" else max(numbers)


def _value(r: Rollup, raw: Any) -> Any:
    """A count or sum over no children is 0; a min or max over none has no value; a min
    or max of dates is a date (or a date and time)."""
    if raw is None:
        return Decimal(0) if r.function in ("count", "sum") else None
    kind = r.field.kind
    assert isinstance(kind, RollupType)
    if kind.dated(r.field) is not None:
        return kind.to_python(r.field, raw)
    source = r.source
    if source is not None and source.type in DATES:
        return None  # saved before dated roll-ups existed: its column is a number
    return Decimal(str(raw)).quantize(Decimal(1).scaleb(-kind.scale(r.field)),
                                      rounding=ROUND_HALF_UP)
