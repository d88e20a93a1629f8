"""Default values. Defaults are expressions (DESIGN §3); until the full expression language
lands, constant expressions and ``today()`` / ``now()`` are evaluated, and anything else is
refused with a clear message rather than guessed."""

from __future__ import annotations

import ast
from typing import Any

from ..core import clock


class UnsupportedExpression(ValueError):
    pass


def evaluate_default(expression: str) -> Any:
    tree = ast.parse(expression.strip(), mode="eval").body
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and not tree.args \
            and not tree.keywords:
        if tree.func.id == "today":
            return clock.now().date()
        if tree.func.id == "now":
            return clock.now().replace(tzinfo=None)
    try:
        value = ast.literal_eval(tree)
    except ValueError:
        raise UnsupportedExpression(
            f"the default '{expression[:60]}' is not a constant, today() or now()"
        ) from None
    if isinstance(value, float):
        return str(value)
    if isinstance(value, (str, int, bool, list)) or value is None:
        return value
    raise UnsupportedExpression(f"the default '{expression[:60]}' has an unsupported type")


def is_constant_default(expression: str) -> bool:
    try:
        evaluate_default(expression)
    except (UnsupportedExpression, SyntaxError):
        return False
    return True


__all__ = ["UnsupportedExpression", "evaluate_default", "is_constant_default"]
