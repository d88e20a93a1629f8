"""Plan steering for filtered, sorted list pages on SQLite (decision 0019).

A list page is ``WHERE <filters> ORDER BY <sort>, id LIMIT n``. When a filter names an
indexed column, SQLite's planner picks that index even when the filter matches a large
fraction of the table (even after ANALYZE: it does not weigh the LIMIT), and then sorts
every match in a temporary B-tree: 17 ms for 20,000 matches against 0.15 ms for walking
the sort column's index and stopping after ``n`` matches. PostgreSQL weighs the LIMIT by
itself, so this module only acts where the dialect asks for it (``Dialect.steers_lists``).

The choice is a small cost model: walking the sort index examines about ``n / s`` rows
(``s``: the fraction of rows all filters keep); the filter index examines ``N * s_i`` rows
(``s_i``: the best indexed filter's fraction) and sorts them. ``sqlite_stat1`` (ANALYZE,
which PRAGMA optimize keeps current) rules most lists out cheaply; it keeps an average per
value, so before steering, the indexed equalities are counted in a sample of the newest
rows (a primary key range: bounded work), which also stands in for missing statistics.
Steering only changes how rows are found, never which rows or their order: the statement
is the same apart from a FROM hint
(``INDEXED BY`` an index whose name comes from metadata, or ``NOT INDEXED`` for ``id``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..core.filters import Condition
from ..metadata.model import FieldDef, ObjectDef, composite_index_name
from .fields import lookup_field
from .query import condition_sql
from .storage.dialects import ANALYSIS_LIMIT, Dialect

#: Rows of the newest part of the table sampled when an index has no statistics.
SAMPLE_ROWS = 1000
#: The fraction assumed for a condition other than equality or ``in`` (SQLite's own guess
#: for a range is a quarter of the rows).
RANGE_FRACTION = 0.25
#: Walking must be cheaper by this factor: a walk reads the table row of every entry it
#: passes, and a wrong walk (rare matches) costs far more than a wrong filter-index plan.
MARGIN = 2.0
#: How long a sampled fraction is reused, and how many are kept (per process): the next
#: pages of a list and the same list for other readers do not sample again.
SAMPLE_TTL_S = 60.0
SAMPLE_CACHE = 512

_Sample = tuple[list[float], float, int]
_sampled: OrderedDict[tuple[Any, ...], tuple[_Sample | None, float]] = OrderedDict()
_sampled_lock = threading.Lock()


def sort_index(obj: ObjectDef, f: FieldDef) -> str | None:
    """The name of the index that serves a sort on ``f`` ("" for ``id``: the table itself
    is in id order), or None when it has none. Names as ``storage.tables`` gives them."""
    if f.name == "id":
        return ""
    if not f.stored or f.id.startswith("sys_"):
        return None
    if f.unique:
        return "uq_" + f.id
    if f.indexed or f.kind.expression_type == "reference":
        return "ix_" + f.id
    return None


def serving_composite(obj: ObjectDef, conditions: Sequence[Condition], first: FieldDef,
                      cols: Mapping[str, Any]) -> str | None:
    """A composite index that both finds and orders the page: equality filters on its
    leading columns and the sort on the next one. It is named outright: SQLite's statistics
    can make the single-column filter index look as good, and only this one needs no sort."""
    if first.name in cols:
        return None
    equal = {c.field for c in conditions if c.op == "eq" and c.field not in cols}
    for fields in obj.composite_indexes:
        names = [f.name for f in fields]
        if first.name in names:
            at = names.index(first.name)
            if at > 0 and all(n in equal for n in names[:at]):
                return composite_index_name(fields)
    return None


#: How long ``sqlite_stat1`` rows are reused: they change only when ANALYZE runs (PRAGMA
#: optimize, at most every ten minutes per connection).
STATS_TTL_S = 60.0
_stats_cache: dict[tuple[str, str], tuple[dict[str, list[int]], float]] = {}


def _stats(conn: sa.Connection, table: str) -> dict[str, list[int]]:
    """``sqlite_stat1`` rows of ``table`` by index, reused for ``STATS_TTL_S``."""
    key, now = (str(conn.engine.url), table), time.monotonic()
    hit = _stats_cache.get(key)
    if hit is not None and now - hit[1] < STATS_TTL_S:
        return hit[0]
    stats = _read_stats(conn, table)
    with _sampled_lock:
        if len(_stats_cache) >= SAMPLE_CACHE:
            _stats_cache.clear()
        _stats_cache[key] = (stats, now)
    return stats


def _read_stats(conn: sa.Connection, table: str) -> dict[str, list[int]]:
    """``sqlite_stat1`` rows of ``table`` by index: [rows, rows per value of column 1, ...]."""
    exists = conn.execute(sa.text(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")).first()
    if exists is None:
        return {}
    out: dict[str, list[int]] = {}
    for idx, stat in conn.execute(sa.text(
            "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = :t AND idx IS NOT NULL"), {"t": table}):
        numbers = []
        for part in str(stat or "").split():
            if not part.isdigit():
                break
            numbers.append(int(part))
        if len(numbers) >= 2 and numbers[0] > 0:
            out[str(idx)] = numbers
    return out


def _condition_fraction(cond: Condition, index_stat: list[int] | None) -> float | None:
    """What fraction of rows ``cond`` keeps according to the statistics of its column's
    index, or None when that needs a sample."""
    if cond.op not in ("eq", "in"):
        return RANGE_FRACTION
    # A bounded ANALYZE reads about ANALYSIS_LIMIT entries of each index: when they held
    # only a few values (rows per value above a quarter of the limit), its figure for a
    # common value is a floor, not an average. That holds for an index with columns after
    # the field (storage.tables.SCOPE_COLUMNS) as for a single-column one.
    if index_stat is None or index_stat[1] * 4 >= ANALYSIS_LIMIT:
        return None  # no statistics, or a floor: count in a sample
    per_value = index_stat[1] / index_stat[0]
    values = len(cond.value) if cond.op == "in" and isinstance(cond.value, (list, tuple)) else 1
    return min(1.0, per_value * values)


def steer(conn: sa.Connection, dialect: Dialect, obj: ObjectDef, table: sa.Table,
          conditions: Sequence[Condition], sort: Sequence[tuple[FieldDef, bool]],
          cols: Mapping[str, Any], readable: frozenset[str], limit: int, stmt: sa.Select[Any],
          where: Sequence[Any]) -> sa.Select[Any]:
    """``stmt`` with a hint to walk the sort index when that is the cheaper plan (``where``:
    its WHERE clauses without the cursor's).

    Nothing changes unless the dialect steers, the first sort key has an index and is the
    plain column (not a masked expression), and a filter on another indexed column could
    tempt the planner away from it.
    """
    if not dialect.steers_lists or not sort or not conditions:
        return stmt
    first = sort[0][0]
    composite = serving_composite(obj, conditions, first, cols)
    if composite is not None:
        return dialect.walk_index(stmt, table, composite)
    walk_index = sort_index(obj, first)
    if walk_index is None or first.name in cols:
        return stmt
    indexed: list[int] = []  # conditions that could lead the planner to their index
    for i, cond in enumerate(conditions):
        f = lookup_field(obj, cond.field)
        if f is None or f.name == first.name or f.name in cols:
            continue
        if sort_index(obj, f):
            indexed.append(i)
    if not indexed:
        return stmt
    stats = _stats(conn, table.name)
    total = next(iter(stats.values()))[0] if stats else None
    fractions: dict[int, float] = {}
    for i, cond in enumerate(conditions):
        f = lookup_field(obj, cond.field)
        name = sort_index(obj, f) if f is not None else None
        fraction = _condition_fraction(cond, stats.get(name) if name else None)
        if fraction is None and not name:
            fraction = 0.1  # an unindexed equality: a guess, it only scales the walk
        if fraction is not None:
            fractions[i] = fraction
    if total is not None and len(fractions) == len(conditions) \
            and not _walk_is_cheaper(fractions, indexed, total, limit):
        return stmt
    # The statistics hold an average per value (and, gathered under analysis_limit, only a
    # floor for a common one), so a skewed column's rare value would look common: before the
    # plan changes, a sample counts the indexed equalities and the whole WHERE clause,
    # visibility included (a reader who owns few rows must not walk the whole index).
    exact = [i for i in indexed if conditions[i].op in ("eq", "in") or i not in fractions]
    sample = _cached_sample(conn, dialect, obj, table, [conditions[i] for i in exact],
                            readable, cols, where)
    if sample is None:
        return stmt
    sampled, keep, newest = sample
    fractions.update(zip(exact, sampled, strict=True))
    if not _walk_is_cheaper(fractions, indexed, total or newest, limit, keep):
        return stmt
    return dialect.walk_index(stmt, table, walk_index)


def _cached_sample(conn: sa.Connection, dialect: Dialect, obj: ObjectDef, table: sa.Table,
                   conditions: Sequence[Condition], readable: frozenset[str],
                   cols: Mapping[str, Any], where: Sequence[Any]
                   ) -> tuple[list[float], float, int] | None:
    """``_sample``, reused for ``SAMPLE_TTL_S``: keyed by the WHERE clause as compiled, with
    its values, so another reader's visibility or another filter value samples anew."""
    clause_key = sa.and_(*where)._generate_cache_key()  # structure and values, no compile
    if clause_key is None:
        return _sample(conn, dialect, obj, table, conditions, readable, cols, where)
    key = (str(conn.engine.url), table.name, clause_key.key,
           # a value taken when the statement runs (the time of temporary access) is
           # the same parameter on every request: its name stands for it
           repr([b.key if b.callable else b.effective_value for b in clause_key.bindparams]),
           repr([(c.field, c.op, c.value) for c in conditions]))
    now = time.monotonic()
    with _sampled_lock:
        hit = _sampled.get(key)
    if hit is not None and now - hit[1] < SAMPLE_TTL_S:
        return hit[0]
    sample = _sample(conn, dialect, obj, table, conditions, readable, cols, where)
    with _sampled_lock:
        _sampled[key] = (sample, now)
        _sampled.move_to_end(key)
        while len(_sampled) > SAMPLE_CACHE:
            _sampled.popitem(last=False)
    return sample


def _walk_is_cheaper(fractions: Mapping[int, float], indexed: Sequence[int], total: int,
                     limit: int, keep: float | None = None) -> bool:
    """Whether walking the sort index until a page is full reads fewer rows (by
    ``MARGIN``) than reading every match through the best filter index and sorting them.
    ``keep``: the share of rows the whole WHERE keeps, when sampled; else the product of
    the conditions' shares."""
    if keep is None:
        keep = 1.0
        for fraction in fractions.values():
            keep *= fraction
    walk_rows = (limit + 1) / max(keep, 1e-9)
    filter_rows = total * min(fractions[i] for i in indexed)
    return walk_rows * MARGIN < filter_rows


def _sample(conn: sa.Connection, dialect: Dialect, obj: ObjectDef, table: sa.Table,
            conditions: Sequence[Condition], readable: frozenset[str], cols: Mapping[str, Any],
            where: Sequence[Any]) -> tuple[list[float], float, int] | None:
    """In the newest ``SAMPLE_ROWS`` rows: the share each condition keeps, the share the
    whole WHERE keeps, and the table's size as its largest id (both cheap: the sample is a
    range of the primary key). None for an empty table."""
    top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar()
    if not top:
        return None
    clauses = [condition_sql(obj, table, c, dialect, readable, dict(cols)) for c in conditions]
    counts = conn.execute(sa.select(
        sa.func.count(),
        sa.func.sum(sa.case((sa.and_(*where), 1), else_=0)),
        *(sa.func.sum(sa.case((clause, 1), else_=0)) for clause in clauses),
    ).where(table.c.id > int(top) - SAMPLE_ROWS)).one()
    seen = int(counts[0] or 0)
    if seen == 0:
        return None
    # What keeps nothing in the sample still counts half a row: rare, not absent.
    shares = [max(int(n or 0), 0.5) / seen for n in counts[1:]]
    return shares[1:], shares[0], int(top)


#: ``total=estimate`` counts exactly up to this many matches and estimates past it.
COUNT_CAP = 10_000


def estimate_count(conn: sa.Connection, dialect: Dialect, table: sa.Table,
                   where: Sequence[Any]) -> tuple[int, bool]:
    """A list's count that costs at most ``COUNT_CAP`` rows: exact below the cap, else an
    estimate that is never below it, and whether it is one.

    An exact count reads every match (a million rows on every page of a big list); most
    screens only need "about how many". Past the cap PostgreSQL answers its planner's row
    estimate for the same WHERE (EXPLAIN, statistics kept by autovacuum); SQLite keeps no
    estimate for arbitrary filters, so it answers the cap itself: "10,000 or more".
    """
    capped = sa.select(sa.literal(1)).select_from(table).where(*where).limit(COUNT_CAP + 1)
    seen = int(conn.execute(sa.select(sa.func.count()).select_from(capped.subquery()))
               .scalar() or 0)
    if seen <= COUNT_CAP:
        return seen, False
    planned = dialect.estimated_rows(conn, sa.select(table.c.id).where(*where))
    return max(COUNT_CAP, planned or 0), True
