"""Errors of the rules layer.

Every refusal names *why* it happened through its class (and the matching ``reason``
code), so the escape tests can assert that an expression was refused for the right reason
and the designer can show a precise message. All of them are ``ValidationFailed``: a bad
expression or a failing evaluation is a 422 with a message, never a crash.
"""

from __future__ import annotations

from ..core.errors import ValidationFailed


class ExpressionError(ValidationFailed):
    """An expression cannot be used; ``line`` and ``column`` (1-based) point into its source."""

    code = "expression_error"
    reason = "invalid"

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        self.line = line
        self.column = column
        self.detail = message
        super().__init__(f"line {line}, column {column}: {message}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, line={self.line}, column={self.column})"


class ExpressionSyntaxError(ExpressionError):
    """The source is not a Python expression."""

    reason = "syntax"


class ForbiddenConstruct(ExpressionError):
    """The sandbox refuses a construct (subscripts, lambdas, private names, imports...)."""

    reason = "forbidden"


class UnknownName(ExpressionError):
    """A name is neither a field of the object nor a library function."""

    reason = "unknown_name"


class ArityError(ExpressionError):
    """A function was called with the wrong number or names of arguments."""

    reason = "arity"


class ExpressionTypeError(ExpressionError):
    """Operand, argument or result types do not fit (known from the field types)."""

    reason = "type"


class CycleError(ExpressionError):
    """Formula fields depend on each other in a cycle."""

    reason = "cycle"


class LimitExceeded(ExpressionError):
    """A size limit was hit: source length, nesting depth, text or list size, exponent."""

    reason = "limit"


class EvaluationError(ExpressionError):
    """Evaluation failed on these values (a bad date, text that is not a number...)."""

    reason = "evaluation"


__all__ = [
    "ArityError",
    "CycleError",
    "EvaluationError",
    "ExpressionError",
    "ExpressionSyntaxError",
    "ExpressionTypeError",
    "ForbiddenConstruct",
    "LimitExceeded",
    "UnknownName",
]
