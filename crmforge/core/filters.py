"""The filter AST: what a list request asks for, independent of SQL and of HTTP.

The web layer parses query parameters into these nodes; storage compiles them to SQL
against typed columns. Values stay raw strings here because only the field type knows
how to convert them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import BadRequest

OPERATORS = frozenset(
    {"eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startswith", "isnull", "between"}
)
MULTI_VALUE_OPERATORS = frozenset({"in", "between"})

#: Query parameters with a meaning of their own; no field may be named like them.
#: ``total`` is a parameter too, but DESIGN §9's own example object has a field named
#: ``total``, so it stays a valid field name: ``total=true|false`` asks for the count and a
#: field named ``total`` is filtered with an explicit operator (``total__eq=...``).
RESERVED_PARAMS = frozenset({"sort", "fields", "limit", "cursor", "q"})
COUNT_PARAM = "total"


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str | tuple[str, ...]


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class ListQuery:
    conditions: tuple[Condition, ...] = ()
    sort: tuple[SortKey, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = 50
    cursor: str | None = None
    total: bool = False
    search: str | None = None
    #: ``total=estimate``: a bounded count, estimated past ``COUNT_CAP`` (decision 0019).
    total_estimate: bool = False

    def language_left_out(self, languages: tuple[str, ...]) -> ListQuery:
        """The query without ``lang=<one of languages>``: on an object with no field named
        ``lang`` that parameter is the language of the answer's messages (``?lang=zh``, as
        on every other endpoint), not a filter. Any other condition on ``lang`` stays, and
        is refused as a filter on a field the object does not have."""
        kept = tuple(c for c in self.conditions
                     if not (c.field == "lang" and c.op == "eq" and c.value in languages))
        return self if len(kept) == len(self.conditions) else replace(self, conditions=kept)


MAX_LIMIT = 500
#: The most a list request may ask for (docs/api.md, "Limits"). Each condition and sort key
#: is a clause for the database to plan and each ``in`` value a bound parameter (SQLite
#: allows 32,766 per statement); past these numbers a request is a 400 before any SQL.
MAX_CONDITIONS = 50
MAX_SORT_KEYS = 5
MAX_IN_VALUES = 1000


def parse_condition(key: str, raw: str) -> Condition:
    """``area__gte=10`` -> Condition("area", "gte", "10"); ``in``/``between`` split on commas."""
    field, sep, op = key.partition("__")
    if not sep:
        op = "eq"
    if op not in OPERATORS:
        raise BadRequest(f"unknown filter operator '{op}' in '{key}'")
    if op in MULTI_VALUE_OPERATORS:
        if raw.count(",") >= MAX_IN_VALUES:
            raise BadRequest(f"'{key[:60]}' takes at most {MAX_IN_VALUES} values")
        values = tuple(v for v in raw.split(","))
        if op == "between" and len(values) != 2:
            raise BadRequest(f"'{key}' takes two comma-separated values")
        if op == "in" and not raw:
            raise BadRequest(f"'{key}' takes at least one value")
        return Condition(field, op, values)
    return Condition(field, op, raw)


def parse_sort(raw: str) -> tuple[SortKey, ...]:
    keys = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        desc = part.startswith("-")
        keys.append(SortKey(part.lstrip("-+"), desc))
        if len(keys) > MAX_SORT_KEYS:
            raise BadRequest(f"'sort' takes at most {MAX_SORT_KEYS} fields")
    return tuple(keys)


def parse_list_query(params: list[tuple[str, str]]) -> ListQuery:
    """Turn request parameters (in order, repeats allowed) into a ListQuery."""
    conditions: list[Condition] = []
    sort: tuple[SortKey, ...] = ()
    fields: tuple[str, ...] | None = None
    limit = 50
    cursor = None
    total = estimate = False
    search = None
    for key, raw in params:
        if key == "sort":
            sort = parse_sort(raw)
        elif key == "fields":
            fields = tuple(f.strip() for f in raw.split(",") if f.strip())
        elif key == "limit":
            try:
                limit = int(raw)
            except ValueError:
                raise BadRequest("'limit' must be a whole number") from None
            if not 1 <= limit <= MAX_LIMIT:
                raise BadRequest(f"'limit' must be between 1 and {MAX_LIMIT}")
        elif key == "cursor":
            cursor = raw or None
        elif key == COUNT_PARAM:
            if raw.lower() not in ("1", "true", "0", "false", "estimate"):
                raise BadRequest("'total' takes true, false or estimate; filter a field named "
                                 "total with total__eq")
            total = raw.lower() in ("1", "true")
            estimate = raw.lower() == "estimate"
        elif key == "q":
            search = raw.strip() or None
        else:
            if len(conditions) == MAX_CONDITIONS:
                raise BadRequest(f"a list takes at most {MAX_CONDITIONS} filter conditions")
            conditions.append(parse_condition(key, raw))
    return ListQuery(tuple(conditions), sort, fields, limit, cursor, total, search, estimate)
