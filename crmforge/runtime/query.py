"""Compile a ListQuery (the filter AST) into SQL against one object's table.

Values are converted by their field type and bound as parameters; nothing from the
request is formatted into SQL. Pagination is keyset-based (a cursor holds the sort values
of the last row, sealed by ``cursors.CursorSeal``), so page 1000 costs what page 1 costs.

Every function takes ``cols``: the reader's effective column of a field where it differs
from the plain column (``masking.effective_columns``: a stored value masked on rows
derived from records the reader cannot see). Filters, search, sort and cursors all use
it, so a list never finds, orders or pages by a value it would not show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest
from ..core.filters import Condition, ListQuery, SortKey
from ..metadata.fieldtypes import ConversionError, FormulaType, RollupType
from ..metadata.model import FieldDef, ObjectDef
from .cursors import CursorSeal
from .fields import lookup_field
from .storage.dialects import Dialect


def filter_operators(f: FieldDef) -> frozenset[str]:
    """The filter operators of a field. A stored formula has a column of its result type,
    so it takes that type's operators (``gte`` on a currency formula, ``contains`` on a
    text one); a dated roll-up (min/max of dates) takes the date type's, a numeric one the
    number's. A formula computed on read has no column: none (the caller explains why).
    Declared here rather than on the field types because only storage knows that a derived
    value is a plain column once stored."""
    kind = f.kind
    if isinstance(kind, FormulaType):
        return kind.result(f).operators if f.stored else frozenset()
    if isinstance(kind, RollupType):
        dated = kind.dated(f)
        return dated.operators if dated is not None else kind.operators
    return kind.operators


def value_type(f: FieldDef) -> str:
    """The name of the type whose values a field's filters compare: a stored formula's
    result type, ``date``/``datetime`` for a roll-up of dates, ``integer`` for a count and
    ``decimal`` for other roll-ups, else the field's own type. Forms choose their inputs by
    it (a date picker for a date formula), so it answers with ``filter_operators``."""
    kind = f.kind
    if isinstance(kind, FormulaType):
        return kind.result(f).name
    if isinstance(kind, RollupType):
        dated = kind.dated(f)
        if dated is not None:
            return dated.name
        return "integer" if f.options.get("function") == "count" else "decimal"
    return f.type


def check_condition(obj: ObjectDef, cond: Condition, readable: frozenset[str]) -> None:
    """Refuse (400, as a list would) a condition whose field, operator or value does not
    fit, without reading anything: a filter form checks a new condition before putting it
    into the list's address, so the message can stand beside the input."""
    f = _field(obj, cond.field, "filter", readable)
    if cond.op not in filter_operators(f):
        raise BadRequest(f"'{cond.op}' does not apply to the {f.type} field '{f.name}'",
                         {f.name: [f"operator '{cond.op}' not supported"]})
    if cond.op == "isnull":
        if str(cond.value).lower() not in ("true", "false", "1", "0"):
            raise BadRequest(f"'{f.name}__isnull' takes true or false")
    elif f.type == "multipicklist" or cond.op in ("contains", "startswith"):
        return
    elif cond.op in ("in", "between"):
        for v in cond.value:
            _value(f, v)
    else:
        _value(f, str(cond.value))


def _field(obj: ObjectDef, name: str, purpose: str, readable: frozenset[str]) -> FieldDef:
    f = lookup_field(obj, name)
    if f is None or (f.id.startswith("fld_") and name not in readable):
        # Hidden fields answer exactly like unknown ones, so filters cannot probe them.
        raise BadRequest(f"cannot {purpose} by '{name[:40]}': no such field",
                         {name[:40]: ["no such field"]})
    if not f.stored:
        raise BadRequest(f"cannot {purpose} by '{name}': it is computed and not stored",
                         {name: ["not stored"]})
    return f


def _value(f: FieldDef, raw: str) -> Any:
    try:
        return f.kind.from_query(f, raw)
    except ConversionError as exc:
        raise BadRequest(f"filter on '{f.name}': {exc}", {f.name: [str(exc)]}) from None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


Columns = Mapping[str, Any]


def column(table: sa.Table, name: str, cols: Columns | None) -> Any:
    """The reader's effective column for ``name``."""
    if cols is not None and name in cols:
        return cols[name]
    return table.c[name]


def condition_sql(obj: ObjectDef, table: sa.Table, cond: Condition, dialect: Dialect,
                  readable: frozenset[str], cols: Columns | None = None) -> Any:
    f = _field(obj, cond.field, "filter", readable)
    if cond.op not in filter_operators(f):
        raise BadRequest(f"'{cond.op}' does not apply to the {f.type} field '{f.name}'",
                         {f.name: [f"operator '{cond.op}' not supported"]})
    col = column(table, f.name, cols)
    op = cond.op
    if op == "isnull":
        flag = str(cond.value).lower()
        if flag not in ("true", "false", "1", "0"):
            raise BadRequest(f"'{f.name}__isnull' takes true or false")
        return col.is_(None) if flag in ("true", "1") else col.is_not(None)
    if f.type == "multipicklist":
        value = str(cond.value)
        if op == "contains":
            return col.like("%;" + _like_escape(value) + ";%", escape="\\")
        stored = f.kind.to_python(f, [v for v in value.split(",") if v], lenient=True) \
            if value else None
        return col == stored if op == "eq" else sa.or_(col != stored, col.is_(None))
    if op in ("in", "between"):
        values = [_value(f, v) for v in cond.value]
        if op == "in":
            return col.in_(values)
        return col.between(values[0], values[1])
    raw = str(cond.value)
    if op == "contains":
        return dialect.ilike(col, "%" + _like_escape(raw) + "%")
    if op == "startswith":  # case-insensitive like contains, on every database
        return dialect.ilike(col, _like_escape(raw) + "%")
    value = _value(f, raw)
    if value is None:
        return col.is_(None) if op == "eq" else col.is_not(None)
    if op == "eq":
        return col == value
    if op == "ne":
        return sa.or_(col != value, col.is_(None))
    if op == "lt":
        return col < value
    if op == "lte":
        return col <= value
    if op == "gt":
        return col > value
    return col >= value


def search_sql(obj: ObjectDef, table: sa.Table, text: str, dialect: Dialect,
               readable: frozenset[str], cols: Columns | None = None) -> Any:
    searchable = [f for f in obj.fields if f.searchable and f.stored]
    if not searchable:
        raise BadRequest(f"'{obj.name}' has no searchable fields")
    columns = [column(table, f.name, cols) for f in searchable if f.name in readable]
    if not columns:
        return sa.false()  # text in fields the reader cannot see finds nothing
    pattern = "%" + _like_escape(text[:200]) + "%"
    return sa.or_(*(dialect.ilike(c, pattern) for c in columns))


def resolve_sort(obj: ObjectDef, keys: tuple[SortKey, ...], readable: frozenset[str]
                 ) -> list[tuple[FieldDef, bool]]:
    out = []
    for k in keys:
        f = _field(obj, k.field, "sort", readable)
        if not f.kind.sortable:
            raise BadRequest(f"cannot sort by the {f.type} field '{f.name}'")
        out.append((f, k.descending))
    if not any(f.name == "id" for f, _ in out):
        out.append((lookup_field(obj, "id"), out[-1][1] if out else False))  # type: ignore[arg-type]
    return out


#: System columns that are never NULL: no NULL ordering clause, so indexes serve the sort.
NOT_NULL = frozenset({"id", "version", "created_at", "updated_at"})


def _nullable(f: FieldDef) -> bool:
    return not (f.id.startswith("sys_") and f.name in NOT_NULL)


def order_by(table: sa.Table, sort: list[tuple[FieldDef, bool]],
             cols: Columns | None = None) -> list[Any]:
    """NULL counts as the largest value: last when ascending, first when descending."""
    clauses = []
    for f, desc in sort:
        col = column(table, f.name, cols)
        if not _nullable(f):
            clauses.append(col.desc() if desc else col.asc())
        else:
            clauses.append(col.desc().nulls_first() if desc else col.asc().nulls_last())
    return clauses


def cursor_binding(obj: ObjectDef, reader: int | None, sort: list[tuple[FieldDef, bool]]
                   ) -> list[Any]:
    """What a cursor is bound to: the object, the reader and the sort (by field ids, so a
    rename keeps cursors working and a different sort refuses them)."""
    return [obj.id, reader, [("-" if desc else "") + f.id for f, desc in sort]]


def encode_cursor(sort: list[tuple[FieldDef, bool]], row: Any, seal: CursorSeal) -> str:
    """The sealed cursor after ``row``: its values as the reader's effective columns gave
    them (the page is selected through them, see ``RecordService._page``)."""
    return seal.seal([f.kind.to_json(f, row._mapping[f.name]) for f, _ in sort])


@dataclass(frozen=True)
class CursorParts:
    """Where a page after a cursor lies, in two parts that an index can find.

    ``head``: the rows after the cursor whose first sort value is not NULL, with a bound
    on that column (``>=`` or ``<=`` the cursor's value) beside the exact test. The bound
    is what lets the database start its index walk at the cursor: an OR over "greater,
    NULL, or equal and later" is no index condition on either database, so without it
    page 1,000 walked the 50,000 entries before it (measured in ``list_page``).
    ``tail``: the rows after all of those, when NULL sorts last (an ascending first key):
    they are read only when ``head`` leaves the page short. None when there are none.
    """

    head: Any
    tail: Any | None


def cursor_parts(table: sa.Table, sort: list[tuple[FieldDef, bool]], cursor: str,
                 seal: CursorSeal, cols: Columns | None = None) -> CursorParts:
    """Rows strictly after the cursor's position in the sort order (see ``CursorParts``)."""
    values = seal.open(cursor)
    try:
        if len(values) != len(sort):
            raise ValueError
        typed = [_cursor_value(f, v) for (f, _), v in zip(sort, values, strict=True)]
    except (ValueError, ConversionError, TypeError):
        raise BadRequest("the cursor is not valid for this list",
                         {"cursor": ["not valid for this list"]}) from None
    clauses = []
    for i, ((f, desc), v) in enumerate(zip(sort, typed, strict=True)):
        col = column(table, f.name, cols)
        prefix = [_equal(column(table, g.name, cols), w)
                  for (g, _), w in zip(sort[:i], typed[:i], strict=True)]
        after: Any
        if v is None:
            after = col.is_not(None) if desc else sa.false()
        else:
            bound = sa.literal(v, col.type)  # SQLAlchemy refuses `col > True` on booleans
            if desc:
                after = col < bound
            elif _nullable(f) and i > 0:
                after = sa.or_(col > bound, col.is_(None))
            else:  # the first key's NULLs are the tail, below
                after = col > bound
        clauses.append(sa.and_(*prefix, after))
    (first, desc), v = sort[0], typed[0]
    col = column(table, first.name, cols)
    exact = sa.or_(*clauses)
    if v is None:  # among the NULLs (ascending) or past them (descending)
        return CursorParts(sa.and_(col.is_(None), exact) if not desc else exact, None)
    bound = sa.literal(v, col.type)
    head = sa.and_(col <= bound if desc else col >= bound, exact)
    tail = col.is_(None) if not desc and _nullable(first) else None
    return CursorParts(head, tail)


#: Options that constrain new values only: stored values (and so cursors made from them)
#: may predate a raised minimum, a new pattern or a removed choice.
_WRITE_CONSTRAINTS = frozenset({"min", "max", "pattern"})


def _cursor_value(f: FieldDef, v: Any) -> Any:
    if v is None:
        return None
    loose = FieldDef(f.id, f.name, f.type, MappingProxyType(
        {k: o for k, o in f.options.items() if k not in _WRITE_CONSTRAINTS}))
    if isinstance(v, str):  # picklists take the raw value, as in filters
        return loose.kind.from_query(loose, v)
    return loose.kind.to_python(loose, v, lenient=True)


def _equal(col: Any, v: Any) -> Any:
    return col.is_(None) if v is None else col == v


def where_clauses(obj: ObjectDef, table: sa.Table, q: ListQuery, dialect: Dialect,
                  readable: frozenset[str], cols: Columns | None = None) -> list[Any]:
    clauses = [condition_sql(obj, table, c, dialect, readable, cols) for c in q.conditions]
    if q.search:
        clauses.append(search_sql(obj, table, q.search, dialect, readable, cols))
    return clauses
