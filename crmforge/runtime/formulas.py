"""Formula values for the record service: related values through the permission engine,
and formulas computed on read.

Why here and not in ``rules``: the rules layer evaluates expressions over plain values and
asks a resolver for anything across a relation. Only the runtime knows tables and who is
reading, so the resolver lives here and answers what *this reader* may see: a related
record outside their visibility, or a field hidden from them, reads as None, so a formula
never shows a user a value they could not read directly (DESIGN §5, level 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import True_

from ..metadata.model import ObjectDef
from ..rules import ExpressionError, ObjectRules, Resolver
from ..security.derived import Path
from .context import Ctx
from .fields import SYSTEM_FIELD_DEFS
from .masking import row_paths

_Row = Mapping[Any, Any]


class RelatedReader:
    """Reads related records for formula paths like ``account.parent.region``.

    One reader serves one operation (a request, a list page): fetched rows are cached, so
    a page of records pointing at the same account reads it once. ``system=True`` reads
    without the reader's visibility and field checks; roll-ups use it because a parent's
    roll-up counts every child, whoever made the change that triggered it.
    """

    def __init__(self, ctx: Ctx, *, system: bool = False) -> None:
        self.ctx = ctx
        self.system = system
        self._rows: dict[tuple[str, int], _Row | None] = {}
        #: Live records fetched that the reader may not see (read as None, and mask
        #: every value derived through them).
        self._invisible: set[tuple[str, int]] = set()
        self._computed: dict[tuple[str, int], _Row] = {}

    def readable(self, obj: ObjectDef) -> frozenset[str]:
        if self.system:
            return frozenset(f.name for f in obj.fields)
        return self.ctx.access.readable(obj)

    def prefetch(self, obj: ObjectDef, ids: Iterable[Any]) -> None:
        """Fetch many records of ``obj`` in one query (the first hop of a list page)."""
        wanted = sorted({i for i in ids if isinstance(i, int)
                         and (obj.name, i) not in self._rows})
        if not wanted:
            return
        t = self.ctx.schema.table(obj.name)
        # Live records are fetched with a visibility flag rather than filtered by it: an
        # invisible record masks what is derived through it, a missing one does not.
        visible = sa.true() if self.system else self.ctx.access.visibility(obj, t)
        query = sa.select(t, sa.case((visible, 1), else_=0).label("_crm_visible")) \
            if not isinstance(visible, True_) else sa.select(t)
        found = {r.id: r._mapping for r in self.ctx.conn.execute(
            query.where(t.c.id.in_(wanted), t.c.deleted_at.is_(None)))}
        for i in wanted:
            row = found.get(i)
            self._rows[(obj.name, i)] = row
            if row is not None and row.get("_crm_visible", 1) == 0:
                self._invisible.add((obj.name, i))

    def row(self, obj: ObjectDef, rid: int) -> _Row | None:
        """A live record the reader may see, else None."""
        key = (obj.name, rid)
        if key not in self._rows:
            self.prefetch(obj, [rid])
        return None if key in self._invisible else self._rows.get(key)

    def invisible(self, row: _Row, path: Path) -> bool:
        """Whether the chain ``path`` from ``row`` reaches a live record the reader may
        not see (the same rule as ``masking.reaches_invisible`` in SQL)."""
        current = row
        for hop in path:
            rid = current.get(hop.field)
            if not isinstance(rid, int):
                return False
            key = (hop.target, rid)
            if key not in self._rows:
                target = self.ctx.snapshot.object(hop.target)
                if target is None:
                    return False
                self.prefetch(target, [rid])
            if key in self._invisible:
                return True
            found = self._rows.get(key)
            if found is None:
                return False
            current = found
        return False

    def resolver(self, obj: ObjectDef, values: _Row) -> Resolver:
        """The resolver of one record's expressions: ``resolve("account.parent", "x")``."""

        def resolve(path: str, field: str) -> Any:
            current, here = values, obj
            for hop in path.split("."):
                f = here.field(hop)
                target = self.ctx.snapshot.object(f.target or "") if f is not None else None
                rid = current.get(hop)
                if target is None or hop not in self.readable(here) or rid is None:
                    return None
                found = self.row(target, int(rid))
                if found is None:
                    return None  # not visible to the reader, deleted, or gone
                current, here = found, target
            if field in SYSTEM_FIELD_DEFS:
                return current.get(field)
            f = here.field(field)
            if f is None or field not in self.readable(here):
                return None
            if f.type == "formula" and not f.stored:
                return self._formulas_of(here, current).get(field)
            return current.get(field)

        return resolve

    def _formulas_of(self, obj: ObjectDef, row: _Row) -> _Row:
        key = (obj.name, int(row["id"]))
        if key not in self._computed:
            self._computed[key] = FormulaReader(self.ctx, obj, self).values(row)
        return self._computed[key]


class FormulaReader:
    """Computes the non-stored formulas of records of one object for one reader.

    The formula plan (which formulas to compute, which to mask) is decided once per
    reader; each record then costs one call per formula. A formula that reads a field
    hidden from the reader, directly or through another formula, is masked (None), stored
    or not: its value would reveal the hidden one. Evaluation failures give None on read;
    a read never fails because of a formula (writes report them as 422).
    """

    def __init__(self, ctx: Ctx, obj: ObjectDef | None = None,
                 related: RelatedReader | None = None) -> None:
        self.obj = obj or ctx.obj
        self.rules = ObjectRules.for_object(self.obj, ctx.snapshot)
        self.related = related or RelatedReader(ctx)
        readable = self.related.readable(self.obj)
        self.masked: set[str] = set()
        for name in self.rules.formula_order:
            reads = self.rules.formula_reads(name)
            if any(r not in readable and r not in SYSTEM_FIELD_DEFS for r in reads) \
                    or reads & self.masked:
                self.masked.add(name)
        self.broken = {n for (n, option) in self.rules.broken if option == "expression"}
        self.masked |= self.broken - {f.name for f in self.obj.fields if f.stored}
        self.computed = [n for n in self.rules.formula_order if n in readable
                         and not self._stored(n) and n not in self.masked]
        #: Readable fields masked on rows whose related chains reach a record the
        #: reader cannot see (stored formulas included).
        self.row_paths = {} if self.related.system else row_paths(ctx, self.obj)

    def _stored(self, name: str) -> bool:
        f = self.obj.field(name)
        return f is not None and f.stored

    def prefetch(self, rows: Iterable[_Row]) -> None:
        """Read the first related hop of a whole page at once."""
        rows = list(rows)
        if not (self.computed or self.row_paths) or not rows:
            return
        first_hops = {p[0].field for paths in self.row_paths.values() for p in paths}
        for f in self.obj.fields:
            target = self.related.ctx.snapshot.object(f.target or "") \
                if f.type in ("lookup", "master_detail") else None
            if target is not None and (f.name in first_hops or any(
                    f.name in self.rules.formula_reads(n) for n in self.computed)):
                self.related.prefetch(target, (r[f.name] for r in rows))

    @property
    def active(self) -> bool:
        """Whether reading a record needs ``values`` at all."""
        return bool(self.computed or self.masked or self.row_paths)

    def values(self, row: _Row, *, everything: bool = False) -> dict[str, Any]:
        """Python values of the computed formulas of ``row`` (and None for masked ones).

        ``everything`` recomputes stored formulas too (previews of draft values)."""
        work = dict(row)
        resolve = self.related.resolver(self.obj, work)
        hidden = set(self.masked)
        hidden.update(name for name, paths in self.row_paths.items()
                      if any(self.related.invisible(row, p) for p in paths))
        out: dict[str, Any] = dict.fromkeys(hidden)
        work.update(out)
        for name in self.rules.formula_order:
            if name in hidden or not (everything or name in self.computed):
                continue
            try:
                value = self.rules.formula(name, work, resolve)
            except ExpressionError:
                value = None
            work[name] = out[name] = value
        return out


def stored_formulas(ctx: Ctx, parent: ObjectDef, record: dict[str, Any]) -> dict[str, Any]:
    """Stored formulas of a record recomputed over ``record`` as the system sees related
    data (a stored value must not depend on who wrote). A formula that fails keeps its
    stored value: a write is not refused for a record it only touches."""
    rules = ObjectRules.for_object(parent, ctx.snapshot)
    resolve = RelatedReader(ctx, system=True).resolver(parent, record)
    out: dict[str, Any] = {}
    for name in rules.formula_order:
        f = parent.field(name)
        if f is None:
            continue
        try:
            value = rules.formula(name, record, resolve)
            if f.stored:
                value = f.kind.to_python(f, value, lenient=True)
        except (ExpressionError, ValueError):
            continue
        record[name] = value
        if f.stored:
            out[name] = value
    return out
