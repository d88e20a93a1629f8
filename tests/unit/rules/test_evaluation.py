"""Evaluation: relations through the resolver, caching, defaults, operators' None rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crmforge.metadata.model import Snapshot
from crmforge.rules import (
    EvaluationError,
    ExpressionContext,
    ForbiddenConstruct,
    LimitExceeded,
    T,
    UnknownName,
    UnsupportedExpression,
    compile_expression,
    evaluate_default,
    is_constant_default,
)


class Resolver:
    def __init__(self, data: dict[tuple[str, str], Any]) -> None:
        self.data = data
        self.calls: list[tuple[str, str]] = []

    def __call__(self, path: str, field: str) -> Any:
        self.calls.append((path, field))
        return self.data[(path, field)]


def test_relation_reads_go_through_the_resolver(booth_ctx: ExpressionContext) -> None:
    c = compile_expression("concat(account.name, ' / ', account.region.title, ' / ', "
                           "account.region.parent.title)", booth_ctx)
    resolve = Resolver({("account", "name"): "ACME", ("account.region", "title"): "North",
                        ("account.region.parent", "title"): "China"})
    assert c.evaluate({"account": 3}, resolve) == "ACME / North / China"
    assert [p for p, _ in c.relations and resolve.calls] == [
        "account", "account.region", "account.region.parent"]
    assert c.fields == {"account"}


def test_relation_values_are_converted(booth_ctx: ExpressionContext) -> None:
    c = compile_expression("account.credit * 2", booth_ctx)
    assert c.evaluate({"account": 1}, lambda p, f: 2.5) == Decimal("5.0")


def test_no_resolver_call_when_the_relation_is_empty(booth_ctx: ExpressionContext) -> None:
    resolve = Resolver({})
    c = compile_expression("if_blank(account.name, 'none')", booth_ctx)
    assert c.evaluate({"account": None}, resolve) == "none"
    assert resolve.calls == []


def test_missing_or_failing_resolver_is_a_clear_error(booth_ctx: ExpressionContext) -> None:
    c = compile_expression("account.name", booth_ctx)
    with pytest.raises(EvaluationError, match="no resolver"):
        c.evaluate({"account": 1})

    def broken(path: str, field: str) -> Any:
        raise RuntimeError("database down")

    with pytest.raises(EvaluationError, match="database down"):
        c.evaluate({"account": 1}, broken)


@pytest.mark.parametrize(("source", "error", "text"), [
    ("number.length", ForbiddenConstruct, "not a lookup field"),
    ("account.nope", UnknownName, "no field named 'nope' on 'account'"),
    ("account.region.parent.parent.title", LimitExceeded, "at most 3 relations"),
    ("upper(number).lower", ForbiddenConstruct, "only through lookup"),
    ("account.__class__", ForbiddenConstruct, "starting with '_'"),
])
def test_relation_paths_are_checked(booth_ctx: ExpressionContext, source: str, error: type,
                                    text: str) -> None:
    with pytest.raises(error) as info:
        compile_expression(source, booth_ctx)
    assert text in info.value.detail


def test_compiled_expressions_are_cached(snapshot: Snapshot) -> None:
    obj = snapshot.object("booth")
    assert obj is not None
    a = compile_expression("area * 2", ExpressionContext.for_object(obj, snapshot))
    b = compile_expression("area * 2", ExpressionContext.for_object(obj, snapshot))
    assert a is b
    other = ExpressionContext.from_types({"area": T.NUMBER})
    assert compile_expression("area * 2", other) is not a


def test_context_signature_follows_types() -> None:
    a = ExpressionContext.from_types({"x": T.NUMBER})
    b = ExpressionContext.from_types({"x": T.TEXT})
    assert a != b and a == ExpressionContext.from_types({"x": T.NUMBER})
    assert compile_expression("x", a).result_type is T.NUMBER
    assert compile_expression("x", b).result_type is T.TEXT


@pytest.mark.parametrize(("source", "values", "expected"), [
    ("1 < n < 5", {"n": Decimal(3)}, True), ("1 < n < 5", {"n": Decimal(7)}, False),
    ("s in ['a', 'b']", {"s": "b"}, True), ("s not in ('a', 'b')", {"s": "c"}, True),
    ("s not in ['a']", {}, False), ("n is None", {}, True), ("n is not None", {}, False),
    ("-(-n)", {"n": Decimal(2)}, Decimal(2)), ("+n", {"n": Decimal(2)}, Decimal(2)),
    ("n == 2.0", {"n": Decimal(2)}, True), ("s == None or s == ''", {"s": ""}, True),
    ("ts - ts", {"ts": dt.datetime(2024, 1, 1)}, Decimal("0.0000")),
    ("ts + 1", {"ts": dt.datetime(2024, 1, 1)}, dt.datetime(2024, 1, 2)),
    ("['a'] + tags", {"tags": ["b"]}, ["a", "b"]),
    ("(n * 2\n + 1)", {"n": Decimal(1)}, Decimal(3)),
    ("n +\n 1", {"n": Decimal(1)}, Decimal(2)),
    ("2 ** 10 / 4", {}, Decimal(256)), ("10 / 4", {}, Decimal("2.5")),
])
def test_operators(source: str, values: dict[str, Any], expected: Any) -> None:
    ctx = ExpressionContext.from_types({"n": T.NUMBER, "s": T.TEXT, "ts": T.DATETIME,
                                        "tags": T.LIST})
    assert compile_expression(source, ctx).evaluate(values) == expected


def test_short_circuit_keeps_errors_away() -> None:
    ctx = ExpressionContext.from_types({"s": T.TEXT})
    c = compile_expression("is_blank(s) or value(s) > 1", ctx)
    assert c.evaluate({"s": None}) is True
    c = compile_expression("if_(is_blank(s), 0, value(s))", ctx)
    assert c.evaluate({"s": ""}) == 0


def test_evaluate_default_keeps_working() -> None:
    assert evaluate_default("'available'") == "available"
    assert evaluate_default("42") == Decimal(42)
    assert evaluate_default("['a', 'b']") == ["a", "b"]
    assert evaluate_default("add_days(today(), 30)") == dt.date(2024, 3, 1)
    assert evaluate_default("now()") == dt.datetime(2024, 1, 31, 15, 30, 5)
    assert evaluate_default("None") is None
    with pytest.raises(UnsupportedExpression, match="no field named 'area'"):
        evaluate_default("area * 2")
    with pytest.raises(UnsupportedExpression):
        evaluate_default("__import__('os')")
    assert is_constant_default("1 + 1") and not is_constant_default("x")
