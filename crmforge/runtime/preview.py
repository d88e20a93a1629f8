"""Evaluating an ad-hoc expression against a saved record or a draft (the designer's and
the form's live preview). The server is the only evaluator (DESIGN §6), so a form shows
what the record service will compute, not what a client-side copy of the language thinks.

The reader's permissions apply as everywhere: the expression may read only fields the
reader can read (a hidden field answers like an unknown one, so a preview cannot probe
it), related values come through the reader's visibility, and a failure is a 422 with the
line and column, never a 500.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..core.errors import BadRequest, ValidationFailed
from ..metadata.fieldtypes import ConversionError
from ..rules import ExpressionError, ObjectRules, T, compile_expression
from .context import Ctx
from .fields import SYSTEM_FIELD_DEFS
from .formulas import FormulaReader

EXPECTED = {t.value: t for t in (T.NUMBER, T.TEXT, T.BOOLEAN, T.DATE, T.DATETIME)}


def parse_body(body: Any) -> tuple[str, Any, Mapping[str, Any], T | None]:
    """(expression, record id or None, draft values, expected type) of a preview request."""
    if not isinstance(body, Mapping) or not isinstance(body.get("expression"), str):
        raise BadRequest('send {"expression": "...", "record": <id> or null, "values": {...}}')
    values = body.get("values") or {}
    if not isinstance(values, Mapping):
        raise BadRequest('"values" must be an object of field values')
    expected = body.get("expected")
    if expected is not None and (not isinstance(expected, str) or expected not in EXPECTED):
        raise BadRequest('"expected" is one of ' + ", ".join(EXPECTED))
    return body["expression"], body.get("record"), values, \
        EXPECTED[expected] if expected else None


def evaluate(ctx: Ctx, stored: Mapping[str, Any] | None, source: str,
             draft: Mapping[str, Any], expected: T | None) -> dict[str, Any]:
    """``{"value", "type"}`` of ``source`` over the stored record overlaid with ``draft``."""
    rules = ObjectRules.for_object(ctx.obj, ctx.snapshot)
    reader = FormulaReader(ctx)
    readable = ctx.access.readable(ctx.obj)
    try:
        compiled = compile_expression(source, rules.context, expected=expected)
    except ExpressionError as exc:
        raise _refusal(exc) from None
    for name in sorted(compiled.fields):
        if name not in readable and name not in SYSTEM_FIELD_DEFS:
            raise _refusal(ExpressionError(f"no field named '{name}'"))
    record = {k: v for k, v in (stored or {}).items() if k in readable or k in SYSTEM_FIELD_DEFS}
    record.update(_draft(ctx, draft, readable))
    record.update(reader.values(record, everything=bool(draft) or stored is None))
    for name in reader.masked:
        record[name] = None
    try:
        value = compiled.evaluate(record, reader.related.resolver(ctx.obj, record))
    except ExpressionError as exc:
        raise _refusal(exc) from None
    return {"value": to_json(value), "type": _type_of(value, compiled.result_type)}


def _draft(ctx: Ctx, draft: Mapping[str, Any], readable: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, raw in draft.items():
        f = ctx.obj.field(str(key))
        if f is None or key not in readable:
            errors[str(key)[:40]] = ["no such field"]
            continue
        try:
            out[f.name] = f.kind.to_python(f, raw)
        except ConversionError as exc:
            errors[f.name] = [str(exc)]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
    return out


def _refusal(exc: ExpressionError) -> ValidationFailed:
    return ValidationFailed(exc.message, {"expression": [exc.message]}, details={
        "line": exc.line, "column": exc.column, "reason": exc.reason})


def _type_of(value: Any, static: T) -> str:
    if static not in (T.ANY, T.NULL) or value is None:
        return str(static.value)
    for t, cls in ((T.BOOLEAN, bool), (T.NUMBER, Decimal), (T.TEXT, str),
                   (T.DATETIME, dt.datetime), (T.DATE, dt.date), (T.LIST, list)):
        if isinstance(value, cls):
            return str(t.value)
    return str(static.value)


def to_json(value: Any) -> Any:
    """An expression value as JSON: numbers as strings (exact, like decimal fields),
    dates ISO, date-times ISO in UTC with ``Z``."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value
