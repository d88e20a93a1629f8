"""derived_masking: what hiding derived values costs a restricted reader.

Formulas and roll-ups over hidden fields are hidden through the permission plan, and
values read through related records the reader cannot see are masked per row (in Python
on reads, as SQL ``CASE`` in filters and sort). This case measures reads and lists of a
restricted user on an object that has both kinds of derived fields, with that masking,
against the same calls without it (the engine as it was before: derived fields shown as
computed), in the same run, interleaved. The baseline switches the two steps off for its
own calls only (a separate role set, so its permission plan is compiled and cached
without derived hiding; ``row_paths`` answers nothing while it runs).

Target (trust issue): reads and lists at most 10% slower with masking.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from crmforge.core.filters import parse_list_query
from crmforge.runtime import Designer, RecordService, Tenant, formulas, masking
from crmforge.security import SYSTEM, Principal, create_user, org, policy

from ..report import BenchResult
from ..timing import compare
from .common import Context, cycle_ids, time_figure

NAME = "derived_masking"

SUPPLIER = {"name": "bm_supplier", "fields": [
    {"name": "sname", "type": "text", "required": True},
    {"name": "rating", "type": "text"}]}
PRODUCT = {"name": "bm_product", "fields": [
    {"name": "title", "type": "text", "required": True, "indexed": True},
    {"name": "status", "type": "picklist", "indexed": True,
     "choices": [{"value": "open"}, {"value": "won"}]},
    {"name": "price", "type": "decimal"},
    {"name": "cost", "type": "decimal"},
    {"name": "supplier", "type": "lookup", "target": "bm_supplier"},
    {"name": "margin", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "price - cost"},
    {"name": "margin_pct", "type": "formula", "result_type": "decimal",
     "expression": "margin / price * 100"},
    {"name": "price2", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "price * 2"},
    {"name": "rating_stored", "type": "formula", "result_type": "text", "stored": True,
     "indexed": True, "expression": "supplier.rating"},
    {"name": "rating_live", "type": "formula", "result_type": "text",
     "expression": "supplier.rating"}]}
LIST = [("status", "open"), ("sort", "title"), ("limit", "50")]
LIST_MASKED_SORT = [("status", "open"), ("sort", "rating_stored"), ("limit", "50")]


def _permissions() -> dict[str, Any]:
    return {"bm_product": {"operations": ["read"], "scope": "all", "fields": {"cost": "hidden"}},
            "bm_supplier": {"operations": ["read"], "scope": "own"}}


def run(ctx: Context, result: BenchResult) -> None:
    tenant = ctx.scratch().tenant
    count = 2_000 if ctx.config.quick else 20_000
    ids = _populate(tenant, count)
    masked_user = _user(tenant, "bm_masked")
    plain_user = _user(tenant, "bm_plain")
    svc = RecordService(tenant)
    # Warm both plans: the baseline's is compiled (and cached) without derived hiding.
    svc.get(masked_user, "bm_product", ids[0])
    with _unmasked():
        svc.get(plain_user, "bm_product", ids[0])
    if "margin" in svc.get(masked_user, "bm_product", ids[1]):
        raise RuntimeError("derived_masking: the masked reader sees a derived hidden field")

    def baseline(call: Callable[[], object]) -> Callable[[], object]:
        def run_unmasked() -> object:
            with _unmasked():
                return call()
        return run_unmasked

    sizes = ctx.config.sizes
    walk_m, walk_b = cycle_ids(ids, 11), cycle_ids(ids, 11)
    cmp = compare(lambda: svc.get(masked_user, "bm_product", next(walk_m)),
                  baseline(lambda: svc.get(plain_user, "bm_product", next(walk_b))),
                  iterations=sizes.get_requests, warmup=20)
    result.figures.append(time_figure("derived_masking.get (mean)", cmp))
    for label, params in (("list", LIST), ("list by a masked field", LIST_MASKED_SORT)):
        q = parse_list_query(params)
        cmp = compare(lambda q=q: svc.list(masked_user, "bm_product", q),  # type: ignore[misc]
                      baseline(lambda q=q: svc.list(plain_user, "bm_product", q)),  # type: ignore[misc]
                      iterations=sizes.list_requests, warmup=2, budget_s=sizes.list_budget_s)
        result.figures.append(time_figure(f"derived_masking.{label} (median)", cmp,
                                          unit="ms/page", factor=1e3, use="median"))
    result.details.update(records=count, target_ratio=1.1,
                          masked=["margin", "margin_pct (hidden)",
                                  "rating_stored", "rating_live (per row)"])


@contextmanager
def _unmasked() -> Iterator[None]:
    """The engine without derived masking, for the baseline's calls only."""
    saved = (policy._hide_derived, masking.row_paths, formulas.row_paths)
    policy._hide_derived = lambda snapshot, grants: grants  # type: ignore[assignment]
    masking.row_paths = formulas.row_paths = lambda ctx, obj: {}  # type: ignore[assignment]
    try:
        yield
    finally:
        policy._hide_derived, masking.row_paths, formulas.row_paths = saved  # type: ignore[assignment]


def _populate(tenant: Tenant, count: int) -> list[int]:
    designer = Designer(tenant)
    designer.create_object(SYSTEM, SUPPLIER)
    designer.create_object(SYSTEM, PRODUCT)
    svc = RecordService(tenant)
    suppliers = svc.create_many(SYSTEM, "bm_supplier", [
        {"sname": f"s{i}", "rating": random.Random(i).choice(["gold", "silver", "bronze"])}
        for i in range(100)])
    rnd = random.Random(7)
    ids: list[int] = []
    for start in range(0, count, 1_000):
        ids += svc.create_many(SYSTEM, "bm_product", [
            {"title": f"p{i:06d}", "status": rnd.choice(["open", "won"]),
             "price": str(rnd.randint(100, 999)), "cost": str(rnd.randint(10, 99)),
             "supplier": rnd.choice(suppliers)} for i in range(start, min(count, start + 1_000))])
    with tenant.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    tenant.engine.dispose()
    return ids


def _user(tenant: Tenant, name: str) -> Principal:
    """A reader with ``cost`` hidden and the suppliers of their own only (none: every
    supplier stays the system's), so both kinds of masking apply to every row."""
    Designer(tenant).create_role(SYSTEM, {"name": name, "permissions": _permissions()})
    with tenant.write() as conn:
        uid = create_user(conn, name, "Bench-pass-123")
        org.set_roles(conn, uid, [name], [name])
    return Principal(uid, name, False, None, roles=frozenset({name}))
