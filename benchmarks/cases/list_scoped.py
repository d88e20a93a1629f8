"""list_scoped: the list_page query as a department-scoped user with field rules, against
the same query unscoped (the system principal) in the same run.

Setup (not timed): a department tree of a head office, 4 regions and 16 branches; the
big table's rows are spread over the branches (``department_id``); a role reads the
object with scope ``department_tree`` and one hidden field; its user sits in one region,
so a quarter of the rows are in reach. Statistics are gathered (``ANALYZE``) first, as in
list_page's second pass. The target (permissions issue): scoped at most 1.3x unscoped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crmforge.core.filters import parse_list_query
from crmforge.runtime import Designer, RecordService
from crmforge.security import SYSTEM, Principal, create_user, org
from crmforge.web.app import create_app

from ..baseline import baseline_engine, list_statement, plain_table
from ..data import FILTER_AMOUNT, FILTER_STATUS, SORT_FIELD
from ..report import BenchResult, Figure
from ..timing import compare
from ..workspace import DATASET_OBJECT
from .common import Context, sign_in, time_figure
from .list_page import OURS_URL, PARAMS

NAME = "list_scoped"
BRANCHES = 16


def run(ctx: Context, result: BenchResult) -> None:
    ws = ctx.dataset()
    tenant = ws.tenant
    principal = _organise(tenant)
    svc = RecordService(tenant)
    q1 = parse_list_query(PARAMS)
    scoped_first = svc.list(principal, DATASET_OBJECT, q1)
    plain_first = svc.list(SYSTEM, DATASET_OBJECT, q1)
    if len(scoped_first["items"]) != 50 or any("notes" in i for i in scoped_first["items"]):
        raise RuntimeError("list_scoped: the scoped page is not what the rules say")
    q2s = parse_list_query([*PARAMS, ("cursor", scoped_first["next_cursor"])])
    q2p = parse_list_query([*PARAMS, ("cursor", plain_first["next_cursor"])])
    sizes = ctx.config.sizes
    figures: list[Figure] = []
    for label, scoped, plain in (
        ("p1", lambda: svc.list(principal, DATASET_OBJECT, q1),
         lambda: svc.list(SYSTEM, DATASET_OBJECT, q1)),
        ("p2", lambda: svc.list(principal, DATASET_OBJECT, q2s),
         lambda: svc.list(SYSTEM, DATASET_OBJECT, q2p)),
    ):
        cmp = compare(scoped, plain, iterations=sizes.list_requests, warmup=2,
                      budget_s=sizes.list_budget_s)
        figures.append(time_figure(f"list_scoped.service {label} vs unscoped (median)", cmp,
                                   unit="ms/page", factor=1e3, use="median"))
    # The same scoped page written by hand (the department tree as a subquery of the
    # closure table, as anyone would): what is the platform's share of the scoped cost,
    # and what is the rows' own (a reader who sees a quarter of the rows makes a walk of
    # the sort index read four times as many rows to fill a page).
    engine = baseline_engine(tenant)
    try:
        with tenant.read() as conn:
            table = plain_table(tenant.schema(tenant.snapshot(conn)).table(DATASET_OBJECT))
        hand = _hand_scoped(engine, table, principal)
        if [r["id"] for r in hand()] != [i["id"] for i in scoped_first["items"]]:
            raise RuntimeError("list_scoped: the hand-written scoped page differs")
        cmp = compare(lambda: svc.list(principal, DATASET_OBJECT, q1), hand,
                      iterations=sizes.list_requests, warmup=2, budget_s=sizes.list_budget_s)
        figures.append(time_figure("list_scoped.service p1 vs hand-written scoped (median)",
                                   cmp, unit="ms/page", factor=1e3, use="median"))
    finally:
        engine.dispose()
    # Over HTTP, the scoped user against the administrator: the target is a p95
    # of at most 30 ms for both and the scoped one at most 1.3x the other.
    app = create_app(ws.instance)
    admin_http, scoped_http = sign_in(app), sign_in(app, "bench_scoped")
    page = scoped_http.get_json(OURS_URL)
    if len(page["items"]) != 50 or any("notes" in i for i in page["items"]):
        raise RuntimeError("list_scoped: the scoped page over HTTP is not what the rules say")
    cmp = compare(lambda: scoped_http.get_json(OURS_URL), lambda: admin_http.get_json(OURS_URL),
                  iterations=sizes.list_requests, warmup=2, budget_s=sizes.list_budget_s)
    for use in ("median", "p95"):
        figures.append(time_figure(f"list_scoped.http p1 vs admin ({use})", cmp,
                                   unit="ms/page", factor=1e3, use=use))
    result.figures += figures
    result.details.update(scope="department_tree (1 region of 4)", hidden_field="notes",
                          target_ratio=1.3)


def _hand_scoped(engine: sa.Engine, table: sa.Table, principal: Principal) -> Any:
    """The list_page query by hand, limited to the principal's records and department
    tree; keyset on (title, id), one row more than shown."""
    closure = sa.table("sys_department_closure", sa.column("ancestor_id"),
                       sa.column("descendant_id"))
    c = table.c
    tree = sa.select(closure.c.descendant_id).where(
        closure.c.ancestor_id == principal.department_id)
    stmt = list_statement(table, FILTER_STATUS, Decimal(FILTER_AMOUNT), SORT_FIELD, 51)
    stmt = stmt.where(sa.or_(c.owner_id == principal.user_id, c.department_id.in_(tree)))

    def page() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt).all()[:50]]
    return page


def _organise(tenant: Any) -> Principal:
    """Departments, the rows' departments, a scoped role and its user (idempotent)."""
    with tenant.write() as conn:
        existing = {d["name"] for d in org.list_departments(conn)}
        if "bench_hq" not in existing:
            org.create_department(conn, {"name": "bench_hq"})
            for r in range(4):
                org.create_department(conn, {"name": f"bench_r{r}", "parent": "bench_hq"})
            for r in range(4):
                for b in range(4):
                    org.create_department(conn, {"name": f"bench_r{r}_b{b}",
                                                 "parent": f"bench_r{r}"})
        branch_ids = [org.department_id(conn, f"bench_r{r}_b{b}")
                      for r in range(4) for b in range(4)]
        table = tenant.schema(tenant.snapshot(conn)).table(DATASET_OBJECT)
        first = min(branch_ids)
        assert branch_ids == list(range(first, first + BRANCHES))
        conn.execute(table.update().values(department_id=first + table.c.id % BRANCHES))
        region = org.department_id(conn, "bench_r0")
    with tenant.engine.begin() as conn:
        # The tables the scoped query reads, not the whole database (on a shared PostgreSQL
        # server that would be every schema, and runs out of locks).
        quote = conn.dialect.identifier_preparer.quote
        for name in (table.name, "sys_department_closure", "sys_shares",
                     "sys_temporary_access", "sys_user_roles"):
            conn.exec_driver_sql(f"ANALYZE {quote(name)}")
    tenant.engine.dispose()  # pooled SQLite connections read statistics when they open
    designer = Designer(tenant)
    if not any(r["name"] == "bench_scoped" for r in designer.roles()):
        designer.create_role(SYSTEM, {"name": "bench_scoped", "permissions": {DATASET_OBJECT: {
            "operations": ["read"], "scope": "department_tree", "fields": {"notes": "hidden"}}}})
    with tenant.write() as conn:
        found = conn.execute(sa.text("SELECT id FROM sys_users WHERE username = 'bench_scoped'"))
        row = found.first()
        uid = row[0] if row else create_user(conn, "bench_scoped", "Bench-pass-123",
                                             department_id=region)
        org.set_roles(conn, uid, ["bench_scoped"], ["bench_scoped"])
    return Principal(uid, "bench_scoped", False, region, roles=frozenset({"bench_scoped"}))
