"""Date and time functions. Dates are ``datetime.date``; date-times are naive UTC
``datetime.datetime`` (the storage convention, DESIGN §3). ``today()`` and ``now()`` read
the platform clock, so tests can move time."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ...core import clock
from ..types import DATES, NUM, T
from .base import LibraryFailure, Param, register, type_name, whole
from .ops import days_fraction, shift_days

_TEXT_OR_DATES = frozenset({T.TEXT, T.DATE, T.DATETIME})


def _date(value: Any, what: str = "the argument") -> dt.date:
    if not isinstance(value, dt.date):
        raise LibraryFailure(f"{what} must be a date, got {type_name(value)}")
    return value


def _build(fn: Any, *parts: Any) -> Any:
    nums = [whole(p, "a date part") for p in parts]
    try:
        return fn(*nums)
    except (ValueError, OverflowError):
        shown = "-".join(str(n) for n in nums[:3])
        raise LibraryFailure(f"{shown} is not a valid date") from None


@register("today", [], T.DATE, category="date", summary="Today's date (UTC).",
          example="today()", nulls="-")
def today() -> dt.date:
    return clock.now().astimezone(dt.UTC).date()


@register("now", [], T.DATETIME, category="date",
          summary="The current date and time (UTC, whole seconds).", example="now()", nulls="-")
def now() -> dt.datetime:
    return clock.now().astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


@register("date", [Param("year", NUM), Param("month", NUM), Param("day", NUM)], T.DATE,
          category="date", summary="The date of year, month and day; an impossible date "
          "(2023-02-30) is an error.", example="date(year(today()), 12, 31)")
def date(year: Any, month: Any, day: Any) -> Any:
    if year is None or month is None or day is None:
        return None
    return _build(dt.date, year, month, day)


@register("datetime", [Param("year", NUM), Param("month", NUM), Param("day", NUM),
                       Param("hour", NUM, True), Param("minute", NUM, True),
                       Param("second", NUM, True)], T.DATETIME, category="date",
          summary="A date and time (UTC); hour, minute and second default to 0.",
          example="datetime(2024, 1, 31, 18)")
def datetime(year: Any, month: Any, day: Any, hour: Any = None, minute: Any = None,
             second: Any = None) -> Any:
    if year is None or month is None or day is None:
        return None
    zero = Decimal(0)
    return _build(dt.datetime, year, month, day, hour or zero, minute or zero, second or zero)


@register("datevalue", [Param("value", _TEXT_OR_DATES)], T.DATE, category="date",
          summary="The date in ISO text ('2024-05-31'), or the date part of a date and time.",
          example="datevalue(created_at)")
def datevalue(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise LibraryFailure(f"'{value[:40]}' is not a date (YYYY-MM-DD)") from None
    raise LibraryFailure(f"datevalue() needs text or a date, got {type_name(value)}")


def _part(name: str, attr: str, types: frozenset[T], summary: str) -> None:
    def part(value: Any) -> Any:
        if value is None:
            return None
        d = _date(value)
        if attr in ("hour", "minute", "second") and not isinstance(d, dt.datetime):
            return Decimal(0)
        return Decimal(getattr(d, attr))

    part.__name__ = name
    register(name, [Param("value", types)], T.NUMBER, category="date", summary=summary,
             example=f"{name}(close_date)" if types is DATES else f"{name}(created_at)")(part)


_part("year", "year", DATES, "The year (e.g. 2024).")
_part("month", "month", DATES, "The month, 1 to 12.")
_part("day", "day", DATES, "The day of the month, 1 to 31.")
_part("hour", "hour", DATES, "The hour, 0 to 23 (0 for a date).")
_part("minute", "minute", DATES, "The minute, 0 to 59 (0 for a date).")


@register("weekday", [Param("value", DATES)], T.NUMBER, category="date",
          summary="The ISO day of the week: 1 is Monday, 7 is Sunday.",
          example="weekday(close_date) >= 6")
def weekday(value: Any) -> Any:
    return None if value is None else Decimal(_date(value).isoweekday())


@register("days_between", [Param("start", DATES), Param("end", DATES)], T.NUMBER,
          category="date", summary="end minus start in days: whole days for two dates, "
          "with a fraction (4 places) for date-times; a date counts as its midnight.",
          example="days_between(created_at, now())")
def days_between(start: Any, end: Any) -> Any:
    if start is None or end is None:
        return None
    a, b = _date(start), _date(end)
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return days_fraction(_midnight(a), _midnight(b))
    return Decimal((b - a).days)


def _midnight(d: dt.date) -> dt.datetime:
    return d if isinstance(d, dt.datetime) else dt.datetime(d.year, d.month, d.day)


def same_kind(ts: Sequence[T]) -> T:
    """Date functions that return the kind (date or date-time) they were given."""
    return ts[0] if ts[0] in (T.DATE, T.DATETIME) else T.ANY


@register("add_days", [Param("value", DATES), Param("days", NUM)], same_kind, category="date",
          summary="The date plus days (negative to go back); a date takes whole days, a date "
          "and time also fractions.", example="add_days(start_date, 30)")
def add_days(value: Any, days: Any) -> Any:
    if value is None or days is None:
        return None
    return shift_days(_date(value), days)


def _add_months(d: dt.date, months: int) -> dt.date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise LibraryFailure("the date would be outside the years 1 to 9999")
    last = calendar.monthrange(year, month + 1)[1]
    return d.replace(year=year, month=month + 1, day=min(d.day, last))


@register("add_months", [Param("value", DATES), Param("months", NUM)], same_kind,
          category="date", summary="The date plus whole months; the day is clamped to the "
          "end of a shorter month (Jan 31 + 1 month = Feb 28 or 29).",
          example="add_months(contract_start, 12)")
def add_months(value: Any, months: Any) -> Any:
    if value is None or months is None:
        return None
    return _add_months(_date(value), whole(months, "months"))


@register("add_years", [Param("value", DATES), Param("years", NUM)], same_kind,
          category="date", summary="The date plus whole years (Feb 29 becomes Feb 28).",
          example="add_years(birthday, 1)")
def add_years(value: Any, years: Any) -> Any:
    if value is None or years is None:
        return None
    return _add_months(_date(value), whole(years, "years") * 12)


@register("end_of_month", [Param("value", DATES)], T.DATE, category="date",
          summary="The last day of the date's month (Excel's EOMONTH(d, 0)).",
          example="end_of_month(invoice_date)")
def end_of_month(value: Any) -> Any:
    if value is None:
        return None
    d = _date(value)
    return dt.date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])

