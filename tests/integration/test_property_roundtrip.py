"""Property: whatever valid object a designer defines and whatever valid records are written
to it, reading them back (``get``, ``list`` and an equality filter) returns exactly what was
written, after the documented normalization: decimals as strings at their scale, datetimes
in UTC ISO 8601 with milliseconds and Z, multipicklists as lists in choice order.

Each example gets a fresh tenant of the function's ``instance`` (Hypothesis reuses
function-scoped fixtures across examples, hence the suppressed health check).
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmforge.core import name_problem, parse_list_query
from crmforge.runtime import Designer, Instance, RecordService
from crmforge.security import SYSTEM

_tenants = itertools.count()

MAX_DIGITS = 15
UTC = dt.UTC

# -- object definitions --------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(
    lambda n: name_problem(n) is None)
choice_values = st.lists(st.from_regex(r"[A-Za-z0-9 _.-]{1,12}", fullmatch=True),
                         min_size=1, max_size=5, unique=True)
bounds = st.integers(-(10**6), 10**6)


@st.composite
def field_defs(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A field of a writable scalar type with random options."""
    type_ = draw(st.sampled_from([
        "text", "textarea", "integer", "decimal", "currency", "percent", "boolean", "date",
        "datetime", "email", "phone", "url", "picklist", "multipicklist"]))
    f: dict[str, Any] = {"name": name, "type": type_}
    if draw(st.booleans()):
        f["required"] = True
    if type_ == "text" and draw(st.booleans()):
        f["max_length"] = draw(st.integers(1, 300))
    if type_ == "textarea" and draw(st.booleans()):
        f["max_length"] = draw(st.integers(1, 2000))
    if type_ in ("decimal", "currency", "percent") and draw(st.booleans()):
        f["scale"] = draw(st.integers(0, 8))
    if type_ in ("integer", "decimal", "currency", "percent"):
        lo, hi = draw(st.one_of(st.none(), bounds)), draw(st.one_of(st.none(), bounds))
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        if lo is not None:
            f["min"] = lo
        if hi is not None:
            f["max"] = hi
    if type_ in ("picklist", "multipicklist"):
        f["choices"] = [{"value": v} for v in draw(choice_values)]
    if type_ in ("text", "email") and draw(st.booleans()):
        f["searchable"] = True
    return f


@st.composite
def object_docs(draw: st.DrawFn) -> dict[str, Any]:
    field_names = draw(st.lists(names, min_size=1, max_size=8, unique=True))
    return {"name": draw(names), "label": {"en": "Generated"},
            "fields": [draw(field_defs(n)) for n in field_names]}


# -- values: (what a client sends, what it must read back) -----------------------------------

safe_text = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


def _scale(f: dict[str, Any]) -> int:
    return 2 if f.get("scale") is None else int(f["scale"])


@st.composite
def decimal_value(draw: st.DrawFn, f: dict[str, Any]) -> tuple[Any, Any]:
    scale = _scale(f)
    lo = max(-(10**MAX_DIGITS) + 1, int(f.get("min", -(10**MAX_DIGITS))) * 10**scale)
    hi = min(10**MAX_DIGITS - 1, int(f.get("max", 10**MAX_DIGITS)) * 10**scale)
    units = draw(st.integers(lo, hi))
    d = Decimal(units).scaleb(-scale)
    form = draw(st.sampled_from(["str", "float", "int", "padded"]))
    if form == "float":
        sent: Any = float(d)
    elif form == "int" and d == d.to_integral_value():
        sent = int(d)
    elif form == "padded":  # trailing zeros are not extra decimal places
        sent = format(d, "f") + ("000" if scale else ".000")
    else:
        sent = format(d, "f")
    return sent, format(d.quantize(Decimal(1).scaleb(-scale)), "f")


@st.composite
def datetime_value(draw: st.DrawFn) -> tuple[Any, Any]:
    naive = draw(st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)))
    tz = draw(st.one_of(st.none(), offsets))
    if tz is None:
        sent = naive.isoformat() + draw(st.sampled_from(["Z", ""]))
        utc = naive
    else:
        aware = naive.replace(tzinfo=tz)
        sent = aware.isoformat()
        utc = aware.astimezone(UTC).replace(tzinfo=None)
    utc = utc.replace(microsecond=utc.microsecond // 1000 * 1000)
    return sent, utc.isoformat(timespec="milliseconds") + "Z"


def value_for(f: dict[str, Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    """A strategy of (sent, expected) pairs for field ``f``; never NULL when required."""
    t, required = f["type"], bool(f.get("required"))
    if t in ("text", "textarea"):
        limit = f.get("max_length") or (255 if t == "text" else 2000)
        s: st.SearchStrategy[Any] = st.text(safe_text, min_size=1 if required else 0,
                                            max_size=min(limit, 300)).map(lambda v: (v, v))
    elif t == "email":
        s = st.from_regex(r"[a-z0-9._+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}",
                          fullmatch=True).map(lambda v: (v, v))
    elif t == "phone":  # valid numbers, written in several forms, stored in E.164
        s = st.sampled_from([("138 0013 8000", "+8613800138000"),
                             ("+86 (10) 1234-5678", "+861012345678"),
                             ("021-5888-0001", "+862158880001"),
                             ("+1 650 253 0000", "+16502530000")])
    elif t == "url":
        s = st.from_regex(r"https?://[a-z0-9.-]{1,30}(/[A-Za-z0-9_~%/-]{0,30})?(\?[a-z=&]{0,20})?",
                          fullmatch=True).map(lambda v: (v, v))
    elif t == "integer":
        s = st.integers(max(-(2**63) + 1, f.get("min", -(2**63) + 1)),
                        min(2**63 - 1, f.get("max", 2**63 - 1))).map(lambda v: (v, v))
    elif t in ("decimal", "currency", "percent"):
        s = decimal_value(f)
    elif t == "boolean":
        s = st.booleans().map(lambda v: (v, v))
    elif t == "date":
        s = st.dates().map(lambda d: (d.isoformat(), d.isoformat()))
    elif t == "datetime":
        s = datetime_value()
    elif t == "picklist":
        s = st.sampled_from([c["value"] for c in f["choices"]]).map(lambda v: (v, v))
    elif t == "multipicklist":
        order = [c["value"] for c in f["choices"]]
        s = st.lists(st.sampled_from(order), min_size=1 if required else 0).map(
            lambda vs: (vs, [v for v in order if v in vs]))
    else:  # pragma: no cover - the field strategy only draws the types above
        raise AssertionError(t)
    if required:
        return s
    empty = ([], []) if t == "multipicklist" else (None, None)
    return st.one_of(st.just(empty), s)


@st.composite
def record_values(draw: st.DrawFn, fields: list[dict[str, Any]]) -> tuple[dict[str, Any],
                                                                           dict[str, Any]]:
    sent, expected = {}, {}
    for f in fields:
        if not f.get("required") and draw(st.integers(0, 5)) == 0:
            # left out: reads back as null (an empty list for a multipicklist)
            expected[f["name"]] = [] if f["type"] == "multipicklist" else None
            continue
        s, e = draw(value_for(f))
        sent[f["name"]], expected[f["name"]] = s, e
    return sent, expected


def filter_text(f: dict[str, Any], value: Any) -> str:
    """The query-string form of a read-back value, for an equality filter."""
    if f["type"] == "boolean":
        return "true" if value else "false"
    if f["type"] == "multipicklist":
        return ",".join(value)
    return str(value)


# -- the property --------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_written_records_read_back_equal(instance: Instance, data: st.DataObject) -> None:
    """Random valid objects and records read back exactly as written (normalized)."""
    tenant, _ = instance.create_tenant(f"p{next(_tenants)}")
    designer, records = Designer(tenant), RecordService(tenant)
    doc = data.draw(object_docs(), label="object")
    stored = designer.create_object(SYSTEM, doc)
    assert [f["name"] for f in stored["fields"]] == [f["name"] for f in doc["fields"]]
    rows = data.draw(st.lists(record_values(doc["fields"]), min_size=1, max_size=6),
                     label="records")

    written: dict[int, dict[str, Any]] = {}
    for sent, expected in rows:
        created = records.create(SYSTEM, doc["name"], sent)
        assert {k: created[k] for k in expected} == expected, sent
        written[created["id"]] = created

    for rid, created in written.items():
        assert records.get(SYSTEM, doc["name"], rid) == created
    listed = records.list(SYSTEM, doc["name"], parse_list_query([("limit", "500")]))["items"]
    assert listed == list(written.values())

    # An equality filter on a value read back finds its record (filters convert like writes).
    for rid, created in written.items():
        f = data.draw(st.sampled_from(doc["fields"]), label="filter field")
        value = created[f["name"]]
        if value is None or value == []:
            continue
        found = records.list(SYSTEM, doc["name"], parse_list_query(
            [(f"{f['name']}__eq", filter_text(f, value)), ("limit", "500")]))["items"]
        assert rid in [r["id"] for r in found], (f, value)
