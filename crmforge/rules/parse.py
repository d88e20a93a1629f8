"""First wall: turn source text into an ``ast`` tree, or refuse it before any analysis.

Refused here: sources longer than MAX_SOURCE, identifiers that are not plain ASCII (Python
folds look-alikes such as ``ｅｖａｌ`` to ``eval`` by NFKC; refusing them keeps what an
admin reads equal to what runs), syntax errors, and trees nested deeper than MAX_DEPTH
(the analysis is recursive; a 10,000-level expression must fail fast, not overflow).
"""

from __future__ import annotations

import ast
import io
import tokenize

from .errors import ExpressionError, ExpressionSyntaxError, ForbiddenConstruct, LimitExceeded

MAX_SOURCE = 10_000
MAX_DEPTH = 60


def parse(source: object) -> tuple[ast.Expression | None, list[ExpressionError]]:
    """The parsed tree, or None and the reasons it was refused."""
    if not isinstance(source, str):
        return None, [ExpressionSyntaxError("an expression must be text")]
    if len(source) > MAX_SOURCE:
        return None, [LimitExceeded(f"an expression is limited to {MAX_SOURCE} characters")]
    if not source.strip():
        return None, [ExpressionSyntaxError("the expression is empty")]
    errors = identifier_problems(source)
    if errors:
        return None, errors
    try:
        tree = _parse(source)
    except SyntaxError as exc:
        msg = exc.msg
        line, col = exc.lineno or 1, exc.offset or 1
        if "nested" in msg or "too many" in msg:
            return None, [LimitExceeded(f"the expression is nested too deeply ({msg})", line, col)]
        return None, [ExpressionSyntaxError(msg, line, col)]
    except (RecursionError, MemoryError):
        return None, [LimitExceeded("the expression is nested too deeply")]
    except ValueError as exc:  # e.g. NUL characters, integers with too many digits
        return None, [ExpressionSyntaxError(str(exc))]
    depth_error = _too_deep(tree)
    if depth_error is not None:
        return None, [depth_error]
    return tree, []


def identifier_problems(source: str) -> list[ExpressionError]:
    if source.isascii():
        return []
    out: list[ExpressionError] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME and not tok.string.isascii():
                out.append(ForbiddenConstruct(
                    f"the name '{tok.string[:40]}' is not plain ASCII: field and function "
                    "names use a-z, 0-9 and '_' only (look-alike letters are refused)",
                    tok.start[0], tok.start[1] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # the parser reports it
    return out


def _parse(source: str) -> ast.Expression:
    """Parse in eval mode. An expression spanning lines is parsed inside brackets (so
    admins need not write them), but only when its own brackets balance: ``a) or (b``
    must not change meaning by the wrapping."""
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as first:
        if "\n" not in source.strip() or not _balanced(source):
            raise
        try:
            tree = ast.parse("(" + source + "\n)", mode="eval")
        except SyntaxError:
            raise first from None
    for node in ast.walk(tree):  # undo the bracket's column on line 1
        if getattr(node, "lineno", None) == 1:
            node.col_offset -= 1  # type: ignore[attr-defined]
        if getattr(node, "end_lineno", None) == 1:
            node.end_col_offset -= 1  # type: ignore[attr-defined]
    return tree


def _balanced(source: str) -> bool:
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
                if depth < 0:
                    return False
    except (tokenize.TokenError, SyntaxError):
        return depth >= 0
    return depth == 0


def _too_deep(tree: ast.AST) -> LimitExceeded | None:
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return LimitExceeded(
                f"the expression is nested more than {MAX_DEPTH} levels deep",
                getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None
