"""Stored formulas that read related records, kept current (DESIGN §3, §4 step 5).

A stored formula such as ``account.region`` on a contact is computed when the contact is
written; when the account's ``region`` changes afterwards, the contacts pointing at it
must follow. After every write of an object, ``propagation`` finds (in the graph compiled
per metadata version from ``dependents``) the stored formulas of any object whose relation
paths reach that object and read a field that changed (or a link on the way), and this
module recomputes the rows that reach the written record, in the same transaction.
Deleting or restoring a record recomputes what reads it at all.

Values are computed as the system sees the data: a stored value must not depend on who
made the change that moved it. Like roll-ups, the recomputed values are written without a
version bump or ``updated_at`` change, with one history row per changed field (action
``formula``); the rows they touch are themselves followed (roll-ups of their parents,
formulas over them) by ``propagation``, up to its depth limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..rules import ObjectRules
from . import writes
from .context import Ctx
from .formulas import stored_formulas
from .logic import differs

LINKS = ("lookup", "master_detail")


@dataclass(frozen=True)
class Dependent:
    """Rows of ``holder`` reach a record of the written object through ``hops`` (link
    fields, the first one on ``holder``, each on the object the previous one targets);
    a change of ``inputs`` (None: of any field) moves one of their stored formulas."""

    holder: ObjectDef
    owners: tuple[ObjectDef, ...]
    hops: tuple[FieldDef, ...]
    inputs: frozenset[str] | None


def dependents(snapshot: Snapshot, target: ObjectDef) -> list[Dependent]:
    """Every way a stored formula of any object reads through a relation into ``target``."""
    found: dict[tuple[str, tuple[str, ...]], Dependent] = {}
    for holder in snapshot.objects.values():
        stored = [f.name for f in holder.fields if f.type == "formula" and f.stored]
        if not stored:
            continue
        rules = ObjectRules.for_object(holder, snapshot)
        for name in stored:
            for read in rules.formula_related(name):
                owners, hops = _walk(snapshot, holder, read.relations)
                for k in range(1, len(hops) + 1):
                    reached = snapshot.object(hops[k - 1].target or "")
                    if reached is None or reached.name != target.name:
                        continue
                    inputs = _inputs(target, hops[k].name if k < len(hops) else read.field)
                    key = (holder.name, tuple(h.name for h in hops[:k]))
                    earlier = found.get(key)
                    if earlier is not None:
                        inputs = None if inputs is None or earlier.inputs is None \
                            else inputs | earlier.inputs
                    found[key] = Dependent(holder, owners[:k], hops[:k], inputs)
    return list(found.values())


def _walk(snapshot: Snapshot, holder: ObjectDef, relations: Iterable[str]
          ) -> tuple[tuple[ObjectDef, ...], tuple[FieldDef, ...]]:
    owners: list[ObjectDef] = []
    hops: list[FieldDef] = []
    here: ObjectDef | None = holder
    for rel in relations:
        f = here.field(rel) if here is not None else None
        if here is None or f is None or f.type not in LINKS:
            break
        owners.append(here)
        hops.append(f)
        here = snapshot.object(f.target or "")
    return tuple(owners), tuple(hops)


def _inputs(target: ObjectDef, name: str) -> frozenset[str] | None:
    """A computed formula of the target can move with any of its fields."""
    f = target.field(name)
    if f is not None and f.type == "formula" and not f.stored:
        return None
    return frozenset({name})


def reaching(ctx: Ctx, dep: Dependent, ids: Sequence[int]) -> Any:
    """A condition on ``dep.holder``'s table: the row's path of hops ends in ``ids``."""
    inner: Any = ids
    for owner, hop in reversed(list(zip(dep.owners[1:], dep.hops[1:], strict=True))):
        t = ctx.schema.table(owner.name)
        inner = sa.select(t.c.id).where(t.c[hop.name].in_(inner), t.c.deleted_at.is_(None))
    t = ctx.schema.table(dep.holder.name)
    return t.c[dep.hops[0].name].in_(inner)


def recompute(ctx: Ctx, holder: ObjectDef, where: Any
              ) -> list[tuple[Mapping[Any, Any], dict[str, Any]]]:
    """Recompute the stored formulas of the rows of ``holder`` matching ``where`` and write
    what changed. Returns each changed row as it was, with its new values."""
    t = ctx.schema.table(holder.name)
    rows = ctx.conn.execute(sa.select(t).where(t.c.deleted_at.is_(None), where)
                            .order_by(t.c.id).with_for_update()).all()
    touched: list[tuple[Mapping[Any, Any], dict[str, Any]]] = []
    entries: list[dict[str, Any]] = []
    for row in rows:
        current = row._mapping
        values = stored_formulas(ctx, holder, dict(current))
        new = {k: v for k, v in values.items() if differs(current[k], v)}
        if not new:
            continue
        ctx.conn.execute(t.update().where(t.c.id == row.id).values(**new))
        entries.append(writes.history_entry(
            ctx, holder, row.id, row.version, "formula",
            [(f, current[k], v) for k, v in new.items() if (f := holder.field(k)) is not None]))
        touched.append((current, new))
    writes.record_history(ctx, entries)
    return touched
