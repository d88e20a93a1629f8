"""Every message a service can raise, read from the source with ``ast``.

Found where an error of the ``CRMError`` family (or a field type's ``ConversionError``) is
built (its ``message`` argument, wherever its constructor takes it), where the web layer
writes an envelope or the sign-in page itself, and in the ``fields`` of those errors; and
the refusals metadata validation collects per JSON path, which the designer shows beside its
inputs and the API in a 422's ``fields``, and a record's field errors: ``problems.add(path,
message)`` (the message is the last argument), ``problems[path] = message``, ``errors[field]
= [message]``, ``errors.setdefault(field, []).append(message)``, the ``(option, message)`` pairs of a
``*_problems`` function (a field type's ``option_problems``), the returns of a ``*_problem``
function (``name_problem``) and of ``HELPERS``, and a pattern RE2 refuses
(``PatternRefused``). A message a helper of the same module builds
(``PatternRefused(_reason(exc))``) is read from the helper's returns, one looked up in a
module's table from each of its values.

A message is a sample text: each variable part written ``x`` (``'x'`` for a ``!r``), each
branch of a conditional expression on its own, module constants resolved. A message passed
on from elsewhere (a variable, ``exc.message``) was checked where it was written, so it is
left out. JSON Schema's own messages (``problems.add(error.json_path, error.message)``) are
such: the library writes them, the common forms have templates ("... is a required
property", "... is not of type ..."), the others stay English.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "crmforge", ROOT / "admin_ui")
BASES = frozenset({"CRMError", "ConversionError"})
#: Errors outside the family whose message an administrator reads as it is: a field's
#: ``pattern`` option refused by RE2 (the designer shows ``str(exc)`` beside the option).
SHOWN_ERRORS = frozenset({"PatternRefused"})
#: Where refusals are collected per JSON path or field: ``problems.add(path, message)`` (the
#: installer's ``add(file, path, message)``: the message is the last positional argument),
#: ``problems[path] = message``, ``errors[field] = [message, ...]``,
#: ``errors.setdefault(field, []).append(message)`` (a record's field errors).
COLLECTORS = frozenset({"problems", "errors"})
#: Functions whose returned text is a refusal collected per path: each ``return`` of a
#: ``*_problem`` (``name_problem``) and ``related_update``; the ``(option, message)`` pairs
#: a ``*_problems`` function returns or appends (a field type's ``option_problems``).
HELPERS = frozenset({"related_update"})
HOLE = "x"


@dataclass(frozen=True)
class Found:
    where: str
    sample: str


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def trees() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8")))
            for src in SOURCES for p in sorted(src.rglob("*.py"))]


def family(parsed: list[tuple[Path, ast.Module]]) -> frozenset[str]:
    """The error classes: the bases and every class deriving from one, transitively."""
    names = set(BASES) | {"BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                          "PayloadTooLarge", "ValidationFailed", "RateLimited", "Unavailable"}
    classes = [n for _, t in parsed for n in ast.walk(t) if isinstance(n, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if c.name not in names
                and any(_name(b) in names for b in c.bases)}
        if not more:
            return frozenset(names)
        names |= more


#: Where a class takes its message and its field messages: (position, position or None).
Positions = dict[str, tuple[int, int | None]]


def positions(parsed: list[tuple[Path, ast.Module]], errors: frozenset[str]) -> Positions:
    """The argument positions of ``message`` and ``fields`` in each error class's
    constructor (``LoginRefused(reason, message)``), inherited where a class has none."""
    own: dict[str, tuple[int, int | None]] = {}
    bases: dict[str, list[str]] = {}
    for _, tree in parsed:
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or node.name not in errors:
                continue
            bases[node.name] = [n for b in node.bases if (n := _name(b))]
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    names = [a.arg for a in item.args.args[1:]]
                    if "message" in names:
                        own[node.name] = (names.index("message"), names.index("fields")
                                          if "fields" in names else None)

    def of(name: str, depth: int = 0) -> tuple[int, int | None]:
        if name in own or depth > 10:
            return own.get(name, (0, 1))
        for base in bases.get(name, []):
            if base in errors:
                return of(base, depth + 1)
        return (0, 1)
    return {name: of(name) for name in errors}


#: Calls other than an error's constructor that show a message: the argument positions of
#: the message and the field messages.
WRITERS: dict[str, tuple[int, int | None]] = {"envelope": (2, 3), "render_login": (0, None)}


def _percent(text: str) -> str:
    return re.sub(r"%(\(\w+\))?[-#0 +]*\d*(\.\d+)?[sdrif]", HOLE, text)


def _returns(fn: ast.FunctionDef) -> list[ast.expr]:
    """The expressions ``fn`` returns (not those of functions nested in it)."""
    out: list[ast.expr] = []
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Return) and node.value is not None:
            out.append(node.value)
        todo.extend(ast.iter_child_nodes(node))
    return out


class _Samples:
    def __init__(self, constants: dict[str, ast.expr],
                 functions: dict[str, ast.FunctionDef] | None = None) -> None:
        self.constants = constants
        self.functions = functions or {}

    def of(self, node: ast.expr, depth: int = 0) -> list[str] | None:
        """Sample texts of a message expression, or None when it is passed on."""
        if depth > 5:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            out = [""]
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out = [o + str(part.value) for o in out]
                elif isinstance(part, ast.FormattedValue):
                    hole = f"'{HOLE}'" if part.conversion == ord("r") else HOLE
                    inner = self.of(part.value, depth + 1) \
                        if isinstance(part.value, ast.IfExp) else None
                    out = [o + (i or hole) for o in out for i in (inner or [hole])]
            return out
        if isinstance(node, ast.IfExp):
            a, b = self.of(node.body, depth + 1), self.of(node.orelse, depth + 1)
            return (a or [HOLE]) + (b or [HOLE]) if (a or b) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            a, b = self.of(node.left, depth + 1), self.of(node.right, depth + 1)
            if a is None and b is None:
                return None
            return [x + y for x in (a or [HOLE]) for y in (b or [HOLE])]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self.of(node.left, depth + 1)
            return [_percent(t) for t in left] if left else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "format":
            base = self.of(node.func.value, depth + 1)
            return [re.sub(r"\{[^}]*\}", HOLE, t) for t in base] if base else None
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.of(self.constants[node.id], depth + 1)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            return self.of(node.value, depth + 1)  # a message cut to a length
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and isinstance(self.constants.get(node.value.id), ast.Dict):
            # a message looked up in a module's table: any of its values
            table = self.constants[node.value.id]
            assert isinstance(table, ast.Dict)
            out = [t for v in table.values for t in self.of(v, depth + 1) or []]
            return out or None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in self.functions:
            # a message a helper of the module writes: what each of its returns writes
            found = [t for r in _returns(self.functions[node.func.id])
                     for t in self.of(r, depth + 1) or []]
            return found or None
        return None


def _constants(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and node.value is not None:
            out[node.target.id] = node.value
    return out


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _collected(tree: ast.Module) -> Iterator[ast.expr]:
    """The refusals metadata validation collects per JSON path (``problems.add``,
    ``problems[path] = ...``) and those its helpers return (``HELPERS``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "add" and _name(node.func.value) in COLLECTORS \
                and len(node.args) >= 2:
            yield node.args[-1]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("append", "extend") and node.args \
                and isinstance(node.func.value, ast.Call) \
                and isinstance(node.func.value.func, ast.Attribute) \
                and node.func.value.func.attr == "setdefault" \
                and _name(node.func.value.func.value) in COLLECTORS:
            arg = node.args[0]
            if node.func.attr == "append":
                yield arg
            elif isinstance(arg, (ast.List, ast.Tuple)):
                yield from arg.elts
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Subscript) and _name(t.value) in COLLECTORS
                for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                yield from node.value.elts
            else:
                yield node.value
        elif isinstance(node, ast.FunctionDef) and (
                node.name.endswith("_problem") or node.name in HELPERS):
            yield from _returns(node)
        elif isinstance(node, ast.FunctionDef) and node.name.endswith("_problems"):
            yield from _pairs(node)


def _pairs(fn: ast.FunctionDef) -> Iterator[ast.expr]:
    """The messages of the ``(option, message)`` pairs a function returns or appends."""
    for node in ast.walk(fn):
        lists: list[ast.expr] = []
        if isinstance(node, ast.Return) and node.value is not None:
            lists.append(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "append" and node.args:
            lists.append(ast.List(elts=[node.args[0]]))
        for expr in lists:
            if isinstance(expr, ast.List):
                for pair in expr.elts:
                    if isinstance(pair, ast.Tuple) and len(pair.elts) == 2:
                        yield pair.elts[1]


def _field_messages(node: ast.expr) -> Iterator[ast.expr]:
    if isinstance(node, ast.Dict):
        for value in node.values:
            if isinstance(value, (ast.List, ast.Tuple)):
                yield from value.elts


def messages() -> list[Found]:
    """Every message sample of the source, with where it is written."""
    parsed = trees()
    errors = family(parsed)
    where = positions(parsed, errors)
    found: list[Found] = []
    for path, tree in parsed:
        samples = _Samples(_constants(tree), _functions(tree))
        rel = path.relative_to(ROOT)
        for expr in _collected(tree):
            for sample in samples.of(expr) or []:
                found.append(Found(f"{rel}:{expr.lineno}", sample))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name is None or (name not in errors and name not in WRITERS
                                and name not in SHOWN_ERRORS):
                continue
            at, fields_at = where[name] if name in errors else WRITERS.get(name, (0, None))
            exprs: list[ast.expr] = node.args[at:at + 1] + \
                [k.value for k in node.keywords if k.arg == "message"]
            fields = [k.value for k in node.keywords if k.arg == "fields"]
            if fields_at is not None:
                fields += node.args[fields_at:fields_at + 1]
            for f in fields:
                exprs += list(_field_messages(f))
            for expr in exprs:
                for sample in samples.of(expr) or []:
                    found.append(Found(f"{rel}:{expr.lineno}", sample))
    return found
