"""ObjectRules: defaults, formulas in dependency order, validation rules, field states."""

from __future__ import annotations

import copy
import datetime as dt
import gc
from decimal import Decimal
from typing import Any

import pytest

from crmforge.core.errors import ValidationFailed
from crmforge.metadata.model import Snapshot
from crmforge.rules import ObjectRules

from .conftest import BOOTH, field


def make(doc_changes: dict[str, Any] | None = None, *, extra: list[dict[str, Any]] = (),
         rules: list[dict[str, Any]] | None = None) -> tuple[Snapshot, ObjectRules]:
    doc = copy.deepcopy(BOOTH)
    for f in doc["fields"]:
        f.update((doc_changes or {}).get(f["name"], {}))
    doc["fields"].extend(extra)
    if rules is not None:
        doc["validation_rules"] = rules
    from .conftest import ACCOUNT, REGION

    snap = Snapshot.from_data(1, {"objects": [{"doc": d} for d in (REGION, ACCOUNT, doc)]})
    return snap, ObjectRules.for_object("booth", snap)


def test_defaults_use_other_values() -> None:
    _, rules = make({"opens": {"default": "add_days(datevalue(booked_at), 7)"},
                     "seats": {"default": "10"}})
    got = rules.defaults({"booked_at": dt.datetime(2024, 1, 1, 9), "seats": 4})
    assert got == {"status": "available", "opens": dt.date(2024, 1, 8)}
    assert rules.defaults({})["seats"] == Decimal(10)


def test_default_errors_are_keyed_by_field() -> None:
    _, rules = make({"seats": {"default": "value('x')"}})
    with pytest.raises(ValidationFailed) as info:
        rules.defaults({})
    assert "not a number" in info.value.fields["seats"][0]


def test_formulas_in_dependency_order_and_rounded() -> None:
    _, rules = make(extra=[
        field("with_tax", "formula", result_type="currency", expression="total * 1.13"),
        field("seats_left", "formula", result_type="integer", expression="seats / 3"),
        field("summary", "formula", result_type="text", expression="text(total)"),
    ])
    assert rules.formula_order.index("total") < rules.formula_order.index("with_tax")
    assert rules.formula_order.index("total") < rules.formula_order.index("big")
    got = rules.formulas({"area": Decimal("12.5"), "price": Decimal("99.99"),
                          "discount": Decimal("10"), "seats": 10})
    assert got["total"] == Decimal("1124.89")  # 1124.8875 rounded half up
    assert got["with_tax"] == Decimal("1271.13")  # from the rounded total
    assert got["big"] is True and got["seats_left"] == 3 and got["summary"] == "1124.89"


def test_a_formula_error_names_the_field() -> None:
    _, rules = make(extra=[field("bad", "formula", result_type="date",
                                 expression="date(2023, 2, seats)")])
    with pytest.raises(ValidationFailed) as info:
        rules.formulas({"seats": 30, "area": 1, "price": 1})
    assert "not a valid date" in info.value.fields["bad"][0]


def test_validation_rules_in_the_users_language() -> None:
    _, rules = make(rules=[
        {"name": "positive", "condition": "is_blank(price) or price > 0", "field": "price",
         "message": {"zh": "价格必须为正", "en": "Price must be positive"}},
        {"name": "dates", "condition": "opens >= datevalue(booked_at)",
         "message": {"en": "Opens before booking"}},
    ])
    assert rules.validate({"price": Decimal(1), "opens": dt.date(2024, 2, 1),
                           "booked_at": dt.datetime(2024, 1, 1)}) == {}
    got = rules.validate({"price": Decimal(-1)}, lang="zh")
    assert got == {"price": ["价格必须为正"], "__all__": ["Opens before booking"]}


def test_a_rule_that_cannot_be_evaluated_reports_why() -> None:
    _, rules = make(rules=[{"name": "num", "condition": "value(number) > 0",
                            "message": {"en": "x"}}])
    got = rules.validate({"number": "abc"})
    assert "could not be checked" in got["__all__"][0]


def test_field_states() -> None:
    _, rules = make({"notes": {"visible_if": "status == 'contracted'"},
                     "price": {"required_if": "paid"},
                     "area": {"readonly_if": "status == 'contracted'"},
                     "seats": {"readonly_if": "value(number) > 1"}})
    states = rules.field_states({"status": "contracted", "paid": False, "number": "x"})
    assert states["notes"] == {"visible": True, "required": False, "readonly": False}
    assert states["area"]["readonly"] is True and states["price"]["required"] is False
    assert states["number"] == {"visible": True, "required": True, "readonly": False}
    assert states["total"]["readonly"] is True
    assert states["seats"]["readonly"] is True  # could not be decided: fail closed
    states = rules.field_states({"status": "available", "paid": True})
    assert states["notes"]["visible"] is False and states["price"]["required"] is True


def test_broken_metadata_is_reported_where_it_is_used() -> None:
    _, rules = make({"total": {"expression": "area *"}})
    with pytest.raises(ValidationFailed) as info:
        rules.formulas({})
    assert "formula" in info.value.fields["total"][0]


def test_rules_are_cached_per_snapshot() -> None:
    snap, rules = make()
    assert ObjectRules.for_object("booth", snap) is rules
    other, _ = make()
    assert ObjectRules.for_object("booth", other) is not rules
    key = id(snap)
    del snap, rules
    gc.collect()
    assert not any(k[0] == key for k in ObjectRules._cache)
