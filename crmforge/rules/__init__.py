"""Business logic from metadata: expressions, defaults, validation rules, triggers."""

from .defaults import UnsupportedExpression, evaluate_default

__all__ = ["UnsupportedExpression", "evaluate_default"]
