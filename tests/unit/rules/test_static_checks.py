"""Save-time checks: positions, unknown names, arity, types, result types, cycles."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crmforge.core.errors import ValidationFailed
from crmforge.metadata.model import Snapshot
from crmforge.metadata.validation import prepare_object
from crmforge.rules import (
    ArityError,
    ExpressionContext,
    ExpressionError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    T,
    UnknownName,
    check_expression,
    check_object_expressions,
    compile_expression,
)

from .conftest import BOOTH, field


def first(ctx: ExpressionContext, source: str, expected: T | None = None) -> ExpressionError:
    errors = check_expression(source, ctx, expected)
    assert errors, source
    return errors[0]


@pytest.mark.parametrize(("source", "cls", "line", "column"), [
    ("area price", ExpressionSyntaxError, 1, 6),
    ("area * pricee", UnknownName, 1, 8),
    ("area *\n  upper(number) ", ExpressionTypeError, 1, 1),
    ("left(number)", ArityError, 1, 1),
    ("round(area, 2, 3)", ArityError, 1, 1),
    ("round(area, places=2)", ArityError, 1, 13),
    ("if_blank(area,\n  number)", ExpressionTypeError, 1, 1),
    ("left(number,\n     'x')", ExpressionTypeError, 2, 6),
    ("frobnicate(area)", UnknownName, 1, 1),
])
def test_errors_carry_line_and_column(booth_ctx: ExpressionContext, source: str, cls: type,
                                      line: int, column: int) -> None:
    error = first(booth_ctx, source)
    assert type(error) is cls
    assert (error.line, error.column) == (line, column)
    assert str(error).startswith(f"line {line}, column {column}: ")


def test_unknown_names_suggest_the_closest(booth_ctx: ExpressionContext) -> None:
    assert "did you mean 'price'" in first(booth_ctx, "pricee * 2").detail
    assert "did you mean 'upper'" in first(booth_ctx, "uper(number)").detail
    assert "is a function" in first(booth_ctx, "today > opens").detail


def test_all_errors_are_reported_sorted(booth_ctx: ExpressionContext) -> None:
    errors = check_expression("nope + upper(1) + left(number)", booth_ctx)
    assert [type(e) for e in errors] == [UnknownName, ExpressionTypeError, ArityError]
    assert [e.column for e in errors] == sorted(e.column for e in errors)


def test_keywords_follow_the_documented_names(booth_ctx: ExpressionContext) -> None:
    c = compile_expression("round(number=area, digits=1)", booth_ctx)
    assert str(c.evaluate({"area": "2.25"})) == "2.3"
    assert type(first(booth_ctx, "round(area, digits=1, digits=2)")) in (
        ArityError, ExpressionSyntaxError)
    assert type(first(booth_ctx, "sum(area, start=1)")) is ArityError
    assert type(first(booth_ctx, "round(digits=1)")) is ArityError


@pytest.mark.parametrize(("source", "expected", "ok"), [
    ("area * price", T.NUMBER, True), ("area * price", T.TEXT, False),
    ("number", T.BOOLEAN, False), ("paid and area > 1", T.BOOLEAN, True),
    ("None", T.DATE, True), ("opens", T.DATETIME, False),
])
def test_result_type(booth_ctx: ExpressionContext, source: str, expected: T, ok: bool) -> None:
    errors = check_expression(source, booth_ctx, expected)
    assert (errors == []) is ok
    if not ok:
        assert type(errors[0]) is ExpressionTypeError and "is expected" in errors[0].detail


def _booth(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BOOTH)
    for name, options in changes.items():
        for f in doc["fields"]:
            if f["name"] == name:
                f.update(options)
    return doc


def _paths(problems: list[tuple[str, str]]) -> dict[str, str]:
    return dict(problems)


def test_check_object_expressions_clean(snapshot: Snapshot) -> None:
    assert check_object_expressions(BOOTH, snapshot) == []


def test_check_object_expressions_reports_each_place(snapshot: Snapshot) -> None:
    doc = _booth(total={"expression": "area * 'x'"}, status={"default": "'sold'"},
                 notes={"visible_if": "number"}, seats={"default": "'three'"},
                 children={"filter": "nope > 1"})
    doc["validation_rules"] = [{"name": "r", "condition": "area >", "message": {"en": "m"}}]
    problems = _paths(check_object_expressions(doc, snapshot))
    index = {f["name"]: i for i, f in enumerate(doc["fields"])}
    assert "does not apply" in problems[f"$.fields[{index['total']}].expression"]
    assert "not one of the choices" in problems[f"$.fields[{index['status']}].default"]
    assert "a boolean is expected" in problems[f"$.fields[{index['notes']}].visible_if"]
    assert "a number is expected" in problems[f"$.fields[{index['seats']}].default"]
    assert "no field named 'nope'" in problems[f"$.fields[{index['children']}].filter"]
    assert "line 1, column" in problems["$.validation_rules[0].condition"]


def test_cycles_in_one_object(snapshot: Snapshot) -> None:
    doc = _booth(total={"expression": "if_(big, 1, 0) * price"})
    problems = _paths(check_object_expressions(doc, snapshot))
    index = {f["name"]: i for i, f in enumerate(doc["fields"])}
    for name in ("total", "big"):
        assert "cycle" in problems[f"$.fields[{index[name]}].expression"]


def test_cycles_across_objects(snapshot: Snapshot) -> None:
    booth = _booth(total={"expression": "value(account.label) * 1"})
    data = snapshot.mutable_data()
    for entry in data["objects"]:
        if entry["doc"]["name"] == "account":
            entry["doc"]["fields"].append(field("booth", "lookup", target="booth"))
            for f in entry["doc"]["fields"]:
                if f["name"] == "label":
                    f["expression"] = "text(booth.total)"
    snap = Snapshot.from_data(8, data)
    problems = _paths(check_object_expressions(booth, snap))
    index = {f["name"]: i for i, f in enumerate(booth["fields"])}
    message = problems[f"$.fields[{index['total']}].expression"]
    assert "cycle" in message and "account.label" in message


def test_save_runs_the_expression_checks(snapshot: Snapshot) -> None:
    doc = _booth(total={"expression": "area * nothing"})
    for f in doc["fields"]:
        f.pop("id")
    doc.pop("id")
    doc["name"] = "stand"
    with pytest.raises(ValidationFailed) as info:
        prepare_object(doc, snapshot)
    assert any("no field named 'nothing'" in m for ms in info.value.fields.values()
               for m in ms)


def test_save_does_not_report_a_syntax_error_twice(snapshot: Snapshot) -> None:
    doc = _booth(total={"expression": "area *"})
    for f in doc["fields"]:
        f.pop("id")
    doc.pop("id")
    doc["name"] = "stand"
    with pytest.raises(ValidationFailed) as info:
        prepare_object(doc, snapshot)
    index = next(i for i, f in enumerate(doc["fields"]) if f["name"] == "total")
    assert len(info.value.fields[f"$.fields[{index}].expression"]) == 1
