"""What computed fields are derived from, so that derived values follow their sources.

A formula over a hidden cost price reveals the cost price; a roll-up summing a hidden
child field reveals that field; a stored formula over a related record the reader cannot
see reveals that record. Field rules (level 6) and row visibility (levels 2-4) must
therefore reach every value computed from what they protect, on every path: reads,
lists, filters, sort, search, cursors, exports, history, charts and approvals.

This module compiles, once per metadata snapshot, a ``DerivationGraph``: for each
formula and roll-up field, the fields it reads (on its own object, on related objects
through lookups, on its children) and the chains of related records it reads through.
The permission plan (``policy.compile_plan``) uses it to extend a role set's hidden fields
to everything derived from them (``hidden_closure``), once per snapshot and role set, so
every caller that asks ``Access.readable`` gets the effective answer without knowing
about formulas. Chains of related records (``paths``) are row-level: whether a related
record is visible depends on the row, so the record service masks such values per row
(to None, exactly like a formula computed on read whose related record is invisible) and
compiles the same rule into SQL for filters and sort (``runtime.masking``).

Counts and other aggregates over children the reader cannot see are *not* masked: a
roll-up is a property of the parent (docs/security.md says what a count may reveal).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..metadata.model import ObjectDef, Snapshot
from ..rules import ExpressionError, ObjectRules, T, compile_expression

#: Related-record chains longer than this are not followed further (formulas are
#: limited to a few hops; this only guards against cycles through stored formulas).
MAX_HOPS = 6

FieldKey = tuple[str, str]  # (object name, field name)


@dataclass(frozen=True)
class Hop:
    """One step across a relation: ``obj.field`` points at a record of ``target``."""

    obj: str
    field: str
    target: str


Path = tuple[Hop, ...]


@dataclass(frozen=True)
class Derivation:
    #: Fields whose values the field's value is computed from (lookup fields crossed
    #: included), as (object, field).
    sources: frozenset[FieldKey]
    #: Chains of related records the value is read through, from the field's own record.
    paths: frozenset[Path]


@dataclass(frozen=True)
class DerivationGraph:
    fields: Mapping[FieldKey, Derivation]

    def derivation(self, obj: str, field: str) -> Derivation | None:
        return self.fields.get((obj, field))

    def hidden_closure(self, hidden: Iterable[FieldKey]) -> dict[FieldKey, FieldKey]:
        """Every field hidden directly or derived from a hidden one, each with the hidden
        source that decided it (itself when hidden directly), for explanations."""
        why: dict[FieldKey, FieldKey] = {k: k for k in hidden}
        changed = True
        while changed:
            changed = False
            for key, d in self.fields.items():
                if key in why:
                    continue
                source = next((s for s in sorted(d.sources) if s in why), None)
                if source is not None:
                    why[key] = why[source]
                    changed = True
        return why


def _relation_sources(snapshot: Snapshot, obj: ObjectDef, relations: tuple[str, ...],
                      field: str) -> tuple[set[FieldKey], Path | None]:
    """The fields crossed by ``obj.rel1.rel2...field`` and the chain of hops, or no chain
    when a hop does not resolve (the metadata check refuses that; old metadata reads
    None)."""
    sources: set[FieldKey] = set()
    hops: list[Hop] = []
    here = obj
    for rel in relations:
        f = here.field(rel)
        target = snapshot.object(f.target or "") if f is not None else None
        sources.add((here.name, rel))
        if target is None:
            return sources, None
        hops.append(Hop(here.name, rel, target.name))
        here = target
    if here.field(field) is not None:
        sources.add((here.name, field))
    return sources, tuple(hops)


def compile_graph(snapshot: Snapshot) -> DerivationGraph:
    direct: dict[FieldKey, tuple[set[FieldKey], set[Path], set[tuple[Path, FieldKey]]]] = {}
    for obj in snapshot.objects.values():
        rules: ObjectRules | None = None
        for f in obj.fields:
            if f.type == "formula":
                rules = rules or ObjectRules.for_object(obj, snapshot)
                sources = {(obj.name, r) for r in rules.formula_reads(f.name)
                           if obj.field(r) is not None}
                paths: set[Path] = set()
                through: set[tuple[Path, FieldKey]] = set()
                for read in rules.formula_related(f.name):
                    crossed, path = _relation_sources(snapshot, obj, read.relations, read.field)
                    sources |= crossed
                    if path:
                        paths |= {path[:i] for i in range(1, len(path) + 1)}
                        through.add((path, (path[-1].target, read.field)))
                direct[(obj.name, f.name)] = (sources, paths, through)
            elif f.type == "rollup":
                child = snapshot.object(str(f.options.get("child") or ""))
                sources = set()
                if child is not None:
                    summed = f.options.get("field")
                    if isinstance(summed, str) and child.field(summed) is not None:
                        sources.add((child.name, summed))
                    sources |= _filter_sources(snapshot, child, f.options.get("filter"))
                direct[(obj.name, f.name)] = (sources, set(), set())
    # Paths of a formula include those of the formulas it reads, on its own record and on
    # related records (prefixed by the chain that reaches them).
    resolved: dict[FieldKey, frozenset[Path]] = {}

    def paths_of(key: FieldKey, depth: int) -> frozenset[Path]:
        if key in resolved:
            return resolved[key]
        entry = direct.get(key)
        if entry is None or depth > MAX_HOPS:
            return frozenset()
        sources, paths, through = entry
        out = set(paths)
        for source in sources:
            if source[0] == key[0] and source in direct and source != key:
                out |= paths_of(source, depth + 1)
        for path, target_key in through:
            if len(path) < MAX_HOPS:
                out |= {path + p for p in paths_of(target_key, depth + len(path))
                        if len(path) + len(p) <= MAX_HOPS}
        resolved[key] = frozenset(out)
        return resolved[key]

    fields = {key: Derivation(frozenset(entry[0]), paths_of(key, 0))
              for key, entry in direct.items()}
    return DerivationGraph(MappingProxyType(fields))


def _filter_sources(snapshot: Snapshot, child: ObjectDef, source: object) -> set[FieldKey]:
    """Fields a roll-up's filter reads: a count of children whose hidden salary exceeds a
    bound reveals the salaries."""
    if not isinstance(source, str) or not source.strip():
        return set()
    try:
        compiled = compile_expression(source, ObjectRules.for_object(child, snapshot).context,
                                      expected=T.BOOLEAN)
    except ExpressionError:
        return set()
    out = {(child.name, n) for n in compiled.fields if child.field(n) is not None}
    for read in compiled.relations:
        out |= _relation_sources(snapshot, child, read.relations, read.field)[0]
    return out


_graphs: weakref.WeakKeyDictionary[Snapshot, DerivationGraph] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def graph_for(snapshot: Snapshot) -> DerivationGraph:
    """The snapshot's derivation graph, compiled once while the snapshot lives."""
    with _lock:
        hit = _graphs.get(snapshot)
    if hit is not None:
        return hit
    graph = compile_graph(snapshot)
    with _lock:
        return _graphs.setdefault(snapshot, graph)


__all__ = ["Derivation", "DerivationGraph", "Hop", "Path", "compile_graph", "graph_for"]
