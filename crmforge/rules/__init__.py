"""Business logic from metadata: the expression language, its sandbox, and triggers.

Public API::

    ctx = ExpressionContext.for_object(obj, snapshot)
    expr = compile_expression("if_blank(area, 0) * price", ctx, expected=T.NUMBER)
    expr.evaluate(values, resolve)          # resolve(relation_path, field) -> value
    check_expression(source, ctx, expected) # -> [ExpressionError], each with line/column
    rules = ObjectRules.for_object(obj, snapshot)
    rules.defaults(values); rules.formulas(values, resolve)
    rules.validate(values, resolve, lang); rules.field_states(values, resolve)
    check_object_expressions(object_doc, snapshot)  # -> [(json_path, message)]

Importing this package registers ``check_object_expressions`` with metadata validation,
so saving an object document checks its expressions (metadata cannot import rules).
Triggers live in ``crmforge.rules.triggers`` (worker processes; imported on demand).
"""

from ..metadata.validation import register_object_checker
from .compiler import CompiledExpression, Resolver, check_expression, compile_expression
from .context import MAX_RELATION_DEPTH, ExpressionContext, FieldInfo
from .defaults import UnsupportedExpression, evaluate_default, is_constant_default
from .errors import (
    ArityError,
    CycleError,
    EvaluationError,
    ExpressionError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    ForbiddenConstruct,
    LimitExceeded,
    UnknownName,
)
from .library import LIBRARY, FunctionSpec
from .metadata_checks import check_object_expressions
from .object_rules import ObjectRules
from .types import RESULT_TYPES, T

register_object_checker(check_object_expressions)

__all__ = [
    "LIBRARY",
    "MAX_RELATION_DEPTH",
    "RESULT_TYPES",
    "ArityError",
    "CompiledExpression",
    "CycleError",
    "EvaluationError",
    "ExpressionContext",
    "ExpressionError",
    "ExpressionSyntaxError",
    "ExpressionTypeError",
    "FieldInfo",
    "ForbiddenConstruct",
    "FunctionSpec",
    "LimitExceeded",
    "ObjectRules",
    "Resolver",
    "T",
    "UnknownName",
    "UnsupportedExpression",
    "check_expression",
    "check_object_expressions",
    "compile_expression",
    "evaluate_default",
    "is_constant_default",
]
