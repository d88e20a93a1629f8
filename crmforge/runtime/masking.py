"""Row-level masking of values read through related records the reader cannot see.

A formula ``account.discount * amount`` shows the discount of the account. When the reader
may not see that account, a formula computed on read gets None for it and answers None;
a *stored* formula holds the value computed by the system, so it must be masked to None
for that reader, on every path, exactly as the computed one would answer (issue of
derived values, docs/security.md). Which fields read through which chains of relations
comes from the derivation graph (``security.derived``), compiled once per snapshot; this
module turns it into:

- ``row_paths``: per readable field, the chains whose visibility must be checked for this
  reader (empty for administrators and for chains the reader sees entirely, such as a
  role with scope ``all`` on the related object; compiled once with the permission plan)
  — the record service masks row by row;
- ``effective_columns``: the same rule as SQL, ``CASE WHEN <a chain reaches a live record
  the reader cannot see> THEN NULL ELSE column END``, used by filters, sort, search and
  cursors so that a list never finds, orders or pages by a value it would not show.

A chain reaches an invisible record when a lookup along it holds the id of a live
(not deleted) record outside the reader's visibility. Deleted or missing records are not
invisible: they read as None for everybody, and stored formulas were recomputed then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import True_

from ..metadata.model import ObjectDef
from ..security.derived import Path
from .context import Ctx


def _trivial(predicate: Any) -> bool:
    return isinstance(predicate, True_)


def row_paths(ctx: Ctx, obj: ObjectDef) -> Mapping[str, tuple[Path, ...]]:
    """Readable fields of ``obj`` whose value must be masked on rows where one of these
    chains reaches a record the reader cannot see; compiled with the permission plan
    (``policy._row_paths``), empty for administrators."""
    plan = ctx.access.plan
    if ctx.access.unrestricted or plan is None:
        return {}
    return plan.row_paths.get(obj.name, {})


def reaches_invisible(ctx: Ctx, table: Any, path: Path) -> Any:
    """SQL: the chain ``path`` from a row of ``table`` reaches a live record the reader
    cannot see (None when no hop can)."""
    hop = path[0]
    target = ctx.snapshot.object(hop.target)
    if target is None:
        return None
    t: Any = ctx.schema.table(target.name).alias()  # an alias: the chain may revisit a table
    visible = ctx.access.visibility(target, t)
    inner: list[Any] = []
    if not _trivial(visible):
        # CASE, not NOT(...): a visibility predicate over a NULL owner is NULL, and
        # NOT NULL would count an invisible record as visible.
        inner.append(sa.case((visible, 0), else_=1) == 1)
    if len(path) > 1:
        deeper = reaches_invisible(ctx, t, path[1:])
        if deeper is not None:
            inner.append(deeper)
    if not inner:
        return None
    return sa.exists().where(t.c.id == table.c[hop.field], t.c.deleted_at.is_(None),
                             sa.or_(*inner))


def effective_columns(ctx: Ctx, only: Iterable[str] | None = None) -> dict[str, Any]:
    """SQL expressions for the stored fields of ``ctx.obj`` whose value this reader sees
    masked on some rows (of those named in ``only``: the fields a query filters, sorts or
    searches by; output is masked row by row anyway); other fields are their plain
    columns (not listed)."""
    out: dict[str, Any] = {}
    t = ctx.table
    wanted = None if only is None else set(only)
    for name, chains in row_paths(ctx, ctx.obj).items():
        if wanted is not None and name not in wanted:
            continue
        f = ctx.obj.field(name)
        if f is None or not f.stored:
            continue
        conditions = [c for c in (reaches_invisible(ctx, t, p) for p in chains) if c is not None]
        if conditions:
            col = t.c[name]
            out[name] = sa.type_coerce(sa.case((sa.or_(*conditions), sa.null()), else_=col),
                                       col.type)
    return out


__all__ = ["effective_columns", "reaches_invisible", "row_paths"]
