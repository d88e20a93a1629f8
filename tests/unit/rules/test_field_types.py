"""Each field type read in an expression, with its static type and value conversion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crmforge.metadata.fieldtypes import FIELD_TYPES
from crmforge.rules import (
    EvaluationError,
    ExpressionContext,
    ExpressionTypeError,
    T,
    compile_expression,
)

from .conftest import BOOTH

CASES: list[tuple[str, str, T, Any, Any]] = [
    # field, expression, static type, stored value, expression value
    ("number", "upper(number)", T.TEXT, "b-1", "B-1"),
    ("notes", "len(notes)", T.NUMBER, "hello", Decimal(5)),
    ("seats", "seats + 1", T.NUMBER, 3, Decimal(4)),
    ("area", "area * 2", T.NUMBER, Decimal("1.25"), Decimal("2.50")),
    ("price", "price - 1", T.NUMBER, Decimal("10.00"), Decimal("9.00")),
    ("discount", "discount / 100", T.NUMBER, Decimal("12.5"), Decimal("0.125")),
    ("paid", "not paid", T.BOOLEAN, True, False),
    ("opens", "add_days(opens, 1)", T.DATE, dt.date(2024, 2, 28), dt.date(2024, 2, 29)),
    ("booked_at", "hour(booked_at)", T.NUMBER, dt.datetime(2024, 1, 1, 9), Decimal(9)),
    ("email", "endswith(email, '.cn')", T.BOOLEAN, "a@b.cn", True),
    ("phone", "left(phone, 3)", T.TEXT, "+86 123", "+86"),
    ("site", "startswith(site, 'https')", T.BOOLEAN, "http://x", False),
    ("status", "status == 'contracted'", T.BOOLEAN, "contracted", True),
    ("extras", "includes(extras, 'water')", T.BOOLEAN, ";power;water;", True),
    ("account", "account == None", T.BOOLEAN, 12, False),
    ("hall", "is_blank(hall)", T.BOOLEAN, None, True),
    ("agent", "agent != None", T.BOOLEAN, 5, True),
    ("team", "team == team", T.BOOLEAN, 2, True),
    ("code", "concat('#', code)", T.TEXT, "B-0001", "#B-0001"),
    ("attachment", "is_blank(attachment)", T.BOOLEAN, None, True),
    ("total", "total > 100", T.BOOLEAN, Decimal("120.00"), True),
    ("big", "not big", T.BOOLEAN, False, True),
    ("children", "children + 1", T.NUMBER, 2, Decimal(3)),
    ("created_at", "year(created_at)", T.NUMBER, dt.datetime(2023, 5, 1), Decimal(2023)),
    ("version", "version * 1", T.NUMBER, 4, Decimal(4)),
    ("owner_id", "owner_id == created_by", T.BOOLEAN, 1, False),
]


def test_every_field_type_is_covered() -> None:
    types = {f["type"] for f in BOOTH["fields"] if f["name"] in {c[0] for c in CASES}}
    assert types == set(FIELD_TYPES)


@pytest.mark.parametrize(("name", "source", "static", "stored", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_field_type_in_expression(booth_ctx: ExpressionContext, name: str, source: str,
                                  static: T, stored: Any, expected: Any) -> None:
    compiled = compile_expression(source, booth_ctx)
    assert compiled.result_type is static
    got = compiled.evaluate({name: stored, "created_by": 2})
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("source", "message"), [
    ("attachment + 1", "does not apply"), ("account + 1", "does not apply"),
    ("upper(extras)", "must be text"), ("paid + 1", "does not apply"),
    ("opens > booked_at", "cannot order"), ("seats == 'x'", "cannot compare"),
])
def test_field_types_refuse_wrong_use(booth_ctx: ExpressionContext, source: str,
                                      message: str) -> None:
    with pytest.raises(ExpressionTypeError) as info:
        compile_expression(source, booth_ctx)
    assert message in info.value.detail


@pytest.mark.parametrize(("name", "value"), [
    ("seats", "many"), ("opens", "31/01/2024"), ("paid", "yes"), ("number", 5),
    ("area", float("nan")),
])
def test_values_of_the_wrong_type_are_refused_clearly(booth_ctx: ExpressionContext, name: str,
                                                      value: Any) -> None:
    compiled = compile_expression(f"is_blank({name})", booth_ctx)
    with pytest.raises(EvaluationError) as info:
        compiled.evaluate({name: value})
    assert name in info.value.detail


def test_incoming_values_are_converted(booth_ctx: ExpressionContext) -> None:
    compiled = compile_expression("concat(text(opens), ' ', text(booked_at))", booth_ctx)
    got = compiled.evaluate({"opens": "2024-01-02",
                             "booked_at": "2024-01-02T10:00:00+02:00"})
    assert got == "2024-01-02 2024-01-02 08:00:00"
    assert compile_expression("area", booth_ctx).evaluate({"area": 1.1}) == Decimal("1.1")
