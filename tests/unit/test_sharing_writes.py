"""Kept answers about readers' share and temporary branches (security/branches.py) are
right only while every change that can put a reader into a branch raises the sharing
version. These tests find every such change in the code: a new writer of the share or
temporary-access tables, or of the department tree, outside the functions that raise it
fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import crmforge

ROOT = Path(crmforge.__file__).parent
#: Tables whose new rows can widen what a reader reaches, and the writes that can.
WIDENING = {"shares": ("insert", "update"), "temporary_access": ("insert", "update"),
            "department_closure": ("insert",)}


def _writes(tree: ast.AST) -> list[tuple[ast.FunctionDef, str, str]]:
    """(function, table, verb) of every ``table.insert()``-style call, per function."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        # Short local names for a table (``c = department_closure``) count as the table.
        names = {t: t for t in WIDENING}
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) \
                    and node.value.id in WIDENING:
                names.update({t.id: node.value.id for t in node.targets
                              if isinstance(t, ast.Name)})
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id in names \
                    and node.func.attr in ("insert", "update", "delete"):
                found.append((fn, names[node.func.value.id], node.func.attr))
    return found


def _calls(fn: ast.FunctionDef, name: str) -> bool:
    return any(isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Name) and n.func.id == name)
        or (isinstance(n.func, ast.Attribute) and n.func.attr == name)) for n in ast.walk(fn))


def _all_writes() -> list[tuple[Path, ast.FunctionDef, str, str]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out += [(path, fn, table, verb) for fn, table, verb in _writes(tree)]
    return out


def test_every_widening_write_raises_the_sharing_version() -> None:
    writes = _all_writes()
    widening = [(p, fn, t, v) for p, fn, t, v in writes if v in WIDENING[t]]
    # The scan must find the writers it is about, or it proves nothing.
    names = {(p.name, fn.name) for p, fn, _, _ in widening}
    assert {("sharing.py", "add_share"), ("sharing.py", "grant_temporary_access"),
            ("org.py", "_move")} <= names, names
    unguarded = sorted(f"{p.relative_to(ROOT)}:{fn.lineno} {fn.name} ({t}.{v})"
                       for p, fn, t, v in widening
                       if not _calls(fn, "sharing_widened"))
    assert unguarded == [], unguarded


def test_writers_stay_in_the_security_layer() -> None:
    """The share, temporary-access and department tables are written by security/ only
    (the workflow and the record service call its functions)."""
    outside = sorted({str(p.relative_to(ROOT)) for p, _, _, _ in _all_writes()
                      if p.parent.name != "security"})
    assert outside == [], outside

