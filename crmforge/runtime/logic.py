"""The expression steps of the write pipeline (DESIGN §4, steps 2-3): conditional
required / read-only / visible states, stored formulas and validation rules.

The server is the only evaluator (DESIGN §6), so every write path (create, create_many,
update) runs these steps here, over the record as it will be after the write: the stored
row overlaid with the converted payload (and defaults on create). Problems are added to
the pipeline's error dict, so a refused write reports all of them at once.
The choices about conditional fields are in docs/decisions/0005-conditional-fields.md.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..metadata.fieldtypes import ConversionError
from ..metadata.model import ObjectDef
from ..rules import ExpressionError, ObjectRules
from .context import Ctx, utcnow
from .formulas import RelatedReader

Errors = dict[str, list[str]]


def apply(ctx: Ctx, values: dict[str, Any], sent: frozenset[str], existing: Any,
          errors: Errors, lang: str) -> None:
    """Check conditional states and rules, and add stored formula values to ``values``."""
    rules = ObjectRules.for_object(ctx.obj, ctx.snapshot)
    before: dict[str, Any] = dict(existing._mapping) if existing is not None else {}
    shape = _shape(ctx.obj, rules)
    if existing is None and shape.rollups:
        values.update(_rollup_start(ctx))
    if shape.static is not None and not shape.logic:
        # Nothing reads the whole record: static checks look at the values sent only
        # (an import's rows take this path, so it builds no record per row).
        _readonly(ctx, values, sent, before, shape.locked, errors)
        _required(ctx, values, values, existing, shape.static, errors, shape)
        return
    record = {**before, **_system_values(ctx, existing), **values}
    locked: AbstractSet[str]
    if shape.static is not None:  # no conditional field: the same states for every record
        states, locked = shape.static, shape.locked
    else:
        related = RelatedReader(ctx)
        states = rules.field_states(record, related.resolver(ctx.obj, record))
        locked = {n for n, s in states.items() if s["readonly"]}
        if existing is not None:  # a field locked before the write stays locked for it
            old = rules.field_states(before, related.resolver(ctx.obj, before))
            locked |= {n for n, s in old.items() if s["readonly"]}
    _readonly(ctx, values, sent, before, locked, errors)
    _required(ctx, values, record, existing, states, errors, shape)
    # Stored values and business rules must not depend on who writes (a rep who may not
    # read a drug's cost still stores the right sample cost), so formulas and validation
    # rules follow links as the system sees them. Field states above are shown to the
    # writer, so they follow only what the writer may read.
    if not shape.logic:  # no formula and no validation rule: nothing to compute or check
        return
    as_system = RelatedReader(ctx, system=True).resolver(ctx.obj, record)
    _formulas(ctx, rules, values, record, as_system, errors)
    for key, messages in rules.validate(record, as_system, lang).items():
        if key not in errors:  # a value that did not convert already has its message
            errors[key] = messages


def _rollup_start(ctx: Ctx) -> dict[str, Any]:
    """A new parent has no children yet: its counts and sums are 0 (min and max: None)."""
    return {f.name: Decimal(0) for f in ctx.obj.fields
            if f.type == "rollup" and f.options.get("function") in ("count", "sum")}


def _system_values(ctx: Ctx, existing: Any) -> dict[str, Any]:
    """System fields as they will be after the write, for expressions that read them."""
    p = ctx.principal
    now = utcnow()
    if existing is None:
        return {"owner_id": p.user_id, "department_id": p.department_id, "created_at": now,
                "created_by": p.user_id, "updated_at": now, "updated_by": p.user_id,
                "version": 1}
    return {"updated_at": now, "updated_by": p.user_id, "version": existing.version + 1}


def _readonly(ctx: Ctx, values: dict[str, Any], sent: frozenset[str], before: Mapping[str, Any],
              locked: AbstractSet[str], errors: Errors) -> None:
    """A sent value for a field under ``readonly_if`` is refused when it would change the
    field (sending back the stored value is fine: forms post whole records)."""
    for name in sorted(sent & locked):
        f = ctx.obj.field(name)
        if f is None or not f.options.get("readonly_if") or name in errors:
            continue
        new = values.get(name)
        changes = new is not None if not before else differs(before.get(name), new)
        if changes:
            errors.setdefault(name, []).append(
                "is read-only now: its read-only condition holds for this record")


@dataclass(frozen=True)
class _Shape:
    """What the write steps need to know of an object once per metadata version rather
    than once per record: without conditional fields (``visible_if``, ``required_if``,
    ``readonly_if``) every record has the same field states, and only the statically
    required fields (and master-detail ones) can be missing."""

    static: Mapping[str, Mapping[str, bool]] | None
    locked: frozenset[str]
    required: tuple[str, ...]
    logic: bool  # any formula, validation rule, or broken expression to report
    rollups: bool  # any roll-up field (a new record starts its counts and sums at 0)


_shapes: weakref.WeakKeyDictionary[ObjectRules, _Shape] = weakref.WeakKeyDictionary()
_CONDITIONS = ("visible_if", "required_if", "readonly_if")


def _shape(obj: ObjectDef, rules: ObjectRules) -> _Shape:
    found = _shapes.get(rules)
    if found is None:
        conditional = any(f.options.get(c) for f in obj.fields for c in _CONDITIONS)
        static = None if conditional else rules.field_states({}, None)
        found = _Shape(
            static, frozenset(n for n, s in (static or {}).items() if s["readonly"]),
            tuple(f.name for f in obj.fields
                  if f.kind.writable and (f.required or f.type == "master_detail")),
            bool(rules.formula_order or rules.broken or obj.options.get("validation_rules")),
            any(f.type == "rollup" for f in obj.fields))
        _shapes[rules] = found
    return found


def _required(ctx: Ctx, values: Mapping[str, Any], record: Mapping[str, Any], existing: Any,
              states: Mapping[str, Mapping[str, bool]], errors: Errors,
              shape: _Shape | None = None) -> None:
    """Static ``required`` (checked on create, and on update when the field is sent) and
    ``required_if`` (checked on every write, since another field can make it hold).
    A field whose ``visible_if`` does not hold is not required; a master-detail always is."""
    if shape is not None and shape.static is not None:  # all visible, none required_if
        for name in shape.required:
            if name not in errors and (existing is None or name in values) \
                    and _blank(record.get(name)):
                errors.setdefault(name, []).append("is required")
        return
    for f in ctx.obj.fields:
        if not f.kind.writable or f.name in errors:
            continue
        state = states.get(f.name, {})
        structural = f.type == "master_detail"
        if not structural and not state.get("visible", True):
            continue
        if f.required or structural:
            if (existing is None or f.name in values) and _blank(record.get(f.name)):
                errors.setdefault(f.name, []).append("is required")
            continue
        if state.get("required") and _blank(record.get(f.name)):
            errors.setdefault(f.name, []).append("is required")


def _formulas(ctx: Ctx, rules: ObjectRules, values: dict[str, Any], record: dict[str, Any],
              resolve: Any, errors: Errors) -> None:
    """Every formula in dependency order over the new record (so validation rules see
    them); stored ones go into ``values``, converted by their result type. Only a stored
    formula that fails refuses the write: a computed one reads as None, as it does on read."""
    for (name, option), exc in rules.broken.items():
        f = ctx.obj.field(name)
        if option == "expression" and f is not None and f.stored:
            errors.setdefault(name, []).append(f"formula: {exc.message}")
    for name in rules.formula_order:
        f = ctx.obj.field(name)
        assert f is not None
        try:
            value = rules.formula(name, record, resolve)
            if f.stored:
                value = f.kind.to_python(f, value, lenient=True)
        except (ExpressionError, ConversionError) as exc:
            if f.stored:
                detail = exc.message if isinstance(exc, ExpressionError) else str(exc)
                errors.setdefault(name, []).append(f"formula: {detail}")
            value = None
        record[name] = value
        if f.stored:
            values[name] = value


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def differs(old: Any, new: Any) -> bool:
    """Whether a stored value and a new one differ (None only equals None)."""
    if old is None or new is None:
        return old is not new
    return bool(old != new)
