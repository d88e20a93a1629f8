"""List plans (decision 0019): on SQLite a filtered, sorted page walks the sort column's
index when the filter matches a large share of the rows (no temporary B-tree for the
ORDER BY), and steering changes nothing but the plan: the same rows in the same order,
page by page through cursors, as the statement without the hint."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core import CRMError, parse_list_query
from crmforge.runtime import Designer, RecordService, Tenant, plans
from crmforge.runtime.query import resolve_sort
from crmforge.security import SYSTEM

ITEM: dict[str, Any] = {"name": "item", "label": {"en": "Item"}, "fields": [
    {"name": "title", "type": "text", "indexed": True},
    {"name": "status", "type": "picklist", "indexed": True, "choices": [
        {"value": "open"}, {"value": "won"}, {"value": "lost"}]},
    {"name": "amount", "type": "integer"},
]}
ROWS = 2500


@pytest.fixture
def records(tenant: Tenant) -> RecordService:
    Designer(tenant).create_object(SYSTEM, ITEM)
    service = RecordService(tenant)
    rng = random.Random(7)
    rows = [{"title": None if rng.random() < 0.05 else f"t{rng.randrange(600):04d}",
             "status": "open" if rng.random() < 0.85 else rng.choice(["won", "lost"]),
             "amount": rng.randrange(100)} for _ in range(ROWS)]
    for start in range(0, ROWS, 500):
        service.create_many(SYSTEM, "item", rows[start:start + 500])
    return service


def _pages(records: RecordService, limit: int, **params: Any) -> Iterator[list[int]]:
    cursor = None
    for _ in range(200):
        query = [(k, str(v)) for k, v in params.items()] + [("limit", str(limit))]
        if cursor:
            query.append(("cursor", cursor))
        page = records.list(SYSTEM, "item", parse_list_query(query))
        yield [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return


def _list_sql(tenant: Tenant, records: RecordService, **params: Any) -> list[tuple[str, Any]]:
    """The list SELECTs a page runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    sa.event.listen(tenant.engine, "before_cursor_execute", spy)
    try:
        next(_pages(records, 50, **params))
    finally:
        sa.event.remove(tenant.engine, "before_cursor_execute", spy)
    return seen


@pytest.mark.parametrize("analyzed", [False, True])
def test_a_broad_filter_walks_the_sort_index(records: RecordService, tenant: Tenant,
                                             analyzed: bool) -> None:
    if tenant.dialect.name != "sqlite":
        pytest.skip("PostgreSQL weighs the LIMIT by itself")
    if analyzed:
        with tenant.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    statements = _list_sql(tenant, records, status="open", sort="title")
    assert statements and "INDEXED BY" in statements[-1][0]
    with tenant.engine.connect() as conn:
        plan = [str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statements[-1][0], statements[-1][1])]
    assert any("USING INDEX ix_" in step for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan


def test_a_narrow_filter_keeps_its_own_index(records: RecordService, tenant: Tenant) -> None:
    if tenant.dialect.name != "sqlite":
        pytest.skip("PostgreSQL weighs the LIMIT by itself")
    with tenant.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    statements = _list_sql(tenant, records, status="lost", sort="title")
    assert statements and "INDEXED BY" not in statements[-1][0]


def test_a_narrow_visibility_keeps_the_planner(records: RecordService, tenant: Tenant) -> None:
    """A reader who sees few of the rows would walk most of the sort index to fill a page:
    the sample counts the whole WHERE clause, visibility included."""
    if tenant.dialect.name != "sqlite":
        pytest.skip("PostgreSQL weighs the LIMIT by itself")
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
        obj = snap.object("item")
        assert obj is not None
        t = tenant.schema(snap).table("item")
        q = parse_list_query([("status", "open"), ("sort", "title")])
        readable = frozenset(f.name for f in obj.fields)
        sort = resolve_sort(obj, q.sort, readable)
        stmt = sa.select(t).order_by(t.c.title, t.c.id).limit(51)
        wide = plans.steer(conn, tenant.dialect, obj, t, q.conditions, sort, {}, readable, 50,
                           stmt, [t.c.status == "open"])
        narrow = plans.steer(conn, tenant.dialect, obj, t, q.conditions, sort, {}, readable,
                             50, stmt, [t.c.status == "open", t.c.id % 500 == 0])
    assert wide is not stmt and narrow is stmt


@pytest.mark.parametrize("params", [
    {"status": "open", "sort": "title"},
    {"status": "open", "sort": "-title"},
    {"status__in": "open,won", "amount__gte": "40", "sort": "title"},
    {"status": "open", "sort": "-id"},
    {"status": "won", "sort": "title"},
])
def test_steered_pages_equal_the_unsteered_ones(records: RecordService,
                                                monkeypatch: pytest.MonkeyPatch,
                                                params: dict[str, str]) -> None:
    steered = list(_pages(records, 37, **params))
    monkeypatch.setattr(plans, "steer", lambda *args: args[-2])  # the statement as built
    plain = list(_pages(records, 37, **params))
    assert steered == plain
    flat = [i for page in steered for i in page]
    assert len(flat) == len(set(flat)) > 37


def test_a_later_page_starts_its_walk_at_the_cursor(records: RecordService,
                                                     tenant: Tenant) -> None:
    """Page six of a list sorted by title reads the index from the cursor on: the title
    is an index condition, not a filter over every entry before the cursor (which made a
    deep page cost as much as all the pages before it)."""
    seen: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    pages = _pages(records, 50, status="open", sort="title")
    for _ in range(5):
        next(pages)
    sa.event.listen(tenant.engine, "before_cursor_execute", spy)
    try:
        assert next(pages)
    finally:
        sa.event.remove(tenant.engine, "before_cursor_execute", spy)
    statement, parameters = seen[-1]
    with tenant.engine.connect() as conn:
        if tenant.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))
            assert "(title>?)" in plan, plan
        else:  # a table this small would be read whole: ask for the index walk
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_sort = off")
            plan = " ".join(str(r[0]) for r in conn.exec_driver_sql(
                "EXPLAIN " + statement, parameters))
            assert "Index Cond: ((title)::text >=" in plan, plan
            conn.rollback()


# -- composite indexes declared in the object document --------------------------------------

DEAL: dict[str, Any] = {"name": "deal", "fields": [
    {"name": "title", "type": "text"},
    {"name": "stage", "type": "picklist", "choices": [{"value": "a"}, {"value": "b"}]},
    {"name": "amount", "type": "integer"},
    {"name": "notes", "type": "textarea"},
], "indexes": [["stage", "title"]]}


def _indexes(tenant: Tenant, table: str) -> dict[str, list[str]]:
    with tenant.engine.connect() as conn:
        return {str(ix["name"]): [str(c) for c in ix["column_names"]]
                for ix in sa.inspect(conn).get_indexes(table) if str(ix["name"]).startswith("cx_")}


def test_composite_indexes_follow_the_document(tenant: Tenant) -> None:
    designer = Designer(tenant)
    designer.create_object(SYSTEM, DEAL)
    scope = ["id", "owner_id", "department_id"]  # every non-unique index ends with them
    assert list(_indexes(tenant, "obj_deal").values()) == [["stage", "title", *scope]]
    designer.update_object(SYSTEM, "deal", {"indexes": [["stage", "title"], ["amount", "stage"]]})
    assert sorted(_indexes(tenant, "obj_deal").values()) == [["amount", "stage", *scope],
                                                              ["stage", "title", *scope]]
    before = set(_indexes(tenant, "obj_deal"))
    designer.update_field(SYSTEM, "deal", "title", {"name": "headline"})
    assert set(_indexes(tenant, "obj_deal")) == before  # names come from field ids
    assert sorted(_indexes(tenant, "obj_deal").values()) == [["amount", "stage", *scope],
                                                             ["stage", "headline", *scope]]
    assert designer.object_doc(designer.snapshot(), "deal")["indexes"] == [
        ["stage", "headline"], ["amount", "stage"]]
    designer.update_field(SYSTEM, "deal", "amount", {"type": "decimal"})
    assert sorted(_indexes(tenant, "obj_deal").values()) == [["amount", "stage", *scope],
                                                             ["stage", "headline", *scope]]
    designer.remove_field(SYSTEM, "deal", "amount")
    assert list(_indexes(tenant, "obj_deal").values()) == [["stage", "headline", *scope]]
    designer.update_object(SYSTEM, "deal", {"indexes": None})
    assert _indexes(tenant, "obj_deal") == {}


@pytest.mark.parametrize(("indexes", "path"), [
    ([["stage", "nope"]], "$.indexes[0][1]"),
    ([["stage", "notes"]], "$.indexes[0][1]"),
    ([["stage", "stage"]], "$.indexes[0]"),
    ([["stage", "title"], ["stage", "title"]], "$.indexes[1]"),
    ([["stage"]], "$.indexes[0]"),
    ([["stage", "title"]] * 6, "$.indexes"),
])
def test_composite_indexes_are_validated(tenant: Tenant, indexes: list[list[str]],
                                         path: str) -> None:
    with pytest.raises(CRMError) as exc:
        Designer(tenant).create_object(SYSTEM, {**DEAL, "indexes": indexes})
    assert path in exc.value.fields, exc.value.fields


def test_a_composite_index_serves_filter_and_sort(tenant: Tenant) -> None:
    Designer(tenant).create_object(SYSTEM, DEAL)
    service = RecordService(tenant)
    rng = random.Random(3)
    service.create_many(SYSTEM, "deal", [
        {"title": f"d{rng.randrange(300):03d}", "stage": rng.choice("ab"),
         "amount": rng.randrange(9)} for _ in range(400)])
    query = parse_list_query([("stage", "a"), ("sort", "-title"), ("limit", "500")])
    items = service.list(SYSTEM, "deal", query)["items"]
    assert items and all(r["stage"] == "a" for r in items)
    assert [(r["title"], r["id"]) for r in items] == sorted(
        ((r["title"], r["id"]) for r in items), reverse=True)
    if tenant.dialect.name != "sqlite":
        return
    seen: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    sa.event.listen(tenant.engine, "before_cursor_execute", spy)
    try:
        service.list(SYSTEM, "deal", parse_list_query([("stage", "a"), ("sort", "title")]))
    finally:
        sa.event.remove(tenant.engine, "before_cursor_execute", spy)
    with tenant.engine.connect() as conn:
        plan = [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + seen[-1][0],
                                                          seen[-1][1])]
    assert any("USING INDEX cx_" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


# -- total=estimate ----------------------------------------------------------------------------


def test_estimated_totals_are_exact_below_the_cap(records: RecordService,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plans, "COUNT_CAP", 300)
    exact = records.list(SYSTEM, "item", parse_list_query([("status", "won"), ("total", "true")]))
    small = records.list(SYSTEM, "item", parse_list_query([("status", "won"),
                                                           ("total", "estimate")]))
    assert exact["total"] < 300 and "total_is_estimate" not in exact
    assert (small["total"], small["total_is_estimate"]) == (exact["total"], False)
    big = records.list(SYSTEM, "item", parse_list_query([("status", "open"),
                                                         ("total", "estimate")]))
    assert big["total_is_estimate"] is True and big["total"] >= 300
    assert [r["id"] for r in big["items"]] == [r["id"] for r in records.list(
        SYSTEM, "item", parse_list_query([("status", "open")]))["items"]]


def test_total_takes_estimate_and_nothing_else() -> None:
    assert parse_list_query([("total", "estimate")]).total_estimate
    assert not parse_list_query([("total", "estimate")]).total
    with pytest.raises(CRMError):
        parse_list_query([("total", "roughly")])


def _shapes(tenant: Tenant, table: str) -> dict[str, list[str]]:
    with tenant.engine.connect() as conn:
        return {str(ix["name"]): [str(c) for c in ix["column_names"]]
                for ix in sa.inspect(conn).get_indexes(table)}


def test_indexes_of_an_earlier_shape_are_rebuilt(records: RecordService, tenant: Tenant) -> None:
    """A tenant made before list indexes carried the scope columns gets them from
    ``reshape_indexes``; nothing else changes, and a second run finds nothing to do."""
    from crmforge.runtime.storage.migrate import reshape_indexes

    current = _shapes(tenant, "obj_item")
    title_ix = next(n for n, cols in current.items() if cols[0] == "title")
    assert current[title_ix] == ["title", "id", "owner_id", "department_id"]
    with tenant.engine.begin() as conn:  # what an earlier CRMForge made
        conn.exec_driver_sql(f"DROP INDEX {title_ix}")
        conn.exec_driver_sql(f"CREATE INDEX {title_ix} ON obj_item (title)")
    before = [i for page in _pages(records, 50, status="open", sort="title") for i in page]
    with tenant.write() as conn:
        tables = tenant.schema(tenant.snapshot(conn)).tables.values()
        assert reshape_indexes(conn, tenant.dialect, tables) == [title_ix]
    assert _shapes(tenant, "obj_item") == current
    with tenant.write() as conn:
        assert reshape_indexes(conn, tenant.dialect,
                               tenant.schema(tenant.snapshot(conn)).tables.values()) == []
    after = [i for page in _pages(records, 50, status="open", sort="title") for i in page]
    assert after == before and len(after) > 1000
