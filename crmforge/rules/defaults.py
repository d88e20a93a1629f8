"""Default values without a record: the record service's original entry point.

``evaluate_default(expression)`` evaluates a default that reads no fields (constants,
``today()``, ``add_days(today(), 30)``, ``['a', 'b']``...) with the full expression
language and sandbox. Defaults that read other fields of the record being created need
the object: the successor is ``ObjectRules.for_object(obj, snapshot).defaults(values)``.
"""

from __future__ import annotations

from typing import Any

from .compiler import compile_expression
from .context import ExpressionContext
from .errors import ExpressionError

_EMPTY = ExpressionContext.empty()


class UnsupportedExpression(ValueError):
    """The default cannot be evaluated without a record (or is not a valid expression)."""


def evaluate_default(expression: str) -> Any:
    """The value of a default expression that reads no fields. Numbers are Decimal."""
    try:
        return compile_expression(expression, _EMPTY).evaluate({})
    except ExpressionError as exc:
        raise UnsupportedExpression(
            f"the default '{str(expression)[:60]}' cannot be evaluated: {exc.message}"
        ) from None


def is_constant_default(expression: str) -> bool:
    """Whether the default evaluates without reading any field."""
    try:
        evaluate_default(expression)
    except UnsupportedExpression:
        return False
    return True


__all__ = ["UnsupportedExpression", "evaluate_default", "is_constant_default"]
