"""Save-time checks of every expression in an object document (DESIGN §6): unknown names,
wrong arity, type errors, result types, and cycles between formula fields, also across
objects through relations (``a.total = account.sum_x`` while ``account.sum_x`` reads
back). Problems are (JSON path, message) pairs, the message carrying line and column.

Metadata validation cannot import this layer (DESIGN §1), so ``crmforge.rules`` registers
``check_object_expressions`` with ``crmforge.metadata.validation.register_object_checker``
when it is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..metadata.model import ObjectDef, Snapshot
from .compiler import CompiledExpression, compile_expression
from .context import ExpressionContext
from .errors import ExpressionError
from .object_rules import CONDITIONS
from .triggers.compile import check_trigger
from .types import RESULT_TYPES, T, field_type

Problem = tuple[str, str]
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,39}")
Node = tuple[str, str]  # (object, formula field)


def _default_type(f: Any) -> T | None:
    t = field_type(f)
    return None if t in (T.REFERENCE, T.FILE, T.ANY) else t


def _expressions(obj: ObjectDef, doc: Mapping[str, Any]) -> Iterator[tuple[str, str, T | None,
                                                                          str | None]]:
    """(path, source, expected type, child object for rollup filters) of each expression."""
    for i, f in enumerate(obj.fields):
        path = f"$.fields[{i}]"
        default = f.options.get("default")
        if isinstance(default, str) and f.kind.writable:
            yield f"{path}.default", default, _default_type(f), None
        for cond in CONDITIONS:
            source = f.options.get(cond)
            if isinstance(source, str):
                yield f"{path}.{cond}", source, T.BOOLEAN, None
        if f.type == "formula" and isinstance(f.options.get("expression"), str):
            expected = RESULT_TYPES.get(str(f.options.get("result_type")))
            yield f"{path}.expression", str(f.options["expression"]), expected, None
        if f.type == "rollup" and isinstance(f.options.get("filter"), str):
            yield f"{path}.filter", str(f.options["filter"]), T.BOOLEAN, \
                str(f.options.get("child"))
    for i, rule in enumerate(doc.get("validation_rules") or []):
        if isinstance(rule, Mapping) and isinstance(rule.get("condition"), str):
            yield f"$.validation_rules[{i}].condition", str(rule["condition"]), T.BOOLEAN, None


def check_object_expressions(object_doc: Mapping[str, Any], snapshot: Snapshot
                             ) -> list[Problem]:
    """Every expression problem of an object document about to be saved in ``snapshot``."""
    try:
        obj = ObjectDef.from_entry({"doc": object_doc})
    except (KeyError, TypeError, ValueError):
        return []  # not schema-valid: the JSON Schema check reports it
    context = ExpressionContext.for_object(obj, snapshot)
    problems: list[Problem] = []
    compiled: dict[str, CompiledExpression] = {}
    for path, source, expected, child in _expressions(obj, object_doc):
        ctx = context
        if child is not None:
            child_obj = obj if child == obj.name else snapshot.object(child)
            if child_obj is None:
                continue  # the rollup check reports the missing child
            ctx = ExpressionContext.for_object(child_obj, snapshot)
        try:
            result = compile_expression(source, ctx, expected=expected)
        except ExpressionError as exc:
            problems.append((path, str(exc)))
            continue
        if path.endswith(".expression"):
            compiled[path] = result
        problems.extend(_constant_default_problems(obj, path, result))
    problems.extend(_cycles(obj, snapshot, compiled))
    problems.extend(_trigger_problems(object_doc))
    return problems


def _trigger_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """Trigger scripts compile (line and column of the first problem) and have unique
    identifier names: an error message names the trigger, so the name must be clear."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, trigger in enumerate(doc.get("triggers") or []):
        if not isinstance(trigger, Mapping):
            continue
        name = str(trigger.get("name", ""))
        if not _IDENTIFIER.fullmatch(name):
            problems.append((f"$.triggers[{i}].name", "must be a lowercase identifier"))
        elif name in seen:
            problems.append((f"$.triggers[{i}].name", f"another trigger is named '{name}'"))
        seen.add(name)
        script = trigger.get("script")
        if isinstance(script, str):
            for problem in check_trigger(script)[:1]:
                problems.append((f"$.triggers[{i}].script", str(problem)))
    return problems


def _constant_default_problems(obj: ObjectDef, path: str, compiled: CompiledExpression
                               ) -> list[Problem]:
    """A constant picklist default must be one of the choices."""
    if not path.endswith(".default") or compiled.fields or compiled.functions:
        return []
    index = int(path.split("[")[1].split("]")[0])
    f = obj.fields[index]
    if f.type not in ("picklist", "multipicklist"):
        return []
    try:
        value = compiled.evaluate({})
    except ExpressionError as exc:
        return [(path, str(exc))]
    choices = {c.get("value") for c in f.options.get("choices") or [] if isinstance(c, Mapping)}
    values = value if isinstance(value, list) else [value]
    bad = [v for v in values if v is not None and v not in choices]
    return [(path, f"'{bad[0]}' is not one of the choices")] if bad else []


def _cycles(obj: ObjectDef, snapshot: Snapshot, own: dict[str, CompiledExpression]
            ) -> list[Problem]:
    index = {f.name: i for i, f in enumerate(obj.fields)}

    def lookup(name: str | None) -> ObjectDef | None:
        """Objects as they will be after the save: the document replaces its old version."""
        if name is None:
            return None
        return obj if name == obj.name else snapshot.object(name)

    deps: dict[Node, set[Node]] = {}
    for path, c in own.items():
        name = obj.fields[int(path.split("[")[1].split("]")[0])].name
        deps[(obj.name, name)] = _edges(obj, lookup, c)
    # Formulas of other objects reached through relations, compiled in their own context.
    frontier = [n for targets in deps.values() for n in targets if n[0] != obj.name]
    seen: set[Node] = set(deps)
    while frontier:
        node = frontier.pop()
        if node in seen:
            continue
        seen.add(node)
        other = lookup(node[0])
        f = other.field(node[1]) if other else None
        if other is None or f is None or f.type != "formula":
            deps[node] = set()
            continue
        try:
            c = compile_expression(str(f.options.get("expression", "")),
                                   ExpressionContext.for_object(other, snapshot))
        except ExpressionError:
            deps[node] = set()
            continue
        deps[node] = _edges(other, lookup, c)
        frontier.extend(deps[node])
    problems: list[Problem] = []
    reported: set[str] = set()
    for start in [n for n in deps if n[0] == obj.name]:
        cycle = _find_cycle(start, deps)
        if cycle is None:
            continue
        message = "formulas refer to each other in a cycle: " + " -> ".join(
            f"{o}.{name}" if o != obj.name else name for o, name in cycle)
        for o, name in cycle:
            if o == obj.name and name not in reported:
                reported.add(name)
                problems.append((f"$.fields[{index[name]}].expression", message))
    return problems


def _edges(owner: ObjectDef, lookup: Callable[[str | None], ObjectDef | None],
           c: CompiledExpression) -> set[Node]:
    """The formula fields (of any object) an expression of ``owner`` reads."""
    out: set[Node] = set()
    for name in c.fields:
        f = owner.field(name)
        if f is not None and f.type == "formula":
            out.add((owner.name, name))
    for read in c.relations:
        target: ObjectDef | None = owner
        for rel in read.relations:
            rf = target.field(rel) if target is not None else None
            target = lookup(rf.target if rf is not None else None)
        if target is not None:
            f = target.field(read.field)
            if f is not None and f.type == "formula":
                out.add((target.name, read.field))
    return out


def _find_cycle(start: Node, deps: dict[Node, set[Node]]) -> list[Node] | None:
    """A cycle through ``start`` as a list of nodes ending with ``start``, or None."""
    stack: list[tuple[Node, list[Node]]] = [(start, [start])]
    visited: set[Node] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in sorted(deps.get(node, ())):
            if nxt == start:
                return [*trail, start]
            if nxt not in visited:
                visited.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None
