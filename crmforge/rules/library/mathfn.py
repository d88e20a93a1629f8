"""Number functions. Numbers are Decimal with 28 significant digits; rounding is half away
from zero like Excel's ROUND (2.5 -> 3, -2.5 -> -3), not Python's banker's rounding."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from ..types import NUM, ORDERED, T, unify
from . import ops
from .base import CTX, LibraryFailure, Param, register, whole

_ORDERED = frozenset(ORDERED)


def _quantize(n: Decimal, digits: Any, rounding: str) -> Decimal:
    places = 0 if digits is None else whole(digits, "the number of digits")
    if not -28 <= places <= 28:
        raise LibraryFailure("the number of digits must be between -28 and 28")
    exp = Decimal(1).scaleb(-places)
    try:
        return n.quantize(exp, rounding=rounding, context=CTX)
    except ArithmeticError:
        raise LibraryFailure(f"cannot round {n} to {places} digits") from None


@register("abs", [Param("number", NUM)], T.NUMBER, category="math",
          summary="The absolute value.", example="abs(balance)")
def abs_(number: Any) -> Any:
    return None if number is None else CTX.abs(number)


@register("round", [Param("number", NUM), Param("digits", NUM, True)], T.NUMBER,
          category="math", summary="Rounds half away from zero to `digits` decimal places "
          "(default 0; negative digits round to tens, hundreds...).",
          example="round(price * 1.13, 2)")
def round_(number: Any, digits: Any = None) -> Any:
    return None if number is None else _quantize(number, digits, ROUND_HALF_UP)


@register("trunc", [Param("number", NUM), Param("digits", NUM, True)], T.NUMBER,
          category="math", summary="Cuts off digits toward zero.", example="trunc(-2.7)")
def trunc(number: Any, digits: Any = None) -> Any:
    return None if number is None else _quantize(number, digits, ROUND_DOWN)


@register("floor", [Param("number", NUM)], T.NUMBER, category="math",
          summary="The largest whole number not greater than the number.", example="floor(2.7)")
def floor(number: Any) -> Any:
    return None if number is None else _quantize(number, None, ROUND_FLOOR)


@register("ceil", [Param("number", NUM)], T.NUMBER, category="math",
          summary="The smallest whole number not less than the number.", example="ceil(2.1)")
def ceil(number: Any) -> Any:
    return None if number is None else _quantize(number, None, ROUND_CEILING)


def _ordered_result(ts: Sequence[T]) -> T | None:
    t = unify(list(ts))
    return t if t in _ORDERED or t in (T.ANY, T.NULL) else None


def _present(values: Sequence[Any]) -> list[Any]:
    out = [v for v in values if v is not None]
    kinds = {type(v) for v in out} - {int}
    if len(kinds) > 1:
        raise LibraryFailure("the values must all be of one type")
    return out


@register("min", [], _ordered_result, variadic=Param("values", _ORDERED), min_variadic=1,
          category="math", summary="The smallest argument (numbers, text, dates).",
          example="min(list_price, floor_price)",
          nulls="None arguments are skipped; None when all are None")
def min_(*values: Any) -> Any:
    present = _present(values)
    return min(present) if present else None


@register("max", [], _ordered_result, variadic=Param("values", _ORDERED), min_variadic=1,
          category="math", summary="The largest argument (numbers, text, dates).",
          example="max(close_date, today())",
          nulls="None arguments are skipped; None when all are None")
def max_(*values: Any) -> Any:
    present = _present(values)
    return max(present) if present else None


@register("sum", [], T.NUMBER, variadic=Param("numbers", NUM), min_variadic=1,
          category="math", summary="The sum of the arguments.", example="sum(q1, q2, q3, q4)",
          nulls="None arguments are skipped (count as 0)")
def sum_(*numbers: Any) -> Any:
    total = Decimal(0)
    for n in numbers:
        if n is not None:
            total = CTX.add(total, n)
    return total


@register("average", [], T.NUMBER, variadic=Param("numbers", NUM), min_variadic=1,
          category="math", summary="The mean of the arguments that are not None.",
          example="average(score_a, score_b)",
          nulls="None arguments are skipped; None when all are None")
def average(*numbers: Any) -> Any:
    present = [n for n in numbers if n is not None]
    if not present:
        return None
    return CTX.divide(sum_(*present), Decimal(len(present)))


@register("mod", [Param("number", NUM), Param("divisor", NUM)], T.NUMBER, category="math",
          summary="The remainder, with the sign of the divisor (like Excel's MOD and `%`).",
          example="mod(quantity, 12)", nulls="None for a None argument or a zero divisor")
def mod(number: Any, divisor: Any) -> Any:
    return ops.mod(number, divisor)


@register("power", [Param("number", NUM), Param("exponent", NUM)], T.NUMBER, category="math",
          summary="number ** exponent; the exponent is limited to +-1000.",
          example="power(1 + rate / 100, years)",
          nulls="None for a None argument, or 0 raised to a negative power")
def power(number: Any, exponent: Any) -> Any:
    return ops.power(number, exponent)


@register("sqrt", [Param("number", NUM)], T.NUMBER, category="math",
          summary="The square root; a negative number is an error.", example="sqrt(area)")
def sqrt(number: Any) -> Any:
    if number is None:
        return None
    if number < 0:
        raise LibraryFailure(f"the square root of a negative number ({number})")
    return CTX.sqrt(number)


@register("sign", [Param("number", NUM)], T.NUMBER, category="math",
          summary="-1, 0 or 1 by the sign of the number.", example="sign(balance)")
def sign(number: Any) -> Any:
    if number is None:
        return None
    return Decimal((number > 0) - (number < 0))
