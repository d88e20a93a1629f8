"""Operator rules of the translator: the type of each operator for each operand type, and
the bounded function that implements it. Constant operands are folded at compile time, so
``9 ** 9 ** 9`` is refused when it is saved, not when a record is written."""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any

from .errors import ExpressionError, ExpressionTypeError, ForbiddenConstruct, LimitExceeded
from .library import ops
from .library.base import LibraryFailure, SizeLimitFailure
from .types import ORDERED, T, unify

NOT_CONSTANT = object()
LOOSE = frozenset({T.ANY, T.NULL})
DATES = frozenset({T.DATE, T.DATETIME})
#: Types whose values compare with plain ``==`` safely (C comparisons without hooks).
DIRECT_EQ = frozenset({T.NUMBER, T.TEXT, T.BOOLEAN, T.DATE, T.DATETIME, T.REFERENCE})

_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
}
_GENERIC = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
    ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "power",
}
_NUMERIC = {ast.Add: "num_add", ast.Sub: "num_sub", ast.Mult: "num_mul", ast.Div: "num_div",
            ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "power"}
_ORDER = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_ORDER_OPS: dict[type, type[ast.cmpop]] = {
    ast.Lt: ast.Lt, ast.LtE: ast.LtE, ast.Gt: ast.Gt, ast.GtE: ast.GtE}
#: Number operators inlined as ``None if a is None or b is None else C_mul(a, b)``: the
#: C_* functions are the fixed Decimal context's methods (C code, precision-bounded, and
#: they accept only Decimal and int), so the bound holds without a Python call per operator.
INLINE: dict[type, str] = {ast.Add: "C_add", ast.Sub: "C_sub", ast.Mult: "C_mul", ast.Div: "C_div"}


@dataclass
class Typed:
    node: ast.expr
    type: T
    const: Any = NOT_CONSTANT


def locate(new: ast.expr, node: ast.AST) -> ast.expr:
    """Give generated nodes the position of ``node``; operands keep their own, so a
    runtime error points at the call that failed, not at the whole operator."""
    for n in ast.walk(new):
        if "lineno" in n._attributes and not hasattr(n, "lineno"):
            ast.copy_location(n, node)
    return new


def at(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1


def arithmetic_type(op: type, lt: T, rt: T) -> T | None:
    """The result type of ``lt op rt``, or None when the operator does not apply."""
    if lt in LOOSE or rt in LOOSE:
        if op in (ast.Add, ast.Sub):
            known = rt if lt in LOOSE else lt
            return known if known in (T.NUMBER, T.TEXT, T.LIST, *DATES, *LOOSE) else None
        return T.NUMBER if {lt, rt} <= LOOSE | {T.NUMBER} else None
    if lt is T.NUMBER and rt is T.NUMBER:
        return T.NUMBER
    if op is ast.Add:
        if lt == rt and lt in (T.TEXT, T.LIST):
            return lt
        if lt in DATES and rt is T.NUMBER:
            return lt
        if rt in DATES and lt is T.NUMBER:
            return rt
    if op is ast.Sub:
        if lt in DATES and lt == rt:
            return T.NUMBER
        if lt in DATES and rt is T.NUMBER:
            return lt
    return None


class OperatorRules:
    """Mixed into the Translator: visit methods for operators and conditionals."""

    def visit(self, node: ast.AST) -> Typed:  # pragma: no cover - provided by Translator
        raise NotImplementedError

    def error(self, cls: type[ExpressionError], node: ast.AST, message: str) -> Typed:
        raise NotImplementedError  # pragma: no cover

    def call(self, name: str, args: list[ast.expr], at: ast.AST) -> ast.expr:
        raise NotImplementedError  # pragma: no cover

    def constant(self, value: Any, at: ast.AST) -> Typed:
        raise NotImplementedError  # pragma: no cover

    def temp(self) -> str:
        raise NotImplementedError  # pragma: no cover

    def operand(self, t: Typed) -> tuple[ast.expr, ast.expr, bool]:
        """(first use, second use, may be None) of an operand used twice in inlined code;
        anything but a name or constant is evaluated once into a temporary."""
        if t.const is not NOT_CONSTANT:
            return t.node, copy.deepcopy(t.node), t.const is None
        if isinstance(t.node, ast.Name):
            return t.node, copy.deepcopy(t.node), True
        name = self.temp()
        first = ast.NamedExpr(ast.Name(name, ast.Store()), t.node)
        return first, ast.Name(name, ast.Load()), True

    def inline(self, op: type, left: Typed, right: Typed, node: ast.AST) -> ast.expr:
        """Number operator with its None rule written out (see INLINE)."""
        a1, a2, a_null = self.operand(left)
        b1, b2, b_null = self.operand(right)
        a_val, b_val = (a2 if a_null else a1), (b2 if b_null else b1)
        nullable = [x for x, flag in ((a1, a_null), (b1, b_null)) if flag]
        out: ast.expr
        if op in _ORDER_OPS:
            value: ast.expr = ast.Compare(a_val, [_ORDER_OPS[op]()], [b_val])
            checks: list[ast.expr] = [
                ast.Compare(x, [ast.IsNot()], [ast.Constant(None)]) for x in nullable]
            out = ast.BoolOp(ast.And(), [*checks, value]) if checks else value
        else:
            value = ast.Call(ast.Name(INLINE[op], ast.Load()), [a_val, b_val], [])
            tests: list[ast.expr] = [
                ast.Compare(x, [ast.Is()], [ast.Constant(None)]) for x in nullable]
            if op is ast.Div:  # division by zero is None
                tests.append(ast.UnaryOp(ast.Not(), copy.deepcopy(b_val)))
            if not tests:
                out = value
            else:
                test = tests[0] if len(tests) == 1 else ast.BoolOp(ast.Or(), tests)
                out = ast.IfExp(test, ast.Constant(None), value)
        return locate(out, node)

    def fold(self, fn: Any, node: ast.AST, *operands: Typed) -> Typed | None:
        """Evaluate an operator on constant numbers now; None when not all are constant."""
        if any(o.const is NOT_CONSTANT or o.type is not T.NUMBER for o in operands):
            return None
        try:
            value = fn(*(o.const for o in operands))
        except SizeLimitFailure as exc:
            return self.error(LimitExceeded, node, str(exc))
        except (LibraryFailure, ArithmeticError) as exc:
            return self.error(ExpressionTypeError, node, str(exc) or type(exc).__name__)
        if value is None:
            return Typed(ast.copy_location(ast.Constant(None), node), T.NUMBER, None)
        return self.constant(value, node)

    def visit_BinOp(self, node: ast.BinOp) -> Typed:
        op = type(node.op)
        if op not in _GENERIC:
            return self.error(ForbiddenConstruct, node,
                              f"the operator '{_SYMBOL.get(op, op.__name__)}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        result = arithmetic_type(op, left.type, right.type)
        if result is None:
            hint = " (use rept() to repeat text)" if op is ast.Mult else ""
            return self.error(ExpressionTypeError, node,
                              f"'{_SYMBOL[op]}' does not apply to {left.type} and "
                              f"{right.type}{hint}")
        numeric = left.type is T.NUMBER and right.type is T.NUMBER
        helper = _NUMERIC[op] if numeric else _GENERIC[op]
        folded = self.fold(ops.OPERATOR_FUNCTIONS[helper], node, left, right)
        if folded is not None:
            return folded
        if numeric and op in INLINE:
            return Typed(self.inline(op, left, right, node), result)
        return Typed(self.call("O_" + helper, [left.node, right.node], node), result)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Typed:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            self.need_boolean(operand, node.operand, "'not'")
            out = ast.copy_location(ast.UnaryOp(ast.Not(), operand.node), node)
            return Typed(out, T.BOOLEAN)
        if isinstance(node.op, ast.Invert):
            return self.error(ForbiddenConstruct, node, "the operator '~' is not allowed")
        name = "neg" if isinstance(node.op, ast.USub) else "pos"
        if operand.type not in (T.NUMBER, *LOOSE):
            return self.error(ExpressionTypeError, node, f"a sign needs a number, got "
                              f"{operand.type}")
        folded = self.fold(ops.OPERATOR_FUNCTIONS[name], node, operand)
        if folded is not None:
            return folded
        return Typed(self.call("O_" + name, [operand.node], node), T.NUMBER)

    def need_boolean(self, value: Typed, node: ast.AST, what: str) -> None:
        if value.type not in (T.BOOLEAN, *LOOSE):
            self.error(ExpressionTypeError, node,
                       f"{what} needs a boolean, got {value.type} (compare it, e.g. x > 0, "
                       "or test it with is_blank())")

    def visit_BoolOp(self, node: ast.BoolOp) -> Typed:
        word = "'and'" if isinstance(node.op, ast.And) else "'or'"
        values = [self.visit(v) for v in node.values]
        for v, raw in zip(values, node.values, strict=True):
            self.need_boolean(v, raw, word)
        out = ast.BoolOp(type(node.op)(), [v.node for v in values])
        return Typed(ast.copy_location(out, node), T.BOOLEAN)

    def visit_IfExp(self, node: ast.IfExp) -> Typed:
        test, body, orelse = self.visit(node.test), self.visit(node.body), self.visit(node.orelse)
        self.need_boolean(test, node.test, "the condition of 'x if condition else y'")
        result = unify([body.type, orelse.type])
        if result is None:
            self.error(ExpressionTypeError, node, f"both branches must have one type, got "
                       f"{body.type} and {orelse.type}")
            result = T.ANY
        out = ast.IfExp(test.node, body.node, orelse.node)
        return Typed(ast.copy_location(out, node), result)

    def visit_Compare(self, node: ast.Compare) -> Typed:
        parts: list[ast.expr] = []
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comp)
            parts.append(self.compare(op, left, right, node))
            left = Typed(copy.deepcopy(right.node), right.type, right.const)
        if len(parts) == 1:
            return Typed(parts[0], T.BOOLEAN)
        return Typed(ast.copy_location(ast.BoolOp(ast.And(), parts), node), T.BOOLEAN)

    def compare(self, op: ast.cmpop, a: Typed, b: Typed, node: ast.AST) -> ast.expr:
        kind = type(op)
        if kind in (ast.Is, ast.IsNot):
            if not (b.type is T.NULL or a.type is T.NULL):
                return self.error(ForbiddenConstruct, node,
                                  "'is' compares only with None; use == for values").node
            kind = ast.Eq if kind is ast.Is else ast.NotEq
        if kind in (ast.Eq, ast.NotEq):
            if unify([a.type, b.type]) is None:
                return self.error(ExpressionTypeError, node,
                                  f"cannot compare {a.type} with {b.type}").node
            if T.NULL in (a.type, b.type):
                value, _ = (a, b) if b.type is T.NULL else (b, a)
                cmp: ast.cmpop = ast.Is() if kind is ast.Eq else ast.IsNot()
                return self.native(value.node, cmp, ast.Constant(None), node)
            if a.type == b.type and a.type in DIRECT_EQ:
                return self.native(a.node, op if kind is type(op) else kind(), b.node, node)
            name = "O_eq" if kind is ast.Eq else "O_ne"
            return self.call(name, [a.node, b.node], node)
        if kind in _ORDER:
            t = unify([a.type, b.type])
            if t is None or (t not in ORDERED and t not in LOOSE):
                return self.error(ExpressionTypeError, node,
                                  f"cannot order {a.type} and {b.type}").node
            if a.type is T.NUMBER and b.type is T.NUMBER:
                return self.inline(kind, a, b, node)
            return self.call("O_" + _ORDER[kind], [a.node, b.node], node)
        if kind in (ast.In, ast.NotIn):
            if b.type not in (T.LIST, *LOOSE):
                return self.error(ExpressionTypeError, node,
                                  f"'in' needs a list on its right, got {b.type}").node
            if a.type in (T.LIST, T.FILE):
                return self.error(ExpressionTypeError, node,
                                  f"'in' looks for a single value, got {a.type}").node
            name = "O_member" if kind is ast.In else "O_not_member"
            return self.call(name, [a.node, b.node], node)
        return self.error(ForbiddenConstruct, node, "this comparison is not allowed").node

    @staticmethod
    def native(left: ast.expr, op: ast.cmpop, right: ast.expr, at: ast.AST) -> ast.expr:
        return ast.copy_location(ast.Compare(left, [op], [right]), at)
