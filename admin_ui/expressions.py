"""The formula and rule editor's live answers (htmx): the compile check as you type, with
the line and column of each problem, and a preview of the value against a chosen record.

The check compiles with the rules layer against the object's current metadata; the preview
goes through ``RecordService.preview``, so it evaluates exactly as the record service will
and only over what the administrator may read.
"""

from __future__ import annotations

import re
from typing import Any

from flask import render_template, request

from crmforge.core.errors import CRMError, ValidationFailed
from crmforge.metadata.model import ObjectDef, Snapshot
from crmforge.rules import RESULT_TYPES, ExpressionContext, T, check_expression, compile_expression

from . import bp
from .base import admin, designer, object_or_404, records
from .forms import CONDITIONS

#: The "line 1, column 5: " an expression error's message starts with (shown apart).
_POSITION = re.compile(r"^line \d+, column \d+: ")
#: Inputs whose expression must give yes or no.
BOOLEAN_INPUTS = frozenset({*CONDITIONS, "condition", "filter"})


def _expected(key: str) -> T | None:
    """The result the input's expression must have (a formula's result type, else a
    condition's yes/no); None accepts anything."""
    if key in BOOLEAN_INPUTS:
        return T.BOOLEAN
    if key == "expression":
        return RESULT_TYPES.get(request.form.get("result_type", ""))
    return None


def _context_object(snap: Snapshot, obj: ObjectDef, key: str) -> ObjectDef:
    """A roll-up's filter reads the child object; everything else the object itself."""
    if key == "filter":
        child = snap.object(request.form.get("child", ""))
        if child is not None:
            return child
    return obj


def _source() -> tuple[str, str]:
    key = request.args.get("input", "expression")
    return key, request.form.get(key, "")


@bp.post("/objects/<name>/_check")
def check(name: str) -> str:
    snap = designer().snapshot()
    obj = object_or_404(snap, name)
    key, source = _source()
    result: dict[str, Any] = {"input": key, "empty": not source.strip(), "problems": []}
    if source.strip():
        context = ExpressionContext.for_object(_context_object(snap, obj, key), snap)
        expected = _expected(key)
        problems = check_expression(source, context, expected)
        result["problems"] = [{"line": p.line, "column": p.column, "message": p.detail}
                              for p in problems]
        if not problems:
            result["type"] = str(compile_expression(source, context, expected=expected)
                                 .result_type.value)
    return render_template("admin/_check.html", result=result)


@bp.post("/objects/<name>/_preview")
def preview(name: str) -> str:
    key, source = _source()
    raw = (request.form.get("preview_record") or "").strip()
    expected = _expected(key)
    body: dict[str, Any] = {"expression": source,
                            "record": int(raw) if raw.isdigit() else None,
                            "expected": expected.value if expected else None}
    result: dict[str, Any] = {"input": key, "record": body["record"]}
    try:
        result.update(records().preview(admin(), name, body))
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        message = next(iter(exc.fields.get("expression", [])), exc.message)
        result["error"] = {"message": _POSITION.sub("", message, count=1),
                           "line": details.get("line"), "column": details.get("column")}
    except CRMError as exc:
        result["error"] = {"message": exc.message}
    return render_template("admin/_preview.html", result=result)
