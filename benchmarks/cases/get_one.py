"""get_one: read one record by id, through the whole stack and through the service.

HTTP: Flask test client -> tenant and bearer-token resolution -> RecordService.get ->
JSON, against a minimal Flask route doing ``select(table).where(id == ...)`` + jsonify on
the same database file: once as the administrator and once as a department-scoped user with
a hidden field (the permission predicate and field rules in play; target at least 0.6x the
hand-written endpoint, i.e. a cost of at most 1.67x). Service: ``RecordService.get``
against the same Core select in a
plain connection, once as the system principal (what background jobs use) and once as the
signed-in admin (what an HTTP request uses: user principals also pay for the access
audit). The gaps between the three ratios locate the cost: HTTP layer, user-only work.
"""

from __future__ import annotations

import random

import sqlalchemy as sa

from crmforge.runtime import Designer, Tenant
from crmforge.security import SYSTEM, Principal, create_user, org, principal_for_token
from crmforge.web.app import create_app

from ..baseline import baseline_engine, minimal_app, plain_table
from ..config import ADMIN_PASSWORD
from ..data import SORT_FIELD, as_request, typed_rows
from ..report import BenchResult, Figure
from ..timing import compare
from .common import Context, Http, create_object, cycle_ids, ok, service, sign_in, time_figure

NAME = "get_one"
OBJECT = "deal_get"
SCOPED_USER = "get_scoped"


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    ws = ctx.scratch()
    tenant = ws.tenant
    create_object(tenant, OBJECT)
    rows = [as_request(r) for r in typed_rows(random.Random(11), sizes.get_seed_records)]
    ids = service(tenant).create_many(SYSTEM, OBJECT, rows)
    with tenant.read() as conn:
        table = plain_table(tenant.schema(tenant.snapshot(conn)).table(OBJECT))
    engine = baseline_engine(tenant)
    app = create_app(ws.instance)
    http = sign_in(app)
    _scoped_user(tenant, OBJECT, ids)
    scoped = sign_in(app, SCOPED_USER)
    try:
        result.figures.append(_http(ctx, http, engine, table, ids))
        result.figures.append(_http(ctx, scoped, engine, table, ids, "as scoped user "))
        result.figures.append(_service(ctx, "system", SYSTEM, tenant, engine, table, ids))
        admin = _principal(tenant, http)
        result.figures.append(_service(ctx, "admin", admin, tenant, engine, table, ids))
    finally:
        engine.dispose()
    result.details.update(records=len(ids), requests_per_side=sizes.get_requests,
                          warmup=sizes.warmup)


def _principal(tenant: Tenant, http: Http) -> Principal:
    """The principal behind the HTTP client's token, resolved the way a request does."""
    token = http.headers["Authorization"].removeprefix("Bearer ")
    with tenant.read() as conn:
        return principal_for_token(conn, token)


def _scoped_user(tenant: Tenant, object_name: str, ids: list[int]) -> None:
    """A role reading ``object_name`` in its department tree with ``notes`` hidden, and its
    user in the head office; the records sit in a branch below it (all in reach)."""
    with tenant.write() as conn:
        org.create_department(conn, {"name": "get_hq"})
        org.create_department(conn, {"name": "get_branch", "parent": "get_hq"})
        hq, branch = org.department_id(conn, "get_hq"), org.department_id(conn, "get_branch")
        table = tenant.schema(tenant.snapshot(conn)).table(object_name)
        conn.execute(table.update().where(table.c.id.in_(ids)).values(department_id=branch))
    Designer(tenant).create_role(SYSTEM, {"name": "get_scoped", "permissions": {object_name: {
        "operations": ["read"], "scope": "department_tree", "fields": {"notes": "hidden"}}}})
    with tenant.write() as conn:
        uid = create_user(conn, SCOPED_USER, ADMIN_PASSWORD, department_id=hq)
        org.set_roles(conn, uid, ["get_scoped"], ["get_scoped"])


def _http(ctx: Context, http: Http, engine: sa.Engine, table: sa.Table,
          ids: list[int], who: str = "") -> Figure:
    mini = minimal_app(engine, table, SORT_FIELD).test_client()
    ours, theirs = cycle_ids(ids, 1), cycle_ids(ids, 1)

    if who:  # checked before timing: parsing the answer is the client's cost, not ours
        for record_id in ids[:50]:
            url = f"/api/v1/records/{OBJECT}/{record_id}"
            if "notes" in ok(http.client.get(url, headers=http.headers), url).get_json():
                raise RuntimeError("get_one: the scoped user read a hidden field")

    def measured() -> None:
        url = f"/api/v1/records/{OBJECT}/{next(ours)}"
        ok(http.client.get(url, headers=http.headers), url)

    def baseline() -> None:
        url = f"/one/{next(theirs)}"
        ok(mini.get(url), url)

    sizes = ctx.config.sizes
    cmp = compare(measured, baseline, iterations=sizes.get_requests, warmup=sizes.warmup)
    return time_figure(f"get_one.http {who}(mean)", cmp)


def _service(ctx: Context, label: str, principal: Principal, tenant: Tenant,
             engine: sa.Engine, table: sa.Table, ids: list[int]) -> Figure:
    svc = service(tenant)
    ours, theirs = cycle_ids(ids, 2), cycle_ids(ids, 2)

    def measured() -> None:
        svc.get(principal, OBJECT, next(ours))

    def baseline() -> None:
        with engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == next(theirs))).first()
        assert row is not None
        dict(row._mapping)

    sizes = ctx.config.sizes
    cmp = compare(measured, baseline, iterations=sizes.get_requests, warmup=sizes.warmup)
    return time_figure(f"get_one.service as {label} (mean)", cmp)
