"""Compiling and evaluating expressions.

``compile_expression`` runs the three walls in order: the parser's limits, the AST
whitelist with static types (translate.py), and RestrictedPython's transformer over the
generated function as a second, independent policy. The function then runs with globals
that hold only the library, the operator helpers and the constants (no builtins at all).

Compiled expressions are cached by (source, context signature, expected type): an
evaluation costs one Python call plus the operator helpers, no parsing.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from RestrictedPython.compile import compile_restricted_exec

from .context import ExpressionContext
from .errors import (
    EvaluationError,
    ExpressionError,
    ExpressionTypeError,
    ForbiddenConstruct,
    LimitExceeded,
)
from .library import CTX, LIBRARY, MAX_LIST, MAX_TEXT, OPERATOR_FUNCTIONS, LibraryFailure
from .library.base import SizeLimitFailure
from .parse import parse
from .translate import RelationRead, Translator
from .types import PYTHON_CLASS, T

Resolver = Callable[[str, str], Any]
FUNCTION_NAME = "E"


@dataclass(frozen=True)
class _Param:
    """One positional argument of the generated function and how to get its value."""

    name: str                       # field name, or the first relation for a relation read
    type: T
    read: RelationRead | None = None


class CompiledExpression:
    """A checked, compiled expression. Immutable and safe to share between threads."""

    def __init__(self, source: str, result_type: T, fn: Callable[..., Any],
                 params: tuple[_Param, ...], fields: frozenset[str],
                 relations: tuple[RelationRead, ...], functions: frozenset[str]) -> None:
        self.source = source
        self.result_type = result_type
        self.fields = fields          # own fields read (the first hop of relations too)
        self.relations = relations    # values read through relations
        self.functions = functions    # library functions called
        self._fn = fn
        self._code = fn.__code__
        self._plain = tuple((p.name, PYTHON_CLASS.get(p.type, object), p.type)
                            for p in params if p.read is None)
        self._reads = tuple(p for p in params if p.read is not None)

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r}, {self.result_type.value})"

    def evaluate(self, values: Mapping[str, Any], resolve: Resolver | None = None) -> Any:
        """The value of the expression for a record's ``values``.

        Fields missing from ``values`` read as None. ``resolve(relation_path, field)`` gives
        values of related records: ``account.parent.region`` calls
        ``resolve("account.parent", "region")``; it is not called when the first relation
        field is None. Values are converted to the expression types on the way in (ints
        and floats become Decimal, the stored ``;a;b;`` form of a multi-select becomes a
        list); a failure raises EvaluationError or LimitExceeded, never anything else.
        """
        get = values.get
        args = []
        for name, cls, t in self._plain:
            v = get(name)
            if v is not None and v.__class__ is not cls:
                v = convert_in(v, t, name)
            args.append(v)
        if self._reads:
            args.extend(self._resolve(values, resolve))
        try:
            result = self._fn(*args)
        except Exception as exc:
            raise self._failure(exc) from None
        if result.__class__ is str and len(result) > MAX_TEXT:
            raise LimitExceeded(f"the result is longer than {MAX_TEXT} characters")
        if result.__class__ is list and len(result) > MAX_LIST:
            raise LimitExceeded(f"the result has more than {MAX_LIST} items")
        return result

    def _resolve(self, values: Mapping[str, Any], resolve: Resolver | None) -> list[Any]:
        out: list[Any] = []
        for p in self._reads:
            assert p.read is not None
            if values.get(p.name) is None:
                out.append(None)
                continue
            if resolve is None:
                raise EvaluationError(f"'{p.read.path}.{p.read.field}' reads a related "
                                      "record, but no resolver was given")
            try:
                v = resolve(p.read.path, p.read.field)
            except ExpressionError:
                raise
            except Exception as exc:
                raise EvaluationError(f"reading '{p.read.path}.{p.read.field}' failed: "
                                      f"{exc}") from exc
            out.append(None if v is None else convert_in(v, p.type,
                                                         f"{p.read.path}.{p.read.field}"))
        return out

    def _failure(self, exc: Exception) -> ExpressionError:
        line, col = self._location(exc)
        if isinstance(exc, (SizeLimitFailure, RecursionError, MemoryError, OverflowError)):
            return LimitExceeded(str(exc) or "a limit was exceeded", line, col)
        if isinstance(exc, LibraryFailure):
            return EvaluationError(str(exc), line, col)
        if isinstance(exc, ArithmeticError):
            what = type(exc).__name__
            if "Overflow" in what:
                return LimitExceeded("a number is too large", line, col)
            return EvaluationError(f"arithmetic error ({what})", line, col)
        if isinstance(exc, ExpressionError):
            return exc
        return EvaluationError(f"cannot evaluate: {exc}"[:300], line, col)

    def _location(self, exc: BaseException) -> tuple[int, int]:
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is self._code:
                positions = list(self._code.co_positions())
                index = tb.tb_lasti // 2
                if 0 <= index < len(positions):
                    line, _, col, _ = positions[index]
                    return line or 1, (col or 0) + 1
            tb = tb.tb_next
        return 1, 1


def convert_in(value: Any, t: T, name: str) -> Any:
    """A value from a record or a resolver, as its expression type."""
    try:
        if t is T.NUMBER:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, float):
                value = repr(value)
            if isinstance(value, (int, str, Decimal)):
                d = Decimal(value)
                if not d.is_finite():
                    raise ValueError
                return d
            raise TypeError
        if t is T.LIST:
            if isinstance(value, str):  # the stored form of a multi-select picklist
                return [v for v in value.split(";") if v]
            if isinstance(value, (list, tuple)):
                return list(value)
            raise TypeError
        if t is T.DATETIME:
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if isinstance(value, dt.datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(dt.UTC).replace(tzinfo=None)
                return value
            if isinstance(value, dt.date):
                return dt.datetime(value.year, value.month, value.day)
            raise TypeError
        if t is T.DATE:
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str):
                return dt.date.fromisoformat(value.strip())
            raise TypeError
        if t is T.BOOLEAN:
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise TypeError
        if t is T.TEXT:
            if isinstance(value, str):
                return value
            raise TypeError
        if t is T.REFERENCE:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
            raise TypeError
    except (TypeError, ValueError, InvalidOperation):
        raise EvaluationError(f"'{name}' holds {type(value).__name__} {str(value)[:40]!r}, "
                              f"expected {t}") from None
    return value


# -- compiling ------------------------------------------------------------------------------
def _globals(constants: Mapping[str, Any]) -> dict[str, Any]:
    g: dict[str, Any] = {"__builtins__": {}, "__name__": "crmforge_expression"}
    g.update({"F_" + name: spec.impl for name, spec in LIBRARY.items()})
    g.update({"O_" + name: fn for name, fn in OPERATOR_FUNCTIONS.items()})
    g.update(C_add=CTX.add, C_sub=CTX.subtract, C_mul=CTX.multiply, C_div=CTX.divide)
    g.update(constants)
    return g


def _check(source: object, context: ExpressionContext,
           expected: T | None) -> tuple[Any, list[ExpressionError]]:
    tree, errors = parse(source)
    if tree is None:
        return None, errors
    translation = Translator(context).run(tree)
    errors = translation.errors
    if not errors and expected is not None and translation.type not in (
            expected, T.ANY, T.NULL):
        errors.append(ExpressionTypeError(
            f"the expression gives {translation.type}, but {expected} is expected",
            *_start(tree)))
    errors.sort(key=lambda e: (e.line, e.column))
    return translation, errors


def _start(tree: ast.Expression) -> tuple[int, int]:
    return tree.body.lineno, tree.body.col_offset + 1


def check_expression(source: str, context: ExpressionContext,
                     expected: T | None = None) -> list[ExpressionError]:
    """Every problem of an expression (empty when it is fine), sorted by position."""
    return _check(source, context, expected)[1]


@functools.lru_cache(maxsize=4096)
def _compile_cached(source: str, context: ExpressionContext,
                    expected: T | None) -> CompiledExpression:
    translation, errors = _check(source, context, expected)
    if errors:
        raise errors[0]
    params = [_Param(name, translation.field_types[name]) for name in translation.fields]
    params += [_Param(read.relations[0], read.type, read) for read in translation.relations]
    arg_names = list(translation.fields.values()) + list(translation.relations.values())
    fn_def = ast.FunctionDef(
        name=FUNCTION_NAME,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(a) for a in arg_names],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[ast.Return(translation.body, lineno=1, col_offset=0)],
        decorator_list=[], returns=None, type_comment=None, lineno=1, col_offset=0)
    module = ast.Module(body=[fn_def], type_ignores=[])
    ast.fix_missing_locations(module)
    result = compile_restricted_exec(module, filename="<expression>")
    if result.errors or result.code is None:
        raise ForbiddenConstruct("refused by the sandbox: " + "; ".join(result.errors)[:300])
    namespace = _globals(translation.constants)
    exec(result.code, namespace)  # noqa: S102 - restricted code, library-only globals
    fn = namespace[FUNCTION_NAME]
    assert isinstance(fn, types.FunctionType)
    return CompiledExpression(
        source, translation.type, fn, tuple(params), frozenset(translation.fields),
        tuple(translation.relations), frozenset(translation.functions))


def compile_expression(source: str, context: ExpressionContext, *,
                       expected: T | None = None) -> CompiledExpression:
    """Check and compile ``source``; raises the first ExpressionError (with line and column).

    ``expected`` is the type the caller needs (BOOLEAN for conditions, a formula's result
    type); None accepts any result.
    """
    if not isinstance(source, str):
        raise ExpressionTypeError("an expression must be text")
    return _compile_cached(source, context, expected)


def cache_clear() -> None:
    _compile_cached.cache_clear()
