"""Values as pages show them (crmforge/web/pages/formats.py, decision 0038): numbers with the
locale's separators, amounts with their currency, percentages, dates and times in the
tenant's zone, phone numbers by region; in Chinese and English."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crmforge.metadata.model import FieldDef
from crmforge.runtime import forms
from crmforge.web.pages.formats import (
    Formats,
    currency_text,
    date_text,
    datetime_text,
    field_text,
    number_text,
    percent_text,
    phone_text,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
EN = Formats("en", SHANGHAI, "CNY")
ZH = Formats("zh", SHANGHAI, "CNY")


def fd(type_: str, **options: Any) -> FieldDef:
    return FieldDef("fld_0000000001", "x", type_, {"name": "x", "type": type_, **options})


@pytest.mark.parametrize(("fmt", "value", "scale", "expected"), [
    (EN, "1234567.5", 2, "1,234,567.50"),
    (ZH, "1234567.5", 2, "1,234,567.50"),
    (EN, -1234, 0, "-1,234"),
    (ZH, "-0.5", 2, "-0.50"),
    (EN, "0", 0, "0"),
])
def test_numbers_have_separators_and_the_field_scale(fmt: Formats, value: Any, scale: int,
                                                     expected: str) -> None:
    assert number_text(value, fmt, scale=scale) == expected


def test_a_number_without_grouping_and_a_value_that_is_no_number() -> None:
    assert number_text(2024, EN, grouping=False) == "2024"
    assert number_text(2024, EN) == "2,024"
    assert number_text("n/a", EN) == "n/a"  # shown as it is, never an error


@pytest.mark.parametrize(("fmt", "value", "currency", "expected"), [
    (ZH, "1234.5", None, "¥1,234.50"),  # the tenant's default currency
    (EN, "1234.5", None, "CN¥1,234.50"),  # English tells yuan from yen
    (EN, "1234.5", "USD", "$1,234.50"),
    (ZH, "1234.5", "USD", "US$1,234.50"),
    (ZH, "-1234.5", None, "-¥1,234.50"),
    (EN, "-99", "EUR", "-€99.00"),
])
def test_amounts_carry_their_currency(fmt: Formats, value: str, currency: str | None,
                                      expected: str) -> None:
    assert currency_text(value, fmt, currency=currency) == expected


def test_percent_fields_hold_points_and_show_percentages() -> None:
    assert percent_text("12.50", EN) == "12.5%"
    assert percent_text("40", ZH) == "40%"
    assert percent_text("-3.25", ZH) == "-3.25%"
    assert percent_text("1234", EN) == "1,234%"


def test_dates_in_the_locale_medium_form() -> None:
    assert date_text("2024-03-05", EN) == "Mar 5, 2024"
    assert date_text("2024-03-05", ZH) == "2024年3月5日"
    assert date_text(dt.date(2024, 12, 31), ZH) == "2024年12月31日"


def test_times_move_to_the_zone_across_a_date_boundary() -> None:
    """18:30 UTC on 7 December is 02:30 on 8 December in Shanghai: the day changes too.
    (CLDR puts a narrow no-break space before AM/PM.)"""
    assert datetime_text("2026-12-07T18:30:00.000Z", EN) == "Dec 8, 2026, 2:30\u202fAM"
    assert datetime_text("2026-12-07T18:30:00.000Z", ZH) == "2026年12月8日 02:30"
    new_york = Formats("en", ZoneInfo("America/New_York"), "USD")
    assert datetime_text("2026-12-08T02:30:00.000Z", new_york) == "Dec 7, 2026, 9:30\u202fPM"
    assert datetime_text(dt.datetime(2026, 7, 1, 12, 0), new_york) == \
        "Jul 1, 2026, 8:00\u202fAM"  # naive values are UTC; summer time applies
    assert datetime_text("later", EN) == "later"


def test_phones_national_in_their_region_international_elsewhere() -> None:
    assert phone_text("+8613800138000", "CN") == "138 0013 8000"
    assert phone_text("+862158880001", "CN") == "021 5888 0001"
    assert phone_text("+16502530000", "CN") == "+1 650-253-0000"
    assert phone_text("+16502530000", "US") == "(650) 253-0000"
    assert phone_text("+8613800138000", "US") == "+86 138 0013 8000"
    # stored before numbers were checked: shown as stored
    assert phone_text("852-21100022", "CN") == "852-21100022"
    assert phone_text("ext. 12", "CN") == "ext. 12"


def test_fields_choose_their_format() -> None:
    assert field_text(fd("integer"), 12345, EN) == "12,345"
    assert field_text(fd("integer", grouping=False), 2024, EN) == "2024"
    assert field_text(fd("decimal", scale=3), "1234.5", ZH) == "1,234.500"
    assert field_text(fd("currency"), "99.5", ZH) == "¥99.50"
    assert field_text(fd("currency", currency="USD"), "99.5", EN) == "$99.50"
    assert field_text(fd("percent", scale=1), "7.5", EN) == "7.5%"
    assert field_text(fd("formula", result_type="currency", currency="EUR", expression="1"),
                      "10", EN) == "€10.00"
    assert field_text(fd("formula", result_type="percent", expression="1"), "40.00", ZH) == \
        "40%"
    assert field_text(fd("rollup", function="count", child="c"), "1200", EN) == "1,200"
    assert field_text(fd("rollup", function="sum", child="c", field="f"), "1200", EN) == \
        "1,200.00"
    assert field_text(fd("date"), "2024-03-05", ZH) == "2024年3月5日"
    assert field_text(fd("phone", region="US"), "+16502530000", EN) == "(650) 253-0000"
    assert field_text(fd("text"), "1234", EN) is None  # text is shown as written
    assert field_text(fd("picklist", choices=[{"value": "a"}]), "a", EN) is None


def test_form_inputs_are_iso_in_the_zone_and_round_trip() -> None:
    """The form shows the time the page shows (in the zone), still an ISO value; posting
    it back gives the same moment in UTC."""
    from crmforge.metadata.fieldtypes import FIELD_TYPES
    from crmforge.metadata.model import ObjectDef

    obj = ObjectDef.from_entry({"doc": {"id": "obj_0000000000", "name": "meeting", "fields": [
        {"name": "at", "type": "datetime", "id": "fld_0000000001"}]}})
    shown = forms.form_data(obj, {"at": "2026-12-07T18:30:00.000Z"}, SHANGHAI)
    assert shown["at"] == "2026-12-08T02:30"
    assert forms.form_data(obj, {"at": "2026-12-07T18:30:00.000Z"})["at"] == \
        "2026-12-07T18:30"  # without a zone: UTC, as before

    class Posted:
        data = "2026-12-08T02:30"

    sent = forms.payload(obj, {"at": Posted()}, ["at"], SHANGHAI)  # type: ignore[arg-type]
    f = obj.field("at")
    assert f is not None
    stored = FIELD_TYPES["datetime"].to_python(f, sent["at"])
    assert FIELD_TYPES["datetime"].to_json(f, stored) == "2026-12-07T18:30:00.000Z"
