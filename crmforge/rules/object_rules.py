"""Everything the record service asks of an object's expressions, compiled once per object
and metadata snapshot: defaults, formulas in dependency order, validation rules, and the
conditional visible / required / read-only states of fields.

The server is the only evaluator (DESIGN §6): forms ask it for live states and formula
values, so what a form shows and what the API enforces come from this one class.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from ..core.errors import ValidationFailed
from ..metadata.model import FieldDef, ObjectDef, Snapshot
from .compiler import CompiledExpression, Resolver, compile_expression
from .context import ExpressionContext
from .errors import CycleError, EvaluationError, ExpressionError
from .library import CTX
from .library.textfn import text as to_text
from .translate import RelationRead
from .types import RESULT_TYPES, T

ALL = "__all__"
CONDITIONS = ("visible_if", "required_if", "readonly_if")


class ObjectRules:
    """The compiled expressions of one object in one metadata snapshot (immutable)."""

    def __init__(self, obj: ObjectDef, snapshot: Snapshot) -> None:
        self.obj = obj
        self.context = ExpressionContext.for_object(obj, snapshot)
        #: Expressions that do not compile (metadata saved before a check existed):
        #: (field or rule, option) -> error. Using them raises that error.
        self.broken: dict[tuple[str, str], ExpressionError] = {}
        self._defaults: dict[str, CompiledExpression] = {}
        self._conditions: dict[str, dict[str, CompiledExpression]] = {}
        formulas: dict[str, CompiledExpression] = {}
        for f in obj.fields:
            default = f.options.get("default")
            if isinstance(default, str) and default.strip() and f.kind.writable:
                self._compile(f.name, "default", default, None, self._defaults)
            if f.type == "formula":
                self._compile(f.name, "expression", str(f.options.get("expression", "")),
                              RESULT_TYPES.get(str(f.options.get("result_type"))), formulas)
            for cond in CONDITIONS:
                source = f.options.get(cond)
                if isinstance(source, str) and source.strip():
                    self._compile(f.name, cond, source, T.BOOLEAN,
                                  self._conditions.setdefault(f.name, {}), key=cond)
        self._rules: list[tuple[Mapping[str, Any], CompiledExpression]] = []
        for rule in obj.options.get("validation_rules") or []:
            holder: dict[str, CompiledExpression] = {}
            self._compile(str(rule.get("name")), "condition", str(rule.get("condition", "")),
                          T.BOOLEAN, holder)
            if holder:
                self._rules.append((rule, holder[str(rule.get("name"))]))
        self._formulas = _dependency_order(formulas, self.broken)
        self._formula_index = dict(self._formulas)

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _cache: ClassVar[dict[tuple[int, str], ObjectRules]] = {}

    @classmethod
    def for_object(cls, obj: ObjectDef | str, snapshot: Snapshot) -> ObjectRules:
        """The rules of an object of ``snapshot``, cached while the snapshot lives."""
        name = obj if isinstance(obj, str) else obj.name
        key = (id(snapshot), name)
        with cls._lock:
            hit = cls._cache.get(key)
        if hit is not None:
            return hit
        definition = snapshot.object(name) if isinstance(obj, str) else obj
        if definition is None:
            raise ValidationFailed(f"no object named '{name[:40]}'")
        rules = cls(definition, snapshot)
        with cls._lock:
            if not any(k[0] == key[0] for k in cls._cache):
                weakref.finalize(snapshot, _forget, key[0])
            cls._cache.setdefault(key, rules)
        return rules

    def _compile(self, owner: str, option: str, source: str, expected: T | None,
                 into: dict[str, CompiledExpression], key: str | None = None) -> None:
        try:
            into[key or owner] = compile_expression(source, self.context, expected=expected)
        except ExpressionError as exc:
            self.broken[(owner, option)] = exc

    # -- evaluation -------------------------------------------------------------------------
    def defaults(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Default values of the writable fields ``values`` does not set (or sets to None).

        A default may read the other values given (e.g. ``add_days(start_date, 30)``)."""
        out: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for (name, option), exc in self.broken.items():
            if option == "default" and values.get(name) is None:
                errors.setdefault(name, []).append(f"default: {exc.message}")
        for name, compiled in self._defaults.items():
            if values.get(name) is not None:
                continue
            try:
                out[name] = compiled.evaluate(values)
            except ExpressionError as exc:
                errors.setdefault(name, []).append(f"default: {exc.message}")
        if errors:
            first = next(iter(errors))
            raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
        return out

    def formulas(self, values: Mapping[str, Any], resolve: Resolver | None = None
                 ) -> dict[str, Any]:
        """Every formula field's value, computed in dependency order (a formula sees the
        values of the formulas it reads) and converted to its result type."""
        errors = {name: [f"formula: {exc.message}"] for (name, option), exc in
                  self.broken.items() if option == "expression"}
        work = dict(values)
        out: dict[str, Any] = {}
        for name, compiled in self._formulas:
            f = self.obj.field(name)
            assert f is not None
            try:
                value = _as_result(f, compiled.evaluate(work, resolve))
            except ExpressionError as exc:
                errors.setdefault(name, []).append(f"formula: {exc.message}")
                value = None
            work[name] = out[name] = value
        if errors:
            first = next(iter(errors))
            raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
        return out

    def formula(self, name: str, values: Mapping[str, Any], resolve: Resolver | None = None
                ) -> Any:
        """One formula's value, converted to its result type. ``values`` must already hold
        the formulas it reads (evaluate in ``formula_order``); failures raise
        ExpressionError. Lets a reader compute some formulas and skip (or mask) others."""
        broken = self.broken.get((name, "expression"))
        if broken is not None:
            raise broken
        f = self.obj.field(name)
        compiled = self._formula_index.get(name)
        if f is None or compiled is None:
            raise EvaluationError(f"no formula named '{name[:40]}'")
        return _as_result(f, compiled.evaluate(values, resolve))

    def formula_reads(self, name: str) -> frozenset[str]:
        """Own fields a formula reads (the first relation of a related read included)."""
        compiled = self._formula_index.get(name)
        return compiled.fields if compiled is not None else frozenset()

    def formula_related(self, name: str) -> tuple[RelationRead, ...]:
        """Values a formula reads through relations (``account.region``): what must be
        recomputed when a related record changes."""
        compiled = self._formula_index.get(name)
        return compiled.relations if compiled is not None else ()

    def validate(self, values: Mapping[str, Any], resolve: Resolver | None = None,
                 lang: str = "en") -> dict[str, list[str]]:
        """Messages of the validation rules whose condition does not hold, keyed by the
        rule's field or ``"__all__"``. A condition that evaluates to None does not hold."""
        out: dict[str, list[str]] = {}
        for (name, option), exc in self.broken.items():
            if option == "condition":
                out.setdefault(ALL, []).append(f"rule '{name}' is broken: {exc.message}")
        for rule, compiled in self._rules:
            key = str(rule.get("field") or ALL)
            try:
                holds = compiled.evaluate(values, resolve)
            except ExpressionError as exc:
                out.setdefault(key, []).append(
                    f"rule '{rule.get('name')}' could not be checked: {exc.message}")
                continue
            if not holds:
                out.setdefault(key, []).append(_message(rule, lang))
        return out

    def field_states(self, values: Mapping[str, Any], resolve: Resolver | None = None
                     ) -> dict[str, dict[str, bool]]:
        """Visible, required and read-only per field. A condition that fails to evaluate
        leaves the field visible, keeps its static ``required`` and makes it read-only
        (fail closed: nobody edits a field whose rule cannot be decided)."""
        out: dict[str, dict[str, bool]] = {}
        for f in self.obj.fields:
            state = {"visible": True, "required": f.required, "readonly": not f.kind.writable}
            conditions = self._conditions.get(f.name, {})
            for cond, compiled in conditions.items():
                try:
                    holds = bool(compiled.evaluate(values, resolve))
                except ExpressionError:
                    if cond == "readonly_if":
                        state["readonly"] = True
                    continue
                if cond == "visible_if":
                    state["visible"] = holds
                elif cond == "required_if":
                    state["required"] = state["required"] or holds
                else:
                    state["readonly"] = state["readonly"] or holds
            if (f.name, "readonly_if") in self.broken:
                state["readonly"] = True
            out[f.name] = state
        return out

    @property
    def formula_order(self) -> list[str]:
        return [name for name, _ in self._formulas]


def _forget(snapshot_id: int) -> None:
    with ObjectRules._lock:
        for key in [k for k in ObjectRules._cache if k[0] == snapshot_id]:
            del ObjectRules._cache[key]


def _message(rule: Mapping[str, Any], lang: str) -> str:
    message = rule.get("message")
    if isinstance(message, Mapping):
        for key in (lang, "en", "zh"):
            if message.get(key):
                return str(message[key])
    if isinstance(message, str) and message:
        return message
    return f"rule '{rule.get('name')}' is not met"


def _dependency_order(
    formulas: dict[str, CompiledExpression], broken: dict[tuple[str, str], ExpressionError]
) -> list[tuple[str, CompiledExpression]]:
    """Formulas ordered so each comes after the formulas it reads; members of a cycle are
    moved to ``broken`` (the metadata check refuses cycles; this guards old metadata)."""
    pending = {n: set(c.fields) & set(formulas) for n, c in formulas.items()}
    order: list[tuple[str, CompiledExpression]] = []
    while pending:
        ready = sorted(n for n, deps in pending.items() if not deps)
        if not ready:
            for n in sorted(pending):
                broken[(n, "expression")] = CycleError(
                    "formulas refer to each other in a cycle: " + ", ".join(sorted(pending)))
            break
        for n in ready:
            order.append((n, formulas[n]))
            del pending[n]
        for deps in pending.values():
            deps.difference_update(ready)
    return order


def _as_result(f: FieldDef, value: Any) -> Any:
    """A formula value as its result type: numbers rounded half up to the field's scale
    (integers to whole numbers), so the record service stores it without complaint."""
    if value is None:
        return None
    result_type = str(f.options.get("result_type"))
    expected = RESULT_TYPES.get(result_type, T.ANY)
    if expected is T.NUMBER:
        if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
            raise EvaluationError(f"the formula gave {type(value).__name__}, not a number")
        scale = 0 if result_type == "integer" else int(f.options.get("scale") or 2)
        try:
            rounded = Decimal(value).quantize(Decimal(1).scaleb(-scale),
                                              rounding=ROUND_HALF_UP, context=CTX)
        except ArithmeticError:
            raise EvaluationError(f"the formula gave a number too large: {value}") from None
        return int(rounded) if result_type == "integer" else rounded
    if expected is T.TEXT and not isinstance(value, str):
        return to_text(value)
    if expected is T.BOOLEAN:
        return bool(value)
    if expected is T.DATE and isinstance(value, dt.datetime):
        return value.date()
    return value

