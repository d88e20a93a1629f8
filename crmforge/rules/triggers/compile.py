"""Compiling trigger scripts: our own AST pass, then RestrictedPython.

Our pass refuses what RestrictedPython would let through but a trigger has no use for
(imports, classes, ``global``, ``with``, bare ``except`` that could swallow a budget
error, shifts that build huge integers), and rewrites:

- ``*``, ``**``, ``/`` (also augmented) into bounded functions: no ``'a' * 10**10``, no
  ``9 ** 9 ** 9``, and ``/`` gives Decimal, never float;
- float literals into Decimal;
- every loop body to start with a tick that counts iterations against the budget.

Generated helper names start with ``sandbox_``; scripts may not use that prefix, so they
cannot shadow the tick.
"""

from __future__ import annotations

import ast
import functools
from types import CodeType

from RestrictedPython.compile import compile_restricted_exec

from ..parse import identifier_problems
from .host import TriggerRefused

MAX_SOURCE = 50_000
RESERVED = "sandbox_"
_REWRITE = {ast.Mult: "sandbox_mul", ast.Pow: "sandbox_pow", ast.Div: "sandbox_div"}
_REFUSED: dict[type, str] = {
    ast.Import: "import is not allowed",
    ast.ImportFrom: "import is not allowed",
    ast.ClassDef: "classes are not allowed",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.With: "with is not allowed",
    ast.AsyncFunctionDef: "async is not allowed",
    ast.Await: "await is not allowed",
    ast.JoinedStr: "f-strings are not allowed (use concat() or str())",
}


#: Builtins that are not offered; naming them is refused when the script is saved rather
#: than failing with a NameError when it runs.
UNAVAILABLE = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "vars",
    "dir", "globals", "locals", "type", "object", "super", "input", "breakpoint", "help",
    "memoryview", "bytearray", "bytes", "classmethod", "staticmethod", "property", "iter",
    "next", "id", "hash", "format", "repr", "exit", "quit", "issubclass", "callable",
})


class _Pass(ast.NodeTransformer):
    def __init__(self) -> None:
        self.errors: list[TriggerRefused] = []

    def refuse(self, node: ast.AST, message: str) -> ast.AST:
        self.errors.append(TriggerRefused(message, getattr(node, "lineno", 1),
                                          getattr(node, "col_offset", 0) + 1))
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        reason = _REFUSED.get(type(node))
        if reason is not None:
            return self.refuse(node, reason)
        for name in _names(node):
            if name.startswith(RESERVED):
                return self.refuse(node, f"names starting with '{RESERVED}' are reserved")
            if not name.isascii():
                return self.refuse(node, f"the name '{name[:40]}' is not plain ASCII")
            if name in UNAVAILABLE and isinstance(node, ast.Name):
                return self.refuse(node, f"'{name}' is not available in triggers")
        return super().generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.type is None or (isinstance(node.type, ast.Name)
                                 and node.type.id == "BaseException"):
            return self.refuse(node, "catch a specific exception (except ValueError:), "
                                     "not everything")
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            call = ast.Call(ast.Name("sandbox_decimal", ast.Load()),
                            [ast.Constant(repr(node.value))], [])
            return ast.copy_location(call, node)
        if isinstance(node.value, (bytes, complex)):
            return self.refuse(node, f"{type(node.value).__name__} literals are not allowed")
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.LShift, ast.RShift, ast.MatMult)):
            return self.refuse(node, "shift and @ operators are not allowed")
        helper = _REWRITE.get(type(node.op))
        if helper is None:
            return node
        call = ast.Call(ast.Name(helper, ast.Load()), [node.left, node.right], [])
        return ast.copy_location(call, node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.LShift, ast.RShift, ast.MatMult)):
            return self.refuse(node, "shift and @ operators are not allowed")
        helper = _REWRITE.get(type(node.op))
        if helper is None:
            return node
        if not isinstance(node.target, ast.Name):
            return self.refuse(node, "*=, **= and /= work on plain variables only")
        value = ast.Call(ast.Name(helper, ast.Load()),
                         [ast.Name(node.target.id, ast.Load()), node.value], [])
        assign = ast.Assign([ast.Name(node.target.id, ast.Store())], value)
        return ast.copy_location(assign, node)

    def _tick(self, node: ast.For | ast.While) -> ast.AST:
        self.generic_visit(node)
        tick = ast.Expr(ast.Call(ast.Name("sandbox_tick", ast.Load()), [], []))
        node.body.insert(0, ast.copy_location(tick, node))
        return node

    visit_For = _tick
    visit_While = _tick


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword) and node.arg:
        return [node.arg]
    return []


def check_trigger(source: str) -> list[TriggerRefused]:
    """Every problem that stops a trigger script from compiling (empty when it is fine)."""
    try:
        compile_trigger(source)
    except TriggerRefused as exc:
        return [exc, *getattr(exc, "others", [])]
    return []


@functools.lru_cache(maxsize=256)
def compile_trigger(source: str) -> CodeType:
    """The restricted code of a trigger script, or TriggerRefused for the first problem."""
    if not isinstance(source, str) or len(source) > MAX_SOURCE:
        raise TriggerRefused(f"a trigger is text of at most {MAX_SOURCE} characters")
    for problem in identifier_problems(source):  # NFKC folds look-alikes before the AST
        raise TriggerRefused(problem.detail, problem.line, problem.column)
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise TriggerRefused(f"syntax error: {exc.msg}", exc.lineno or 1,
                             exc.offset or 1) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise TriggerRefused(f"the script cannot be parsed: {type(exc).__name__}") from None
    checker = _Pass()
    try:
        tree = checker.visit(tree)
    except RecursionError:
        raise TriggerRefused("the script is nested too deeply") from None
    if checker.errors:
        first = checker.errors[0]
        first.others = checker.errors[1:]  # type: ignore[attr-defined]
        raise first
    ast.fix_missing_locations(tree)
    result = compile_restricted_exec(tree, filename="<trigger>")
    if result.errors or result.code is None:
        raise TriggerRefused("refused by the sandbox: " + "; ".join(result.errors)[:500])
    return result.code
