"""Operators as bounded functions. The translator rewrites every operator of an
expression into a call of one of these, which gives the documented null rules (arithmetic
with None is None, ordering comparisons with None are False, division by zero is None),
keeps numbers Decimal in a fixed context, and refuses text or list repetition outright:
``*`` only multiplies numbers and ``**`` caps its exponent.

The ``num_*`` variants are chosen when both operands are statically numbers; they skip the
type dispatch, which is what keeps evaluation within a small factor of plain Python.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .base import (
    CTX,
    MAX_EXPONENT,
    LibraryFailure,
    SizeLimitFailure,
    check_list,
    check_text,
    type_name,
    whole,
)

_ZERO = Decimal(0)
_DAY_SECONDS = Decimal(86400)
_add, _sub, _mul, _div = CTX.add, CTX.subtract, CTX.multiply, CTX.divide


# -- numbers (both operands statically numbers) ---------------------------------------------
def num_add(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _add(a, b)


def num_sub(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _sub(a, b)


def num_mul(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _mul(a, b)


def num_div(a: Any, b: Any) -> Any:
    return None if a is None or b is None or not b else _div(a, b)


def floordiv(a: Any, b: Any) -> Any:
    """Floor division (rounds toward minus infinity, like Python's ``//`` on integers)."""
    _numbers("//", a, b)
    if a is None or b is None or not b:
        return None
    q = CTX.divide_int(a, b)
    if CTX.remainder(a, b) and (a < 0) != (b < 0):
        q = _sub(q, 1)
    return q


def mod(a: Any, b: Any) -> Any:
    """Remainder with the sign of the divisor (Excel's MOD, Python's ``%`` on integers)."""
    _numbers("%", a, b)
    if a is None or b is None or not b:
        return None
    r = CTX.remainder(a, b)
    if r and (r < 0) != (b < 0):
        r = _add(r, b)
    return r


def power(a: Any, b: Any) -> Any:
    """``a ** b`` with |b| <= MAX_EXPONENT; Decimal keeps 28 digits, so the result is small."""
    _numbers("**", a, b)
    if a is None or b is None:
        return None
    if abs(b) > MAX_EXPONENT:
        raise SizeLimitFailure(f"the exponent {b} is larger than {MAX_EXPONENT}")
    if not a and b < 0:
        return None
    if a < 0 and b != b.to_integral_value():
        raise LibraryFailure("a negative number has no real fractional power")
    return CTX.power(a, b)


def neg(a: Any) -> Any:
    _numbers("-", a)
    return None if a is None else CTX.minus(a)


def pos(a: Any) -> Any:
    _numbers("+", a)
    return None if a is None else CTX.plus(a)


def _numbers(op: str, *values: Any) -> None:
    for v in values:
        if v is not None and (not isinstance(v, (Decimal, int)) or isinstance(v, bool)):
            raise LibraryFailure(f"'{op}' needs numbers, got {type_name(v)}")


# -- mixed types ----------------------------------------------------------------------------
def add(a: Any, b: Any) -> Any:
    """``+``: numbers, text (concatenation), lists, or a date/datetime plus days."""
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return check_text(a + b)
    if isinstance(a, list) and isinstance(b, list):
        return check_list(a + b)
    if isinstance(a, dt.date) and _is_number(b):
        return shift_days(a, b)
    if isinstance(b, dt.date) and _is_number(a):
        return shift_days(b, a)
    if _is_number(a) and _is_number(b):
        return _add(a, b)
    raise LibraryFailure(f"cannot add {type_name(b)} to {type_name(a)}")


def sub(a: Any, b: Any) -> Any:
    """``-``: numbers, dates minus days, or the days between two dates (times)."""
    if a is None or b is None:
        return None
    if _is_number(a) and _is_number(b):
        return _sub(a, b)
    if isinstance(a, dt.date) and _is_number(b):
        return shift_days(a, CTX.minus(b))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return days_fraction(b, a)
    if _plain_date(a) and _plain_date(b):
        return Decimal((a - b).days)
    raise LibraryFailure(f"cannot subtract {type_name(b)} from {type_name(a)}")


def mul(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_number(a) and _is_number(b):
        return _mul(a, b)
    raise LibraryFailure(f"'*' multiplies numbers only, got {type_name(a)} and {type_name(b)}")


def div(a: Any, b: Any) -> Any:
    _numbers("/", a, b)
    return num_div(a, b)


def _is_number(v: Any) -> bool:
    return isinstance(v, (Decimal, int)) and not isinstance(v, bool)


def _plain_date(v: Any) -> bool:
    return isinstance(v, dt.date) and not isinstance(v, dt.datetime)


def shift_days(d: Any, days: Any) -> Any:
    """A date plus whole days, or a date and time plus (fractional) days."""
    try:
        if isinstance(d, dt.datetime):
            seconds = _mul(days, _DAY_SECONDS)
            if abs(seconds) > 400_000 * 86400:
                raise SizeLimitFailure(f"{days} days is too far")
            return d + dt.timedelta(seconds=int(seconds.to_integral_value()))
        return d + dt.timedelta(days=whole(days, "days added to a date"))
    except OverflowError:
        raise LibraryFailure("the date would be outside the years 1 to 9999") from None


def days_fraction(start: dt.datetime, end: dt.datetime) -> Decimal:
    delta = end - start
    seconds = Decimal(delta.days * 86400 + delta.seconds)
    return _div(seconds, _DAY_SECONDS).quantize(Decimal("0.0001"), context=CTX)


# -- comparisons ----------------------------------------------------------------------------
def num_lt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a < b


def num_le(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a <= b


def num_gt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a > b


def num_ge(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a >= b


def _comparable(a: Any, b: Any) -> bool:
    """Whether two values can be ordered; None makes the comparison False."""
    if a is None or b is None:
        return False
    if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        return True
    if type(a) in (dt.date, dt.datetime) and type(a) is type(b):
        return True
    raise LibraryFailure(f"cannot compare {type_name(a)} with {type_name(b)}")


def lt(a: Any, b: Any) -> bool:
    return _comparable(a, b) and a < b


def le(a: Any, b: Any) -> bool:
    return _comparable(a, b) and a <= b


def gt(a: Any, b: Any) -> bool:
    return _comparable(a, b) and a > b


def ge(a: Any, b: Any) -> bool:
    return _comparable(a, b) and a >= b


def eq(a: Any, b: Any) -> bool:
    """Equality; None equals only None. A date never equals a date and time."""
    if isinstance(a, dt.datetime) is not isinstance(b, dt.datetime) and a is not None \
            and b is not None:
        return False
    return bool(a == b)


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def member(item: Any, items: Any) -> bool:
    """``item in items``: False when either side is None."""
    if item is None or items is None:
        return False
    if not isinstance(items, list):
        raise LibraryFailure(f"'in' needs a list on its right, got {type_name(items)}")
    return any(eq(item, x) for x in items)


def not_member(item: Any, items: Any) -> bool:
    if item is None or items is None:
        return False
    return not member(item, items)


def make_list(*items: Any) -> list[Any]:
    return check_list(list(items))


OPERATOR_FUNCTIONS = {
    "num_add": num_add, "num_sub": num_sub, "num_mul": num_mul, "num_div": num_div,
    "floordiv": floordiv, "mod": mod, "power": power, "neg": neg, "pos": pos,
    "add": add, "sub": sub, "mul": mul, "div": div,
    "num_lt": num_lt, "num_le": num_le, "num_gt": num_gt, "num_ge": num_ge,
    "lt": lt, "le": le, "gt": gt, "ge": ge, "eq": eq, "ne": ne,
    "member": member, "not_member": not_member, "make_list": make_list,
}
