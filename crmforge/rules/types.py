"""Static types of expression values, derived from the field types' ``expression_type``.

Types are known for every field, relation and library function, so most mistakes
(``name + amount``, ``close_date > 5``) are found when an expression is saved rather than
when a record is written. ``ANY`` appears only where a value's type is genuinely unknown;
the runtime checks those values instead.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the trigger worker imports this module without the metadata layer
    from ..metadata.model import FieldDef


class T(enum.Enum):
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    LIST = "list"
    REFERENCE = "reference"
    FILE = "file"
    NULL = "null"
    ANY = "any"

    def __str__(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    T.NUMBER: "a number", T.TEXT: "text", T.BOOLEAN: "a boolean", T.DATE: "a date",
    T.DATETIME: "a date and time", T.LIST: "a list", T.REFERENCE: "a record reference",
    T.FILE: "a file", T.NULL: "None", T.ANY: "any value",
}

#: The Python class of each type's values (``None`` aside); used to check values coming in.
PYTHON_CLASS: dict[T, type] = {
    T.NUMBER: Decimal, T.TEXT: str, T.BOOLEAN: bool, T.DATE: dt.date,
    T.DATETIME: dt.datetime, T.LIST: list, T.REFERENCE: int,
}

#: Formula ``result_type`` names and the expression type each one expects.
RESULT_TYPES: dict[str, T] = {
    "text": T.TEXT, "integer": T.NUMBER, "decimal": T.NUMBER, "currency": T.NUMBER,
    "percent": T.NUMBER, "boolean": T.BOOLEAN, "date": T.DATE, "datetime": T.DATETIME,
}

ORDERED = frozenset({T.NUMBER, T.TEXT, T.DATE, T.DATETIME})


def field_type(f: FieldDef) -> T:
    """The expression type of a field. Formulas take their result type; files are opaque."""
    if f.type == "formula":
        return RESULT_TYPES.get(str(f.options.get("result_type")), T.ANY)
    if f.type == "file":
        return T.FILE
    if f.type == "rollup" and f.options.get("result_type") in ("date", "datetime") \
            and f.options.get("function") in ("min", "max"):
        return T(str(f.options["result_type"]))
    return T(f.kind.expression_type)


def unify(types: list[T]) -> T | None:
    """The common type of several values (``None`` mixes with anything), or None if none."""
    known = {t for t in types if t is not T.NULL}
    if not known:
        return T.NULL
    if T.ANY in known:
        return T.ANY
    if len(known) == 1:
        return known.pop()
    return None


def accepts(allowed: frozenset[T], actual: T) -> bool:
    return actual in allowed or actual in (T.ANY, T.NULL) or T.ANY in allowed


def describe(allowed: frozenset[T]) -> str:
    order = list(T)
    return " or ".join(str(t) for t in sorted(allowed, key=order.index))


NUM = frozenset({T.NUMBER})
TXT = frozenset({T.TEXT})
BOOL = frozenset({T.BOOLEAN})
DATE = frozenset({T.DATE})
DATES = frozenset({T.DATE, T.DATETIME})
LIST = frozenset({T.LIST})
ANY = frozenset({T.ANY})
SCALAR = frozenset({T.NUMBER, T.TEXT, T.BOOLEAN, T.DATE, T.DATETIME, T.REFERENCE})
