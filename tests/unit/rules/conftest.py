"""A small tenant model for the rules tests: accounts, regions and booths with every
field type, so expressions can be checked and evaluated against real metadata."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crmforge.core import clock
from crmforge.metadata.model import Snapshot
from crmforge.rules import ExpressionContext, T

NOW = dt.datetime(2024, 1, 31, 15, 30, 5, tzinfo=dt.UTC)


def field(name: str, type_: str, **options: Any) -> dict[str, Any]:
    return {"id": f"fld_{name}", "name": name, "type": type_, **options}


REGION = {"id": "obj_region", "name": "region", "fields": [
    field("title", "text"), field("manager_rate", "percent"),
    field("parent", "lookup", target="region"),
]}
ACCOUNT = {"id": "obj_account", "name": "account", "fields": [
    field("name", "text", required=True), field("tier", "picklist", choices=[
        {"value": "gold"}, {"value": "silver"}]),
    field("region", "lookup", target="region"), field("credit", "currency"),
    field("parent", "lookup", target="account"),
    field("label", "formula", result_type="text", expression="upper(name)"),
]}
BOOTH = {"id": "obj_booth", "name": "booth", "fields": [
    field("number", "text", required=True), field("notes", "textarea"),
    field("seats", "integer"), field("area", "decimal", scale=2), field("price", "currency"),
    field("discount", "percent"), field("paid", "boolean"), field("opens", "date"),
    field("booked_at", "datetime"), field("email", "email"), field("phone", "phone"),
    field("site", "url"),
    field("status", "picklist", default="'available'", choices=[
        {"value": "available"}, {"value": "contracted"}]),
    field("extras", "multipicklist", choices=[{"value": "power"}, {"value": "water"}]),
    field("account", "lookup", target="account"),
    field("hall", "master_detail", target="account"),
    field("agent", "user"), field("team", "department"), field("code", "autonumber"),
    field("attachment", "file"),
    field("total", "formula", result_type="currency", stored=True,
          expression="if_blank(area, 0) * price * (1 - if_blank(discount, 0) / 100)"),
    field("big", "formula", result_type="boolean", expression="total > 1000"),
    field("children", "rollup", function="count", child="account"),
]}


@pytest.fixture
def snapshot() -> Snapshot:
    docs = [REGION, ACCOUNT, BOOTH]
    return Snapshot.from_data(7, {"objects": [{"doc": d} for d in docs]})


@pytest.fixture
def booth_ctx(snapshot: Snapshot) -> ExpressionContext:
    obj = snapshot.object("booth")
    assert obj is not None
    return ExpressionContext.for_object(obj, snapshot)


@pytest.fixture
def simple_ctx() -> ExpressionContext:
    return ExpressionContext.from_types({
        "n": T.NUMBER, "m": T.NUMBER, "s": T.TEXT, "b": T.BOOLEAN, "d": T.DATE,
        "ts": T.DATETIME, "tags": T.LIST, "ref": T.REFERENCE,
    })


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def D(text: str | int) -> Decimal:
    return Decimal(str(text))
