"""How values read on pages: numbers with the locale's separators and decimal mark, amounts
with their currency's symbol, percentages, dates in the locale's medium form, times in the
tenant's time zone and phone numbers by region (decision 0038).

Only pages format. The REST API keeps the raw JSON values of DESIGN §9 (decimals as
strings, times in UTC with ``Z``, phones in E.164), and form inputs keep ISO values, so
what a user edits round-trips unchanged. The functions below are pure (a ``Formats`` says
the language, zone and default currency); ``current_formats`` builds the request's.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import NumberPattern, parse_pattern
from flask import Flask, current_app, g, request

from ...metadata.fieldtypes import (
    DecimalType,
    FormulaType,
    IntegerType,
    PhoneType,
    RollupType,
    parse_phone,
    phone_region,
)
from ...metadata.model import FieldDef, Snapshot
from ..display_settings import DEFAULTS
from .i18n import current_lang

#: The Babel locale of each interface language.
LOCALES: Mapping[str, str] = {"zh": "zh_Hans_CN", "en": "en"}


@dataclass(frozen=True)
class Formats:
    """The conventions of one page: its language, the time zone times are shown in and the
    currency of currency fields that name none."""

    lang: str
    zone: ZoneInfo
    currency: str

    @property
    def locale(self) -> Locale:
        return _locale(self.lang)


@functools.cache
def _locale(lang: str) -> Locale:
    return Locale.parse(LOCALES.get(lang, LOCALES["en"]))


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


#: The cookie of the reader's own time zone (set on ``/settings/display``).
ZONE_COOKIE = "crmforge_tz"


@functools.cache
def zone_names() -> tuple[str, ...]:
    """The zones a reader may choose: UTC, then the IANA place names of this server's zone
    database, sorted (the old aliases such as ``PRC`` and the ``Etc/`` offsets are left
    out). Read once: the zone database does not change while the server runs."""
    return ("UTC", *sorted(z for z in available_timezones()
                           if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))))


@functools.cache
def _zone_set() -> frozenset[str]:
    return frozenset(zone_names())


def known_zone(name: str | None) -> bool:
    """Whether ``name`` is one of ``zone_names()``: the one test of a chosen zone, for the
    settings form and for the cookie alike (both are user input; a name outside the list,
    such as a path, never reaches ``ZoneInfo``)."""
    return bool(name) and name in _zone_set()


def current_formats() -> Formats:
    """The request's conventions: the page's language, the tenant's time zone and default
    currency (kept once per request)."""
    if "formats" not in g:
        config = current_app.config
        chosen = request.cookies.get(ZONE_COOKIE)  # the reader's own (/settings/display)
        zone = chosen if chosen and known_zone(chosen) else \
            str(config.get("CRMFORGE_TIMEZONE", DEFAULTS["CRMFORGE_TIMEZONE"]))
        g.formats = Formats(
            current_lang(),
            _zone(zone),
            str(config.get("CRMFORGE_CURRENCY", DEFAULTS["CRMFORGE_CURRENCY"])))
    found: Formats = g.formats
    return found


# -- numbers ---------------------------------------------------------------------------------
def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


@functools.cache
def _pattern(lang: str, kind: str, low: int, high: int, grouping: bool) -> NumberPattern:
    """The locale's own pattern (decimal, currency or percent) with the fraction digits
    of the field: the locale's separators and sign placement, the field's precision."""
    locale = _locale(lang)
    source = {"decimal": locale.decimal_formats, "currency": locale.currency_formats,
              "percent": locale.percent_formats}[kind]
    pattern = copy(parse_pattern(source[None if kind != "currency" else "standard"]))
    pattern.frac_prec = (low, high)
    if not grouping:
        pattern.grouping = (1000, 1000)  # wider than any value: no separator is placed
    return pattern


def number_text(value: Any, fmt: Formats, *, scale: int = 0, grouping: bool = True) -> str:
    """A number with the locale's thousands separators and decimal mark, ``scale``
    decimal places (a decimal field keeps its scale: 18.00)."""
    d = _decimal(value)
    if d is None:
        return str(value)
    return str(_pattern(fmt.lang, "decimal", scale, scale, grouping).apply(d, fmt.locale))


def currency_text(value: Any, fmt: Formats, *, currency: str | None = None,
                  scale: int = 2) -> str:
    """An amount with its currency's symbol in the locale's form (¥1,234.50, CN¥1,234.50
    in English, US$ in Chinese)."""
    d = _decimal(value)
    if d is None:
        return str(value)
    return str(_pattern(fmt.lang, "currency", scale, scale, True).apply(
        d, fmt.locale, currency=currency or fmt.currency, currency_digits=False))


def percent_text(value: Any, fmt: Formats, *, scale: int = 2) -> str:
    """A percent field's value (stored in points: 12.5 is 12.5 %) as a percentage, with
    up to ``scale`` decimal places and no trailing zeros."""
    d = _decimal(value)
    if d is None:
        return str(value)
    return str(_pattern(fmt.lang, "percent", 0, scale, True).apply(d.scaleb(-2), fmt.locale))


# -- dates and times -------------------------------------------------------------------------
def date_text(value: Any, fmt: Formats) -> str:
    """A date in the locale's medium form (Mar 5, 2024; 2024年3月5日); no time zone: a
    date is a calendar day wherever it is read."""
    day = value if isinstance(value, dt.date) else _iso_date(value)
    if day is None:
        return str(value)
    if isinstance(day, dt.datetime):
        day = day.date()
    return str(format_date(day, "medium", locale=fmt.locale))


def datetime_text(value: Any, fmt: Formats) -> str:
    """A moment stored in UTC shown in the tenant's time zone: the locale's medium date
    and short time (Dec 8, 2026, 2:30 AM; 2026年12月8日 02:30)."""
    moment = value if isinstance(value, dt.datetime) else _iso_moment(value)
    if moment is None:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        local = moment.astimezone(fmt.zone)
    except OverflowError:  # year 1 or 9999 pushed past the calendar: shown in UTC
        local = moment
    day = format_date(local.date(), "medium", locale=fmt.locale)
    time = format_time(local.timetz(), "short", locale=fmt.locale)
    return str(get_datetime_format("medium", locale=fmt.locale)).replace(
        "{1}", str(day)).replace("{0}", str(time))


def _iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _iso_moment(value: Any) -> dt.datetime | None:
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


# -- phone numbers ---------------------------------------------------------------------------
def phone_text(value: Any, region: str) -> str:
    """A stored number in national form for the field's region (138 0013 8000), in
    international form otherwise (+1 650-253-0000); a value stored before numbers were
    checked, which does not parse, as stored."""
    text = str(value)
    number = parse_phone(text, region) if len(text) <= 40 else None
    if number is None:
        return text
    if phonenumbers.region_code_for_number(number) == region:
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


# -- by field --------------------------------------------------------------------------------
def _scale(f: FieldDef, default: int = 2) -> int:
    s = f.options.get("scale")
    return s if isinstance(s, int) and not isinstance(s, bool) else default


def field_text(f: FieldDef, value: Any, fmt: Formats) -> str | None:
    """``value`` (a JSON value of ``f``, not empty) as the page shows it, or None when the
    field's type is not one formatted here (text, choices, references: the caller's)."""
    kind = f.kind
    type_name = f.type
    if isinstance(kind, FormulaType):
        type_name = str(f.options.get("result_type") or "text")
    elif isinstance(kind, RollupType):
        dated = kind.dated(f)
        type_name = dated.name if dated is not None else (
            "integer" if f.options.get("function") == "count" else "decimal")
    if type_name == "integer" or isinstance(kind, IntegerType):
        return number_text(value, fmt, grouping=f.options.get("grouping") is not False)
    if type_name == "currency":
        code = f.options.get("currency")
        return currency_text(value, fmt, currency=code if isinstance(code, str) else None,
                             scale=_scale(f))
    if type_name == "percent":
        return percent_text(value, fmt, scale=_scale(f))
    if type_name == "decimal":
        scale = kind.scale(f) if isinstance(kind, DecimalType) else _scale(f)
        return number_text(value, fmt, scale=scale)
    if type_name == "date":
        return date_text(value, fmt)
    if type_name == "datetime":
        return datetime_text(value, fmt)
    if isinstance(kind, PhoneType):
        return phone_text(value, phone_region(f))
    return None


#: Roll-up functions whose result is in the unit of the field they summarize (a count is not).
_SAME_UNIT = frozenset({"sum", "min", "max", "avg"})


def money_of(snapshot: Snapshot, f: FieldDef, depth: int = 0) -> str | None:
    """The currency of ``f``'s values when they are amounts of money ("" for the tenant's
    default currency), else None. A roll-up is money when what it sums up is: a currency
    field, a currency formula or another such roll-up (followed through the children; the
    roll-up itself records no currency, as its child's may change)."""
    if f.type == "currency" or (f.type == "formula" and f.options.get("result_type") == "currency"):
        code = f.options.get("currency")
        return code if isinstance(code, str) else ""
    if f.type != "rollup" or depth > 8 or f.options.get("function") not in _SAME_UNIT:
        return None
    child = snapshot.object(str(f.options.get("child")))
    summed = child.field(str(f.options.get("field"))) if child is not None else None
    return money_of(snapshot, summed, depth + 1) if summed is not None else None


def rollup_text(snapshot: Snapshot, f: FieldDef, value: Any, fmt: Formats) -> str | None:
    """A roll-up of amounts as an amount (with the summed field's currency, at the
    roll-up's scale), or None when ``f`` is not one."""
    kind = f.kind
    code = money_of(snapshot, f) if isinstance(kind, RollupType) else None
    if code is None or not isinstance(kind, RollupType):
        return None
    return currency_text(value, fmt, currency=code or None, scale=kind.scale(f))


# -- templates ------------------------------------------------------------------------------
def _blank_or(render: Any) -> Any:
    def apply(value: Any, *args: Any, **kwargs: Any) -> str:
        if value is None or value == "":
            return ""
        return str(render(value, current_formats(), *args, **kwargs))
    return apply


def _field_filter(value: Any, f: FieldDef) -> str:
    if value is None or value == "":
        return ""
    found = field_text(f, value, current_formats())
    return str(value) if found is None else found


def install(app: Flask) -> None:
    """Filters for templates that show values outside ``display.shown``:
    ``{{ h.at|local_datetime }}``, ``|local_date``, ``|number(scale)``,
    ``|money(currency, scale)``, ``|percent(scale)`` and ``{{ value|field_value(f) }}``."""
    filters = app.jinja_env.filters
    filters["local_datetime"] = _blank_or(datetime_text)
    filters["local_date"] = _blank_or(date_text)
    filters["number"] = _blank_or(lambda v, fmt, scale=0: number_text(v, fmt, scale=scale))
    filters["money"] = _blank_or(lambda v, fmt, currency=None, scale=2: currency_text(
        v, fmt, currency=currency, scale=scale))
    filters["percent"] = _blank_or(lambda v, fmt, scale=2: percent_text(v, fmt, scale=scale))
    filters["field_value"] = _field_filter


__all__ = ["LOCALES", "Formats", "currency_text", "current_formats", "date_text",
           "datetime_text", "field_text", "install", "money_of", "number_text",
           "percent_text", "phone_text", "rollup_text"]
