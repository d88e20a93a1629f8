"""Derived values kept current after a write: roll-ups of parents and stored formulas that
read the written record through relations (DESIGN §4 step 5).

What depends on what is compiled once per metadata snapshot into a ``DerivedGraph`` (which
roll-ups aggregate each object, which stored formulas reach it through which links), not
worked out again on every write. A write then runs a worklist: each step recomputes the
parents and related rows the previous step moved (``rollups.recompute``,
``related_formulas.recompute``) and queues what those changed in turn, up to
``MAX_DEPTH`` levels. Neither module calls the other: the chain lives here, in one loop.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from ..metadata.model import ObjectDef, Snapshot
from . import related_formulas, rollups
from .context import Ctx
from .fields import SYSTEM_FIELD_DEFS

#: Derived values of derived values are followed this many levels deep (a roll-up over
#: roll-ups, a formula over a roll-up).
MAX_DEPTH = 4


@dataclass(frozen=True)
class DerivedGraph:
    """For each object (by name): the roll-ups over it, and the stored formulas of other
    objects that read it through relations."""

    rollups: Mapping[str, tuple[rollups.Rollup, ...]]
    dependents: Mapping[str, tuple[related_formulas.Dependent, ...]]


_graphs: weakref.WeakKeyDictionary[Snapshot, DerivedGraph] = weakref.WeakKeyDictionary()


def graph(snapshot: Snapshot) -> DerivedGraph:
    """The snapshot's graph, compiled on first use (a snapshot is immutable)."""
    found = _graphs.get(snapshot)
    if found is None:
        objs = list(snapshot.objects.values())
        found = DerivedGraph(
            MappingProxyType({o.name: tuple(rollups.rollups_over(snapshot, o)) for o in objs}),
            MappingProxyType({o.name: tuple(related_formulas.dependents(snapshot, o))
                              for o in objs}))
        found = _graphs.setdefault(snapshot, found)
    return found


@dataclass(frozen=True)
class _Moved:
    """Rows of ``obj`` that a step wrote: their values before and after (for the parents
    they point at, then and now), their ids, and the fields that changed (None: any)."""

    obj: ObjectDef
    rows: tuple[Mapping[Any, Any], ...]
    ids: tuple[int, ...]
    changed: frozenset[str] | None
    depth: int


def created(ctx: Ctx, obj: ObjectDef, rows: Iterable[Mapping[Any, Any]]) -> None:
    """Follow new rows of ``obj``: their parents' roll-ups. (No record points at a record
    that did not exist, so no related formula reads them yet.)"""
    _run(ctx, _Moved(obj, tuple(rows), (), None, 0))


def updated(ctx: Ctx, obj: ObjectDef, rows: Iterable[Mapping[Any, Any]], ids: Iterable[int],
            changed: Iterable[str]) -> None:
    """Follow an update of ``obj``'s rows ``ids`` (their values before and after in
    ``rows``) that changed ``changed`` fields."""
    _run(ctx, _Moved(obj, tuple(rows), tuple(ids), frozenset(changed), 0))


def presence(ctx: Ctx, obj: ObjectDef, rows: Iterable[Mapping[Any, Any]],
             ids: Iterable[int]) -> None:
    """Follow records that were deleted, restored or purged: their parents' roll-ups count
    differently and every related read of them gives None, or its value again."""
    _run(ctx, _Moved(obj, tuple(rows), tuple(ids), None, 0))


def recompute_parents(ctx: Ctx, parent: ObjectDef, found: Sequence[rollups.Rollup],
                      ids: Iterable[int]) -> int:
    """Recompute roll-ups of parent rows ``ids`` and follow what moved (a backfill of a new
    roll-up); returns how many rows changed."""
    queue: deque[_Moved] = deque()
    n = 0
    for pid in sorted(set(ids)):
        moved = rollups.recompute(ctx, parent, found, pid)
        if moved is not None:
            n += 1
            _queue_rollup(queue, parent, pid, moved, 1)
    _drain(ctx, queue)
    return n


def recompute_holders(ctx: Ctx, holder: ObjectDef, where: Any) -> int:
    """Recompute stored formulas of ``holder``'s rows matching ``where`` and follow what
    moved (a backfill); returns how many rows changed."""
    queue: deque[_Moved] = deque()
    touched = related_formulas.recompute(ctx, holder, where)
    _queue_formulas(queue, holder, touched, 1)
    _drain(ctx, queue)
    return len(touched)


def _run(ctx: Ctx, first: _Moved) -> None:
    queue = deque([first])
    _drain(ctx, queue)


def _drain(ctx: Ctx, queue: deque[_Moved]) -> None:
    g = graph(ctx.snapshot)
    while queue:
        moved = queue.popleft()
        _parents(ctx, g, moved, queue)
        _related(ctx, g, moved, queue)


def _parents(ctx: Ctx, g: DerivedGraph, moved: _Moved, queue: deque[_Moved]) -> None:
    by_parent: dict[str, tuple[ObjectDef, list[rollups.Rollup], set[int]]] = {}
    for r in g.rollups.get(moved.obj.name, ()):
        if moved.changed is not None and r.inputs is not None \
                and not moved.changed & r.inputs:
            continue
        entry = by_parent.setdefault(r.parent.name, (r.parent, [], set()))
        entry[1].append(r)
        entry[2].update(int(row[r.link.name]) for row in moved.rows
                        if row.get(r.link.name) is not None)
    for parent, found, ids in by_parent.values():
        for pid in sorted(ids):
            result = rollups.recompute(ctx, parent, found, pid)
            if result is not None:
                _queue_rollup(queue, parent, pid, result, moved.depth + 1)


def _related(ctx: Ctx, g: DerivedGraph, moved: _Moved, queue: deque[_Moved]) -> None:
    if not moved.ids:
        return
    changed = moved.changed
    if changed is None:  # a new, deleted or restored record: every read of it moves
        changed = frozenset(f.name for f in moved.obj.fields) | frozenset(SYSTEM_FIELD_DEFS)
    if not changed:
        return
    ids = sorted(set(moved.ids))
    wheres: dict[str, tuple[ObjectDef, list[Any]]] = {}
    for dep in g.dependents.get(moved.obj.name, ()):
        if dep.inputs is not None and not changed & dep.inputs:
            continue
        entry = wheres.setdefault(dep.holder.name, (dep.holder, []))
        entry[1].append(related_formulas.reaching(ctx, dep, ids))
    for holder, clauses in wheres.values():
        touched = related_formulas.recompute(ctx, holder, sa.or_(*clauses))
        _queue_formulas(queue, holder, touched, moved.depth + 1)


def _queue_rollup(queue: deque[_Moved], parent: ObjectDef, pid: int,
                  result: tuple[Mapping[Any, Any], dict[str, Any]], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    current, changed = result
    queue.append(_Moved(parent, (current, {**current, **changed}), (pid,),
                        frozenset(changed), depth))


def _queue_formulas(queue: deque[_Moved], holder: ObjectDef,
                    touched: Sequence[tuple[Mapping[Any, Any], dict[str, Any]]],
                    depth: int) -> None:
    if not touched or depth > MAX_DEPTH:
        return
    fields = frozenset().union(*(new for _, new in touched))
    rows = tuple(m for c, new in touched for m in (c, {**c, **new}))
    queue.append(_Moved(holder, rows, tuple(int(c["id"]) for c, _ in touched), fields, depth))


__all__ = ["MAX_DEPTH", "DerivedGraph", "created", "graph", "presence", "recompute_holders",
           "recompute_parents", "updated"]
