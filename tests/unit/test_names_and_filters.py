"""API names that reach SQL (DESIGN §2) and the list query parameters (DESIGN §9)."""

from __future__ import annotations

import pytest

from crmforge.core.errors import BadRequest
from crmforge.core.filters import (
    MAX_CONDITIONS,
    MAX_IN_VALUES,
    MAX_LIMIT,
    MAX_SORT_KEYS,
    OPERATORS,
    RESERVED_PARAMS,
    Condition,
    ListQuery,
    SortKey,
    parse_list_query,
)
from crmforge.core.ids import MAX_ID, parse_id
from crmforge.core.names import SQL_RESERVED, SYSTEM_FIELDS, name_problem
from crmforge.runtime import tenant_name_problem

# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "a", "account", "account_name", "x1", "a1_b2", "a" * 40, "total", "amount", "owner",
    "status", "region_code", "z9",
])
def test_valid_names(name: str) -> None:
    """Lowercase ASCII identifiers that are neither reserved nor system names are fine;
    ``total`` stays valid because DESIGN §9's own example has a field named total."""
    assert name_problem(name) is None


@pytest.mark.parametrize(("name", "reason"), [
    ("select", "reserved SQL word"),
    ("order", "reserved SQL word"),
    ("user", "reserved SQL word"),
    ("date", "reserved SQL word"),
    ("table", "reserved SQL word"),
    ("when", "reserved SQL word"),
    ("id", "system field"),
    ("owner_id", "system field"),
    ("department_id", "system field"),
    ("created_at", "system field"),
    ("created_by", "system field"),
    ("updated_at", "system field"),
    ("updated_by", "system field"),
    ("version", "system field"),
    ("deleted_at", "system field"),
    ("sort", "reserved list parameter"),
    ("fields", "reserved list parameter"),
    ("limit", "reserved"),  # also an SQL word
    ("cursor", "reserved list parameter"),
    ("q", "reserved list parameter"),
    ("a" * 41, "longer than 40"),
    ("a" * 500, "longer than 40"),
    ("Name", "lowercase"),
    ("nAme", "lowercase"),
    ("naïve", "lowercase ASCII"),
    ("客户", "lowercase ASCII"),
    ("ｆｕｌｌ", "lowercase ASCII"),
    ("a'b", "lowercase"),
    ('a"b', "lowercase"),
    ("a;drop", "lowercase"),
    ("a b", "lowercase"),
    ("a-b", "lowercase"),
    ("a.b", "lowercase"),
    ("_a", "start with"),
    ("1a", "start with"),
    ("", "start with"),
    ("abc\n", "lowercase"),  # '$' alone would let a trailing newline through
    ("abc\x00", "lowercase"),
    ("a__b", "'__'"),
    ("amount__gte", "'__'"),
    ("a_", "end with '_'"),
    ("region_", "end with '_'"),
])
def test_name_problems(name: str, reason: str) -> None:
    """Each refused name says why."""
    problem = name_problem(name)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("value", [None, 5, ["a"], b"abc"])
def test_non_string_names(value: object) -> None:
    """A name that is not a string is refused, not crashed on."""
    assert name_problem(value) == "name must be a string"


def test_kind_prefixes_the_message() -> None:
    """Messages say what kind of name is wrong."""
    assert (name_problem("Select", kind="field name") or "").startswith("field name 'Select'")


def test_every_reserved_word_system_field_and_parameter_is_refused() -> None:
    """No reserved word, system field or list parameter can name a field."""
    for word in SQL_RESERVED | set(SYSTEM_FIELDS) | RESERVED_PARAMS:
        assert name_problem(word) is not None, word


def test_long_names_are_cut_in_messages() -> None:
    """A huge name does not make a huge error message."""
    problem = name_problem("x" * 5000) or ""
    assert len(problem) < 200


# -- list queries -------------------------------------------------------------------------------


def q(*params: tuple[str, str]) -> ListQuery:
    return parse_list_query(list(params))


def test_defaults() -> None:
    """No parameters: no filters, default limit 50, no count."""
    assert q() == ListQuery(conditions=(), sort=(), fields=None, limit=50, cursor=None,
                            total=False, search=None)


def test_plain_parameter_is_equality() -> None:
    """``field=value`` without an operator means eq."""
    assert q(("region", "north")).conditions == (Condition("region", "eq", "north"),)


@pytest.mark.parametrize("op", sorted(OPERATORS - {"in", "between"}))
def test_single_value_operators(op: str) -> None:
    """``field__op=value`` keeps the raw string (only the field type can convert it)."""
    assert q((f"area__{op}", "1,5")).conditions == (Condition("area", op, "1,5"),)


def test_in_splits_on_commas() -> None:
    """``in`` takes comma-separated values."""
    assert q(("status__in", "a,b,c")).conditions == (Condition("status", "in", ("a", "b", "c")),)
    assert q(("status__in", "a")).conditions == (Condition("status", "in", ("a",)),)


def test_between_takes_two_values() -> None:
    """``between`` takes exactly two comma-separated values."""
    assert q(("area__between", "10,20")).conditions == (
        Condition("area", "between", ("10", "20")),)


@pytest.mark.parametrize(("key", "raw"), [
    ("area__between", "10"),
    ("area__between", "1,2,3"),
    ("area__between", ""),
    ("status__in", ""),
])
def test_bad_multi_values(key: str, raw: str) -> None:
    """Wrong value counts for in/between are a 400, not a silent filter."""
    with pytest.raises(BadRequest):
        q((key, raw))


@pytest.mark.parametrize("key", ["area__like", "area__GT", "area__", "area__gt__lt",
                                 "area__regex", "area__eq2"])
def test_unknown_operator(key: str) -> None:
    """Only the documented operators exist (case-sensitive)."""
    with pytest.raises(BadRequest) as exc:
        q((key, "1"))
    assert "operator" in exc.value.message


def test_repeated_filters_accumulate_in_order() -> None:
    """``area__gte=1&area__lte=9`` is a range; nothing is silently overwritten."""
    assert q(("area__gte", "1"), ("area__lte", "9"), ("area__ne", "5")).conditions == (
        Condition("area", "gte", "1"), Condition("area", "lte", "9"),
        Condition("area", "ne", "5"))


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", 1), ("50", 50), (str(MAX_LIMIT), MAX_LIMIT), (" 7 ", 7),
])
def test_limit(raw: str, expected: int) -> None:
    """Limits from 1 to MAX_LIMIT are accepted."""
    assert q(("limit", raw)).limit == expected


@pytest.mark.parametrize("raw", ["0", "-1", str(MAX_LIMIT + 1), "abc", "", "1.5", "10e2",
                                 "99999999999999999999"])
def test_bad_limit(raw: str) -> None:
    """Limits outside 1..MAX_LIMIT or not whole numbers are refused."""
    with pytest.raises(BadRequest) as exc:
        q(("limit", raw))
    assert "limit" in exc.value.message


def test_sort() -> None:
    """``sort=-area,number``: a minus means descending; blanks are ignored; last one wins."""
    assert q(("sort", "-area,number")).sort == (SortKey("area", True), SortKey("number", False))
    assert q(("sort", " -area , , +number ")).sort == (SortKey("area", True),
                                                      SortKey("number", False))
    assert q(("sort", "a"), ("sort", "-b")).sort == (SortKey("b", True),)
    assert q(("sort", "")).sort == ()


def test_fields_selection() -> None:
    """``fields`` is a comma-separated list; blanks are dropped."""
    assert q(("fields", "number, area,,")).fields == ("number", "area")
    assert q(("fields", "")).fields == ()


def test_cursor() -> None:
    """An empty cursor means the first page."""
    assert q(("cursor", "abc")).cursor == "abc"
    assert q(("cursor", "")).cursor is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False),
    ("False", False),
])
def test_total(raw: str, expected: bool) -> None:
    """``total`` takes true/false/1/0 in any case and is not a filter."""
    parsed = q(("total", raw))
    assert parsed.total is expected
    assert parsed.conditions == ()


@pytest.mark.parametrize("raw", ["yes", "", "5", "2"])
def test_bad_total(raw: str) -> None:
    """``total`` only takes a boolean; a field named total is filtered with total__eq."""
    with pytest.raises(BadRequest) as exc:
        q(("total", raw))
    assert "total__eq" in exc.value.message


def test_field_named_total_is_filtered_with_an_operator() -> None:
    """A field named total stays filterable."""
    parsed = q(("total__eq", "5"), ("total__gt", "1"))
    assert parsed.total is False
    assert parsed.conditions == (Condition("total", "eq", "5"), Condition("total", "gt", "1"))


def test_search() -> None:
    """``q`` is stripped; a blank search is no search."""
    assert q(("q", "  acme  ")).search == "acme"
    assert q(("q", "   ")).search is None


def test_limits_on_conditions_sort_keys_and_in_values() -> None:
    """The documented limits (docs/api.md): at them a query parses, past them it is a 400."""
    at = [("a", "1")] * MAX_CONDITIONS
    assert len(parse_list_query(at).conditions) == MAX_CONDITIONS
    with pytest.raises(BadRequest, match=f"at most {MAX_CONDITIONS}"):
        parse_list_query([*at, ("b", "2")])
    sort = ",".join(f"f{i}" for i in range(MAX_SORT_KEYS))
    assert len(parse_list_query([("sort", sort)]).sort) == MAX_SORT_KEYS
    with pytest.raises(BadRequest, match=f"at most {MAX_SORT_KEYS}"):
        parse_list_query([("sort", sort + ",-x")])
    values = ",".join(["v"] * MAX_IN_VALUES)
    assert len(parse_list_query([("a__in", values)]).conditions[0].value) == MAX_IN_VALUES
    with pytest.raises(BadRequest, match=f"at most {MAX_IN_VALUES}"):
        parse_list_query([("a__in", values + ",w")])
    with pytest.raises(BadRequest):
        parse_list_query([("a__in", "," * 10**6)])  # a million empty values: refused at once


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), ("1", 1), ("007", 7), (MAX_ID, MAX_ID), (str(MAX_ID), MAX_ID),
    (MAX_ID + 1, None), (str(MAX_ID + 1), None), ("9" * 5000, None), (0, None), ("0", None),
    (-1, None), ("-1", None), (True, None), (1.0, None), (None, None), ("", None), ("²", None),
    ("１２", None), (" 1", None), ([1], None),
])
def test_parse_id(value: object, expected: int | None) -> None:
    """Row ids are positive BIGINTs; anything else, a larger number included, is no id."""
    assert parse_id(value) == expected


def test_reserved_parameters_never_become_filters() -> None:
    """Reserved parameter names are never read as fields."""
    parsed = q(("sort", "a"), ("fields", "a"), ("limit", "5"), ("cursor", "c"), ("q", "x"),
               ("total", "true"))
    assert parsed.conditions == ()
    assert parsed == ListQuery((), (SortKey("a"),), ("a",), 5, "c", True, "x")


# -- tenant names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "acme", "acme-cn", "a1", "a" * 40])
def test_valid_tenant_names(name: str) -> None:
    """Lowercase letters, digits and inner hyphens make a tenant name."""
    assert tenant_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "Acme", "1acme", "acme-", "-acme", "a_b", "a.b", "../x",
                                  "a" * 41, "acme\n", "客户", None, 5])
def test_bad_tenant_names(name: object) -> None:
    """Tenant names become file and schema names: a trailing newline is no exception."""
    assert tenant_name_problem(name) is not None
