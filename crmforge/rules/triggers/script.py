"""What a trigger script sees when it runs (inside the worker process).

Globals hold only: safe builtins, the expression library, the record API (``record``,
``old``, ``is_new``, ``set_field``, ``add_error``, ``query``, ``create``) and
RestrictedPython's guard hooks. Attribute access is a whitelist per type: record fields,
and a few harmless methods of text, lists, dicts, dates and numbers. ``str.format`` (the
classic ``'{0.__class__}'`` escape), ``zfill`` and the like are simply not on it.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.PrintCollector import PrintCollector

from ..library import CTX, LIBRARY

MAX_STR = 1_000_000
MAX_ITEMS = 100_000
MAX_INT_BITS = 4096
MAX_RANGE = 100_000


class BudgetExceeded(BaseException):
    """A budget ran out. A BaseException, so ``except Exception`` in a script cannot
    swallow it (bare ``except`` is refused at compile time)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class SandboxViolation(Exception):
    """The script reached for something the sandbox does not offer."""


class Record:
    """Read-only view of record values: ``record.amount`` or ``record['amount']``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def read(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name not in values:
            raise SandboxViolation(f"no field '{str(name)[:40]}'")
        return values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise SandboxViolation("records are read-only: use set_field(name, value)")


_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({"upper", "lower", "strip", "lstrip", "rstrip", "startswith", "endswith",
                    "find", "count", "split", "replace", "title", "capitalize", "isdigit",
                    "isalpha", "isalnum", "isspace", "islower", "isupper", "join"}),
    list: frozenset({"append", "extend", "insert", "pop", "remove", "index", "count", "sort",
                     "reverse", "copy", "clear"}),
    dict: frozenset({"get", "keys", "values", "items", "pop", "setdefault", "update", "copy",
                     "clear"}),
    tuple: frozenset({"count", "index"}),
    Decimal: frozenset({"quantize", "to_integral_value", "copy_abs", "is_zero"}),
    dt.date: frozenset({"year", "month", "day", "weekday", "isoweekday", "isoformat"}),
    dt.datetime: frozenset({"year", "month", "day", "hour", "minute", "second", "weekday",
                            "isoweekday", "isoformat", "date"}),
}


def guarded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    if not isinstance(name, str) or name.startswith("_"):
        raise SandboxViolation(f"attribute '{str(name)[:40]}' is not available")
    if type(obj) is Record:
        return obj.read(name)
    allowed = _METHODS.get(type(obj))
    if allowed is None or name not in allowed:
        raise SandboxViolation(
            f"'{type(obj).__name__}.{name[:40]}' is not available in triggers")
    return getattr(obj, name)


def guarded_getitem(obj: Any, key: Any) -> Any:
    if type(obj) is Record:
        return obj.read(key)
    if type(obj) in (list, tuple, str, dict, range):
        return obj[key]
    raise SandboxViolation(f"{type(obj).__name__} values cannot be indexed")


def guarded_write(obj: Any) -> Any:
    if type(obj) in (list, dict):
        return obj
    raise SandboxViolation(f"{type(obj).__name__} values are read-only")


def _size(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > (
            MAX_STR if isinstance(value, str) else MAX_ITEMS):
        raise BudgetExceeded("a value would be too large", "size")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded("a number would be too large", "size")
    return value


def _number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def sandbox_mul(a: Any, b: Any) -> Any:
    if _number(a) and _number(b):
        if isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise BudgetExceeded("a number would be too large", "size")
            return a * b
        return CTX.multiply(a, b)
    seq, n = (a, b) if isinstance(b, int) else (b, a)
    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and not isinstance(n, bool):
        limit = MAX_STR if isinstance(seq, str) else MAX_ITEMS
        if len(seq) * max(n, 0) > limit:
            raise BudgetExceeded("repetition would make a value too large", "size")
        return seq * n
    raise TypeError(f"cannot multiply {type(a).__name__} by {type(b).__name__}")


def sandbox_pow(a: Any, b: Any) -> Any:
    if not (_number(a) and _number(b)):
        raise TypeError("** needs numbers")
    if abs(b) > 1000:
        raise BudgetExceeded(f"the exponent {b} is larger than 1000", "size")
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if a.bit_length() * b > MAX_INT_BITS:
            raise BudgetExceeded("a number would be too large", "size")
        return a**b
    return CTX.power(Decimal(a), Decimal(b))


def sandbox_div(a: Any, b: Any) -> Any:
    if not (_number(a) and _number(b)):
        raise TypeError("/ needs numbers")
    return CTX.divide(Decimal(a), Decimal(b))


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.add, "-=": operator.sub, "//=": operator.floordiv, "%=": operator.mod,
    "|=": operator.or_, "&=": operator.and_, "^=": operator.xor,
    "*=": sandbox_mul, "**=": sandbox_pow, "/=": sandbox_div,
}


def inplacevar(op: str, x: Any, y: Any) -> Any:
    fn = _INPLACE.get(op)
    if fn is None:
        raise SandboxViolation(f"'{op}' is not allowed")
    return _size(fn(x, y))


def limited_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise BudgetExceeded(f"range() is limited to {MAX_RANGE} numbers", "iterations")
    return r


SAFE_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False,
    "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "divmod": divmod,
    "enumerate": enumerate, "int": int, "len": len, "list": list, "max": max, "min": min,
    "range": limited_range, "reversed": reversed, "set": set, "sorted": sorted,
    "str": str, "sum": sum, "tuple": tuple, "zip": zip, "isinstance": isinstance,
    "ValueError": ValueError, "KeyError": KeyError, "TypeError": TypeError,
    "Exception": Exception, "ZeroDivisionError": ZeroDivisionError,
    "ArithmeticError": ArithmeticError, "IndexError": IndexError,
}


class Budget:
    """Counts iterations of a run; every loop body and every iteration ticks."""

    def __init__(self, max_iterations: int) -> None:
        self.left = max_iterations

    def tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BudgetExceeded("the trigger ran too many loop iterations", "iterations")

    def getiter(self, obj: Any) -> Iterator[Any]:
        if type(obj) is Record:
            raise SandboxViolation("records cannot be iterated")
        for item in iter(obj):
            self.tick()
            yield item


def _decimal_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Library functions take Decimal numbers; trigger code has Python ints too."""

    def call(*args: Any) -> Any:
        return fn(*(Decimal(a) if type(a) is int else a for a in args))

    call.__name__ = fn.__name__
    return call


def make_globals(budget: Budget, api: Mapping[str, Any]) -> dict[str, Any]:
    g: dict[str, Any] = {name: _decimal_args(spec.impl) for name, spec in LIBRARY.items()
                         if name not in SAFE_BUILTINS}
    g.update(api)
    g.update({
        "__builtins__": SAFE_BUILTINS, "__name__": "trigger",
        "_getattr_": guarded_getattr, "_getitem_": guarded_getitem,
        "_write_": guarded_write, "_getiter_": budget.getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence, "_inplacevar_": inplacevar,
        "_print_": PrintCollector, "_apply_": lambda f, *a, **kw: f(*a, **kw),
        "sandbox_mul": sandbox_mul, "sandbox_pow": sandbox_pow, "sandbox_div": sandbox_div,
        "sandbox_decimal": Decimal, "sandbox_tick": budget.tick, "number": _to_decimal,
    })
    return g


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise TypeError(f"number() needs an int, text or a number, got {type(value).__name__}")
    d = Decimal(value)
    if not d.is_finite():
        raise ValueError("number() needs a finite number")
    return d
