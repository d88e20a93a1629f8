"""Second step: the AST whitelist, type checking and translation into sandbox code.

One pass over the tree does three jobs, so they cannot disagree:

- it refuses every construct outside the language (subscripts, comprehensions, lambdas,
  f-strings, ``:=``, starred arguments, attribute access other than through declared
  relations, any name starting with ``_``, calls of anything but library functions);
- it infers the static type of each node from the field types and the library's
  signatures, reporting unknown names, wrong arity and type errors with line and column;
- it builds the tree of a function ``def E(V0, V1, R0): return ...`` in which fields are
  positional parameters (``V*`` for fields, ``R*`` for values read through relations),
  number literals are Decimal constants (``K*``), library functions are ``F_*`` and every
  operator is a call of a bounded function ``O_*``. Upper-case generated names can never
  collide with field names, which are lower-case.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .context import MAX_RELATION_DEPTH, ExpressionContext, FieldInfo
from .errors import (
    ArityError,
    EvaluationError,
    ExpressionError,
    ExpressionTypeError,
    ForbiddenConstruct,
    LimitExceeded,
    UnknownName,
)
from .library import LIBRARY, MAX_LIST, MAX_TEXT, FunctionSpec, SizeLimitFailure
from .library.textfn import check_regex_constant
from .translate_ops import NOT_CONSTANT, OperatorRules, Typed, at, locate
from .types import T, accepts, describe, unify

#: Types whose only blank value is None (text and lists are also blank when empty).
ONLY_NONE_BLANK = frozenset({T.NUMBER, T.BOOLEAN, T.DATE, T.DATETIME, T.REFERENCE, T.FILE})

#: Builtins people try; named in the refusal so the message says "not available", not
#: "unknown" (and the escape tests can tell the two apart).
DANGEROUS = frozenset({
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr",
    "hasattr", "vars", "dir", "globals", "locals", "type", "object", "super", "input",
    "breakpoint", "help", "memoryview", "classmethod", "staticmethod", "property", "id",
    "isinstance", "issubclass", "callable", "format", "repr", "iter", "next", "print",
    "exit", "quit", "range", "map", "filter", "zip", "reversed", "sorted", "enumerate",
    "chr", "ord", "bytes", "bytearray", "dict", "set", "frozenset", "tuple", "list", "str",
    "int", "float", "complex", "bool", "slice", "hash", "hex", "oct", "bin", "divmod",
    "pow", "all", "any", "ascii", "attrgetter", "itemgetter", "methodcaller", "string",
    "operator", "os", "sys", "builtins", "importlib", "subprocess", "pickle",
})

_FORBIDDEN_NODES: dict[type, str] = {
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Slice: "slices are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.JoinedStr: "f-strings are not allowed (use concat() and text())",
    ast.FormattedValue: "f-strings are not allowed (use concat() and text())",
    ast.NamedExpr: "':=' is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Set: "set literals are not allowed (use a list: ['a', 'b'])",
    ast.Dict: "dict literals are not allowed",
}


@dataclass(frozen=True)
class RelationRead:
    """A value read through relations: ``account.parent.region`` is relations
    ``("account", "parent")`` and field ``region``; the first relation is a field here."""

    relations: tuple[str, ...]
    field: str
    type: T

    @property
    def path(self) -> str:
        return ".".join(self.relations)


@dataclass
class Translation:
    body: ast.expr | None = None
    type: T = T.ANY
    errors: list[ExpressionError] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)          # field -> V name
    field_types: dict[str, T] = field(default_factory=dict)
    relations: dict[RelationRead, str] = field(default_factory=dict)  # read -> R name
    constants: dict[str, Any] = field(default_factory=dict)       # K name -> Decimal
    functions: set[str] = field(default_factory=set)              # library names used
    operators: set[str] = field(default_factory=set)              # O_ helpers used
    temps: int = 0


class Translator(OperatorRules):
    def __init__(self, context: ExpressionContext) -> None:
        self.ctx = context
        self.out = Translation()

    # -- helpers ----------------------------------------------------------------------------
    def error(self, cls: type[ExpressionError], node: ast.AST, message: str) -> Typed:
        self.out.errors.append(cls(message, *at(node)))
        return Typed(ast.Constant(None), T.ANY)

    def call(self, name: str, args: list[ast.expr], at: ast.AST) -> ast.expr:
        if name.startswith("O_"):
            self.out.operators.add(name)
        node = ast.Call(ast.Name(name, ast.Load()), args, [])
        return ast.copy_location(node, at)

    def constant(self, value: Decimal, at: ast.AST) -> Typed:
        name = f"K{len(self.out.constants)}"
        self.out.constants[name] = value
        return Typed(ast.copy_location(ast.Name(name, ast.Load()), at), T.NUMBER, value)

    def temp(self) -> str:
        self.out.temps += 1
        return f"T{self.out.temps}"

    def run(self, tree: ast.Expression) -> Translation:
        result = self.visit(tree.body)
        self.out.body = result.node
        self.out.type = result.type
        return self.out

    def visit(self, node: ast.AST) -> Typed:
        reason = _FORBIDDEN_NODES.get(type(node))
        if reason is not None:
            return self.error(ForbiddenConstruct, node, reason)
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            return self.error(ForbiddenConstruct, node,
                              f"{type(node).__name__} is not allowed in expressions")
        result: Typed = method(node)
        return result

    # -- leaves -----------------------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant) -> Typed:
        v = node.value
        if v is None or isinstance(v, bool):
            return Typed(ast.copy_location(ast.Constant(v), node),
                         T.NULL if v is None else T.BOOLEAN, v)
        if isinstance(v, str):
            if len(v) > MAX_TEXT:
                return self.error(LimitExceeded, node, "the text literal is too long")
            return Typed(ast.copy_location(ast.Constant(v), node), T.TEXT, v)
        if isinstance(v, int):
            return self.constant(Decimal(v), node)
        if isinstance(v, float):
            return self.constant(_decimal_literal(v), node)
        return self.error(ForbiddenConstruct, node, f"{type(v).__name__} literals are not allowed")

    def visit_Name(self, node: ast.Name) -> Typed:
        name = node.id
        if name.startswith("_"):
            return self.error(ForbiddenConstruct, node,
                              f"names starting with '_' are not allowed ('{name[:40]}')")
        info = self.ctx.fields.get(name)
        if info is None:
            if name in LIBRARY:
                return self.error(UnknownName, node,
                                  f"'{name}' is a function: call it as {name}(...)")
            if name in DANGEROUS:
                return self.error(ForbiddenConstruct, node,
                                  f"'{name}' is not available in expressions")
            return self.error(UnknownName, node, _unknown(name, self.ctx.fields))
        if info.type is T.FILE:
            self.out.field_types[name] = T.FILE
        var = self.out.fields.setdefault(name, f"V{len(self.out.fields)}")
        self.out.field_types[name] = info.type
        return Typed(ast.copy_location(ast.Name(var, ast.Load()), node), info.type)

    def visit_Attribute(self, node: ast.Attribute) -> Typed:
        parts: list[str] = []
        cur: ast.expr = node
        while isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name):
            return self.error(ForbiddenConstruct, node,
                              "attribute access is allowed only through lookup fields "
                              "('account.name')")
        parts.append(cur.id)
        parts.reverse()
        bad = next((p for p in parts if p.startswith("_")), None)
        if bad is not None:
            return self.error(ForbiddenConstruct, node,
                              f"names starting with '_' are not allowed ('{bad[:40]}')")
        fields = self.ctx.fields
        info: FieldInfo | None = None
        for i, part in enumerate(parts):
            info = fields.get(part)
            if info is None:
                where = "" if i == 0 else f" on '{'.'.join(parts[:i])}'"
                if i == 0 and part in DANGEROUS:
                    return self.error(ForbiddenConstruct, node,
                                      f"'{part}' is not available in expressions")
                return self.error(UnknownName, node, _unknown(part, fields) + where)
            if i == len(parts) - 1:
                break
            if not info.is_relation:
                return self.error(ForbiddenConstruct, node,
                                  f"'{part}' is not a lookup field: attribute access is "
                                  "allowed only through lookup and master-detail fields")
            if i + 1 > MAX_RELATION_DEPTH:
                return self.error(LimitExceeded, node,
                                  f"a path may cross at most {MAX_RELATION_DEPTH} relations")
            target = self.ctx.target_fields(str(info.target))
            if target is None:
                return self.error(UnknownName, node,
                                  f"the object '{info.target}' of '{part}' does not exist")
            fields = target
        assert info is not None
        if info.type is T.FILE:
            return self.error(ExpressionTypeError, node, "file fields of related records "
                              "cannot be read in expressions")
        read = RelationRead(tuple(parts[:-1]), parts[-1], info.type)
        var = self.out.relations.setdefault(read, f"R{len(self.out.relations)}")
        self.out.fields.setdefault(parts[0], f"V{len(self.out.fields)}")
        self.out.field_types.setdefault(parts[0], T.REFERENCE)
        return Typed(ast.copy_location(ast.Name(var, ast.Load()), node), info.type)

    # -- containers -------------------------------------------------------------------------
    def visit_List(self, node: ast.List | ast.Tuple) -> Typed:
        if len(node.elts) > MAX_LIST:
            return self.error(LimitExceeded, node, "the list literal is too long")
        items = [self.visit(e) for e in node.elts]
        for e, item in zip(node.elts, items, strict=True):
            if item.type in (T.LIST, T.FILE):
                self.error(ExpressionTypeError, e, "list items must be single values")
        if unify([i.type for i in items]) is None:
            self.error(ExpressionTypeError, node, "list items must all have one type")
        return Typed(self.call("O_make_list", [i.node for i in items], node), T.LIST)

    visit_Tuple = visit_List

    # -- calls ------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> Typed:
        if not isinstance(node.func, ast.Name):
            return self.error(ForbiddenConstruct, node.func,
                              "only library functions can be called (methods are not "
                              "available: use upper(x), not x.upper())")
        name = node.func.id
        if name.startswith("_"):
            return self.error(ForbiddenConstruct, node,
                              f"names starting with '_' are not allowed ('{name[:40]}')")
        spec = LIBRARY.get(name)
        if spec is None:
            if name in DANGEROUS:
                return self.error(ForbiddenConstruct, node,
                                  f"'{name}' is not available in expressions")
            return self.error(UnknownName, node, _unknown(name, LIBRARY, kind="function"))
        for a in node.args:
            if isinstance(a, ast.Starred):
                return self.error(ForbiddenConstruct, a, "'*' unpacking is not allowed")
        args: list[ast.expr] = list(node.args)
        if node.keywords:
            arranged = self.arrange_keywords(spec, node, args)
            if arranged is None:
                return Typed(ast.Constant(None), T.ANY)
            args = arranged
        n = len(args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            return self.error(ArityError, node, _arity_message(spec, n))
        typed = [self.visit(a) if a is not None else Typed(ast.Constant(None), T.NULL, None)
                 for a in args]
        self.check_arguments(spec, node, args, typed)
        result = spec.returns if isinstance(spec.returns, T) else spec.returns(
            [t.type for t in typed])
        if result is None:
            self.error(ExpressionTypeError, node,
                       f"the arguments of {name}() do not fit together: "
                       + ", ".join(str(t.type) for t in typed))
            result = T.ANY
        if name in ("if_blank", "is_blank") and typed[0].type in ONLY_NONE_BLANK:
            return Typed(self.inline_blank(name, typed, node), result)
        if name == "if_":  # lazy: only the chosen branch is evaluated
            other = typed[2].node if len(typed) > 2 else ast.Constant(None)
            out = ast.IfExp(typed[0].node, typed[1].node, other)
            return Typed(ast.copy_location(out, node), result)
        self.out.functions.add(name)
        return Typed(self.call("F_" + name, [t.node for t in typed], node), result)

    def inline_blank(self, name: str, typed: list[Typed], node: ast.AST) -> ast.expr:
        """``is_blank``/``if_blank`` of a value whose only blank is None, written out
        (``x is None``) so the commonest formula idiom costs no function call."""
        first, second, _ = self.operand(typed[0])
        test = ast.Compare(first, [ast.Is()], [ast.Constant(None)])
        out: ast.expr = test if name == "is_blank" else ast.IfExp(test, typed[1].node, second)
        return locate(out, node)

    def arrange_keywords(
        self, spec: FunctionSpec, node: ast.Call, args: list[ast.expr]
    ) -> list[ast.expr] | None:
        """Keywords become positional arguments; only documented parameter names work."""
        if spec.variadic is not None:
            self.error(ArityError, node, f"{spec.name}() takes no keyword arguments")
            return None
        names = [p.name for p in spec.params]
        slots: list[ast.expr | None] = [*args, *([None] * (len(names) - len(args)))]
        for kw in node.keywords:
            if kw.arg is None:
                self.error(ForbiddenConstruct, kw.value, "'**' unpacking is not allowed")
                return None
            if kw.arg not in names:
                self.error(ArityError, kw,
                           f"{spec.name}() has no parameter '{kw.arg[:40]}' "
                           f"(it takes {spec.signature()})")
                return None
            i = names.index(kw.arg)
            if i >= len(slots) or slots[i] is not None:
                self.error(ArityError, kw, f"{spec.name}() got '{kw.arg}' twice")
                return None
            slots[i] = kw.value
        while slots and slots[-1] is None:
            slots.pop()
        missing = [names[i] for i, s in enumerate(slots) if s is None
                   and not spec.params[i].optional]
        if missing:
            self.error(ArityError, node, f"{spec.name}() is missing '{missing[0]}'")
            return None
        return [s if s is not None else ast.Constant(None) for s in slots]

    def check_arguments(
        self, spec: FunctionSpec, node: ast.Call, args: list[ast.expr], typed: list[Typed]
    ) -> None:
        for i, (arg, t) in enumerate(zip(args, typed, strict=True)):
            param = spec.params[i] if i < len(spec.params) else spec.variadic
            assert param is not None
            if not accepts(param.types, t.type):
                self.error(ExpressionTypeError, arg,
                           f"argument '{param.name}' of {spec.name}() must be "
                           f"{describe(param.types)}, got {t.type}")
        if spec.name == "regex_match" and len(typed) == 2:
            # A constant pattern is compiled now, so the refusal comes when the expression
            # is saved, with the class and message it would have when run.
            problem = check_regex_constant(typed[1].const)
            if problem is not None:
                self.error(LimitExceeded if isinstance(problem, SizeLimitFailure)
                           else EvaluationError, args[1], str(problem))
        if spec.name in ("date", "datetime") and all(
                t.const is not NOT_CONSTANT for t in typed):
            try:
                spec.impl(*(t.const for t in typed))
            except Exception as exc:
                self.error(EvaluationError, node, str(exc))


def _decimal_literal(v: float) -> Decimal:
    try:
        return Decimal(repr(v))
    except InvalidOperation:  # pragma: no cover - repr of a float always parses
        return Decimal(0)


def _unknown(name: str, known: Any, kind: str = "field") -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"no {kind} named '{name[:40]}'{hint}"


def _arity_message(spec: FunctionSpec, n: int) -> str:
    if spec.max_args is None:
        want = f"at least {spec.min_args}"
    elif spec.min_args == spec.max_args:
        want = str(spec.min_args)
    else:
        want = f"{spec.min_args} to {spec.max_args}"
    return f"{spec.signature()} takes {want} argument{'s' if want != '1' else ''}, got {n}"

