"""Automation rules compiled once per metadata snapshot.

Why: ``wants`` is asked on every record write (``events.emit``), so it must answer from
memory; and a rule's expressions are compiled once, not per event. A snapshot is
immutable, so everything derived from it is cached by the snapshot object itself (a
WeakKeyDictionary: a version nobody uses any more takes its rules with it).

A rule whose object or fields disappeared since it was saved (the object was removed or
renamed) compiles to nothing: it is skipped rather than failing every write.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ...metadata.model import ObjectDef, Snapshot
from ...rules import CompiledExpression, ExpressionContext, ExpressionError, T, compile_expression
from ...runtime.events import EventName
from .documents import automation_docs, each_target

#: The record events each ``when`` answers to (an owner change is an update).
EVENTS: Mapping[str, frozenset[str]] = MappingProxyType({
    "created": frozenset({EventName.CREATED.value}),
    "updated": frozenset({EventName.UPDATED.value, EventName.OWNER_CHANGED.value}),
    "saved": frozenset({EventName.CREATED.value, EventName.UPDATED.value,
                        EventName.OWNER_CHANGED.value}),
    "deleted": frozenset({EventName.DELETED.value}),
    "date": frozenset(),
})


@dataclass(frozen=True)
class Rule:
    """One enabled rule, ready to run."""

    name: str
    version: int
    obj: ObjectDef
    when: str
    doc: Mapping[str, Any]
    condition: CompiledExpression | None
    #: Per action: field -> compiled expression (update ``set``, create ``values``).
    expressions: tuple[Mapping[str, CompiledExpression], ...]
    #: Per action: the create action's owner expression.
    owners: tuple[CompiledExpression | None, ...]
    fields: frozenset[str] = field(default_factory=frozenset)
    #: Per action: the ``each`` condition of an update over linked records.
    filters: tuple[CompiledExpression | None, ...] = ()

    @property
    def actions(self) -> Sequence[Mapping[str, Any]]:
        return self.doc["actions"]  # type: ignore[no-any-return]

    def reason(self) -> str:
        return f"automation:{self.name}"

    def matches(self, event: str, changes: Mapping[str, Any]) -> bool:
        """Whether an outbox event of this rule's object starts it."""
        if event not in EVENTS[self.when]:
            return False
        if self.fields and event != EventName.CREATED.value:
            changed = {"owner_id" if k == "owner" else k for k in changes}
            return bool(changed & self.fields)
        return True


@dataclass(frozen=True)
class RuleSet:
    by_object: Mapping[str, tuple[Rule, ...]]
    dated: tuple[Rule, ...]

    def wants(self, event: str, obj: ObjectDef) -> bool:
        return any(event in EVENTS[r.when] for r in self.by_object.get(obj.name, ()))

    def matching(self, obj: ObjectDef, event: str, changes: Mapping[str, Any]) -> list[Rule]:
        return [r for r in self.by_object.get(obj.name, ()) if r.matches(event, changes)]


_cache: weakref.WeakKeyDictionary[Snapshot, RuleSet] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def rules(snapshot: Snapshot) -> RuleSet:
    """The enabled rules of a snapshot, compiled on first use."""
    found = _cache.get(snapshot)
    if found is None:
        found = _compile_set(snapshot)
        with _lock:
            found = _cache.setdefault(snapshot, found)
    return found


def compile_rule(doc: Mapping[str, Any], snapshot: Snapshot) -> Rule | None:
    """A rule document compiled against ``snapshot``; None when it no longer fits it."""
    obj = snapshot.object(str(doc.get("object")))
    if obj is None:
        return None
    ctx = ExpressionContext.for_object(obj, snapshot)
    try:
        condition = _compile(doc.get("condition"), ctx, T.BOOLEAN)
        expressions: list[Mapping[str, CompiledExpression]] = []
        owners: list[CompiledExpression | None] = []
        filters: list[CompiledExpression | None] = []
        for action in doc["actions"]:
            scope, each = ctx, action.get("each")
            if each is not None:  # the expressions read the linked records
                target = each_target(None, "", each, obj, snapshot)
                if target is None:
                    return None
                scope = ExpressionContext.for_object(target, snapshot)
            pairs = action.get("set") or action.get("values") or {}
            compiled = {k: _compile(v, scope, None) for k, v in pairs.items()}
            expressions.append(MappingProxyType({k: v for k, v in compiled.items()
                                                 if v is not None}))
            owners.append(_compile(action.get("owner"), ctx, None))
            filters.append(_compile(each.get("condition"), scope, T.BOOLEAN)
                           if each is not None else None)
    except ExpressionError:
        return None
    return Rule(str(doc["name"]), int(doc.get("version", 1)), obj, str(doc["when"]), doc,
                condition, tuple(expressions), tuple(owners), frozenset(doc.get("fields", ())),
                tuple(filters))


def _compile(source: Any, ctx: ExpressionContext, expected: T | None
             ) -> CompiledExpression | None:
    if source is None or not str(source).strip():
        return None
    return compile_expression(str(source), ctx, expected=expected)


def _compile_set(snapshot: Snapshot) -> RuleSet:
    by_object: dict[str, list[Rule]] = {}
    dated: list[Rule] = []
    for doc in automation_docs(snapshot).values():
        if not doc.get("enabled", True):
            continue
        rule = compile_rule(doc, snapshot)
        if rule is None:
            continue
        if rule.when == "date":
            dated.append(rule)
        else:
            by_object.setdefault(rule.obj.name, []).append(rule)
    return RuleSet(MappingProxyType({k: tuple(v) for k, v in by_object.items()}),
                   tuple(dated))


__all__ = ["EVENTS", "Rule", "RuleSet", "compile_rule", "rules"]
