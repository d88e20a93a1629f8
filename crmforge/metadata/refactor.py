"""Renames that follow through expressions, so renaming a field keeps formulas working.

Names are replaced token by token (``tokenize``), which keeps the author's formatting and
never touches text inside string literals.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable
from typing import Any

EXPRESSION_KEYS = ("default", "visible_if", "required_if", "readonly_if", "expression", "filter")


def rename_name(expression: str, old: str, new: str, *, after: Iterable[str] = ()) -> str:
    """Replace the bare name ``old`` (or, with ``after``, ``<one of after>.old``) by ``new``."""
    after = set(after)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expression).readline))
    except (tokenize.TokenError, SyntaxError):
        return expression
    lines = expression.splitlines(keepends=True) or [""]
    edits: list[tuple[int, int, int]] = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME or tok.string != old:
            continue
        dotted = i >= 1 and tokens[i - 1].string == "."
        if after:
            ok = dotted and i >= 2 and tokens[i - 2].type == tokenize.NAME \
                and tokens[i - 2].string in after
        else:
            ok = not dotted
        if ok:
            edits.append((tok.start[0], tok.start[1], tok.end[1]))
    for row, start, end in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


def rename_field_everywhere(data: dict[str, Any], object_name: str, old: str, new: str) -> None:
    """Follow a field rename through the expressions of its object and of objects that reach
    it through a lookup or master-detail (``account.old`` becomes ``account.new``)."""
    for entry in data["objects"]:
        doc = entry["doc"]
        if doc["name"] == object_name:
            _rewrite_doc(doc, lambda e: rename_name(e, old, new))
            continue
        relations = {f["name"] for f in doc["fields"] if f.get("target") == object_name
                     and f.get("type") in ("lookup", "master_detail")}
        if relations:
            _rewrite_doc(doc, lambda e, r=relations: rename_name(e, old, new, after=r))


def _rewrite_doc(doc: dict[str, Any], change: Any) -> None:
    for f in doc["fields"]:
        for key in EXPRESSION_KEYS:
            if isinstance(f.get(key), str):
                f[key] = change(f[key])
    for rule in doc.get("validation_rules", []):
        if isinstance(rule.get("condition"), str):
            rule["condition"] = change(rule["condition"])
