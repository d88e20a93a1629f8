"""Logic and picklist functions. Booleans are two-valued in conditions: a None condition
counts as False, so a rule over an empty field fails closed unless it says otherwise with
``is_blank``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..types import ANY, BOOL, LIST, TXT, T, unify
from .base import LibraryFailure, Param, register, same_as_args
from .ops import eq


def blank(value: Any) -> bool:
    return value is None or value == "" or value == []


@register("is_blank", [Param("value", ANY)], T.BOOLEAN, category="logic",
          summary="True when the value is None, empty text or an empty list.",
          example="is_blank(phone)", nulls="is_blank(None) is True")
def is_blank(value: Any) -> bool:
    return blank(value)


@register("if_blank", [Param("value", ANY), Param("fallback", ANY)], same_as_args,
          category="logic", summary="The value, or the fallback when the value is blank.",
          example="if_blank(discount, 0)", nulls="a blank value gives the fallback")
def if_blank(value: Any, fallback: Any) -> Any:
    return fallback if blank(value) else value


@register("if_", [Param("condition", BOOL), Param("then", ANY), Param("otherwise", ANY, True)],
          lambda ts: unify(list(ts[1:])), category="logic",
          summary="`then` when the condition holds, else `otherwise` (None when omitted). "
                  "Only the chosen branch is evaluated, like `then if condition else otherwise`.",
          example="if_(amount > 1000, 'large', 'small')",
          nulls="a None condition counts as False")
def if_(condition: Any, then: Any, otherwise: Any = None) -> Any:
    return then if condition else otherwise


@register("coalesce", [], same_as_args, variadic=Param("values", ANY), min_variadic=1,
          category="logic", summary="The first argument that is not None.",
          example="coalesce(mobile, phone, 'none')", nulls="None when all are None")
def coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _case_type(ts: Sequence[T]) -> T | None:
    rest = list(ts[1:])
    pairs, default = (rest, []) if len(rest) % 2 == 0 else (rest[:-1], rest[-1:])
    if unify([ts[0], *pairs[0::2]]) is None:
        return None
    return unify([*pairs[1::2], *default])


@register("case", [Param("value", ANY)], _case_type, variadic=Param("pairs", ANY),
          min_variadic=2, category="logic",
          summary="Compares value with each key in turn and returns the result paired with the "
                  "first equal key; an odd last argument is the default (None otherwise).",
          example="case(stage, 'won', 1, 'lost', 0, 0.5)",
          nulls="a None value matches a None key only")
def case(value: Any, *pairs: Any) -> Any:
    for i in range(0, len(pairs) - 1, 2):
        if eq(value, pairs[i]):
            return pairs[i + 1]
    return pairs[-1] if len(pairs) % 2 else None


@register("and_", [], T.BOOLEAN, variadic=Param("conditions", BOOL), min_variadic=1,
          category="logic", summary="True when every condition holds (Excel's AND).",
          example="and_(paid, shipped)", nulls="None counts as False")
def and_(*conditions: Any) -> bool:
    return all(bool(c) for c in conditions)


@register("or_", [], T.BOOLEAN, variadic=Param("conditions", BOOL), min_variadic=1,
          category="logic", summary="True when any condition holds (Excel's OR).",
          example="or_(vip, amount > 10000)", nulls="None counts as False")
def or_(*conditions: Any) -> bool:
    return any(bool(c) for c in conditions)


@register("not_", [Param("condition", BOOL)], T.BOOLEAN, category="logic",
          summary="True when the condition does not hold (Excel's NOT; `not x` works too).",
          example="not_(closed)", nulls="not_(None) is True")
def not_(condition: Any) -> bool:
    return not condition


@register("includes", [Param("values", LIST), Param("value", TXT)], T.BOOLEAN,
          category="picklist", summary="True when a multi-select picklist holds the value.",
          example="includes(regions, 'north')", nulls="False when either is None")
def includes(values: Any, value: Any) -> bool:
    if values is None or value is None:
        return False
    if not isinstance(values, list):
        raise LibraryFailure("includes() needs a multi-select picklist")
    return value in values


@register("ispickval", [Param("field", TXT), Param("value", TXT)], T.BOOLEAN,
          category="picklist", summary="True when a picklist has the given value.",
          example="ispickval(status, 'contracted')", nulls="False when the field is None")
def ispickval(field: Any, value: Any) -> bool:
    return field is not None and field == value
