"""The pieces every library module shares: the Decimal context, size limits, the
exceptions library code raises, and the registry of function specifications.

A function is registered with its parameter types and result type; the static checker
uses them to report unknown functions, wrong arity and type errors when an expression is
saved, and the same registry generates the reference in ``docs/expressions.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any

from ..types import T

#: All expression arithmetic runs in this context, never the thread's current one, so no
#: caller can change precision (a huge precision would make ``1 / 3`` a memory bomb).
CTX = Context(prec=28, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
              traps=[InvalidOperation, DivisionByZero, Overflow])

MAX_TEXT = 100_000          # characters in any text value an expression produces
MAX_LIST = 10_000           # items in any list value
MAX_EXPONENT = 1_000        # |exponent| of ``**`` and ``power``
MAX_REGEX_PATTERN = 200     # characters of a ``regex_match`` pattern
MAX_REGEX_INPUT = 1_000     # characters regex_match reads (RE2: time linear in them)
MAX_DAYS = Decimal(3_660_000)  # more days than the calendar (years 1-9999) holds


class LibraryFailure(Exception):
    """Evaluation cannot go on with these values; the message is shown to the user."""


class SizeLimitFailure(LibraryFailure):
    """A value would exceed a size limit (text, list, exponent, regex input)."""


def check_text(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise SizeLimitFailure(f"text would be longer than {MAX_TEXT} characters")
    return value


def check_list(value: list[Any]) -> list[Any]:
    if len(value) > MAX_LIST:
        raise SizeLimitFailure(f"a list would have more than {MAX_LIST} items")
    return value


def to_number(value: Any) -> Decimal:
    """A number value as Decimal; int is exact, float goes through its shortest repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise LibraryFailure("expected a number, got a boolean")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    raise LibraryFailure(f"expected a number, got {type_name(value)}")


def whole(value: Decimal, what: str) -> int:
    """A Decimal that must be a whole number of modest size (counts, positions, days)."""
    if not value.is_finite() or value != value.to_integral_value():
        raise LibraryFailure(f"{what} must be a whole number, got {value}")
    if abs(value) > MAX_DAYS:
        raise SizeLimitFailure(f"{what} is too large ({value})")
    return int(value)


def type_name(value: Any) -> str:
    if value is None:
        return "None"
    for t, cls in ((T.BOOLEAN, bool), (T.DATETIME, dt.datetime), (T.DATE, dt.date),
                   (T.NUMBER, Decimal), (T.NUMBER, int), (T.TEXT, str), (T.LIST, list)):
        if isinstance(value, cls):
            return str(t)
    return type(value).__name__


Returns = T | Callable[[Sequence[T]], T | None]


@dataclass(frozen=True)
class Param:
    name: str
    types: frozenset[T]
    optional: bool = False


@dataclass(frozen=True)
class FunctionSpec:
    """A library function as the checker, the translator and the docs see it."""

    name: str
    impl: Callable[..., Any]
    params: tuple[Param, ...]
    returns: Returns
    category: str
    summary: str
    example: str
    variadic: Param | None = None
    min_variadic: int = 0
    #: Null rule shown in the reference (what the function does with None arguments).
    nulls: str = "returns None when an argument is None"

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional) + self.min_variadic

    @property
    def max_args(self) -> int | None:
        return None if self.variadic else len(self.params)

    def signature(self) -> str:
        parts = [p.name + ("=None" if p.optional else "") for p in self.params]
        if self.variadic:
            parts.append("*" + self.variadic.name)
        return f"{self.name}({', '.join(parts)})"


LIBRARY: dict[str, FunctionSpec] = {}


def register(
    name: str,
    params: Sequence[Param],
    returns: Returns,
    *,
    category: str,
    summary: str,
    example: str,
    variadic: Param | None = None,
    min_variadic: int = 0,
    nulls: str = "returns None when an argument is None",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function under ``name`` (names are lower_snake)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        assert name not in LIBRARY, name
        LIBRARY[name] = FunctionSpec(name, fn, tuple(params), returns, category, summary,
                                     example, variadic, min_variadic, nulls)
        return fn

    return deco


def same_as_args(types: Sequence[T]) -> T | None:
    """Result type of functions that return one of their arguments."""
    from ..types import unify

    return unify(list(types))
