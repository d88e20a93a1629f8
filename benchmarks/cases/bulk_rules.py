"""bulk_rules: what validation rules and stored formulas cost on the import path.

Two objects of the same shape in the same run: one without logic (the baseline) and one
with three validation rules and two stored formulas. Both are filled through
``RecordService.create_many`` with the same rows, batch by batch, alternating which goes
first, so the ratio is the price of evaluating the expressions (and storing two more
columns with their history rows), not of the rest of the pipeline.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from crmforge.runtime import Designer, RecordService
from crmforge.security import SYSTEM

from ..data import as_request, object_doc, typed_rows
from ..report import BenchResult
from ..timing import Stats, timed
from .common import Context, create_object, value_figure

NAME = "bulk_rules"
PLAIN = "deal_plain"
RULED = "deal_ruled"
WARMUP_ROWS = 100
RULES = [
    {"name": "amount_sign", "condition": "is_blank(amount) or amount >= 0",
     "field": "amount", "message": {"en": "Amount may not be negative"}},
    {"name": "quantity_cap", "condition": "is_blank(quantity) or quantity < 100000",
     "field": "quantity", "message": {"en": "Quantity is too large"}},
    {"name": "title_set", "condition": "not is_blank(title)", "field": "title",
     "message": {"en": "A title is needed"}},
]
FORMULAS = [
    {"name": "total", "type": "formula", "result_type": "currency", "stored": True,
     "expression": "if_blank(amount, 0) * if_blank(quantity, 0)"},
    {"name": "label", "type": "formula", "result_type": "text", "stored": True,
     "expression": "concat(title, ' / ', if_blank(region, '-'))"},
]


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    tenant = ctx.scratch().tenant
    create_object(tenant, PLAIN)
    doc = object_doc(RULED)
    doc["fields"] += FORMULAS
    doc["validation_rules"] = RULES
    Designer(tenant).create_object(SYSTEM, doc)
    svc = RecordService(tenant)
    rng = random.Random(33)
    ruled: list[float] = []
    plain: list[float] = []

    def steps(rows: list[dict[str, Any]]) -> list[tuple[list[float], Callable[[], object]]]:
        return [(ruled, lambda: svc.create_many(SYSTEM, RULED, rows)),
                (plain, lambda: svc.create_many(SYSTEM, PLAIN, rows))]

    for _, fn in steps([as_request(r) for r in typed_rows(rng, WARMUP_ROWS)]):
        fn()
    total, batch = sizes.bulk_records, sizes.bulk_batch
    for i, start in enumerate(range(0, total, batch)):
        rows = [as_request(r) for r in typed_rows(rng, min(batch, total - start))]
        pair = steps(rows)
        for samples, fn in (reversed(pair) if i % 2 else pair):
            samples.append(timed(fn)[1])
    r, p = Stats.of(ruled), Stats.of(plain)
    result.figures.append(value_figure(
        "bulk_rules.rate", "records/s", total / sum(ruled), total / sum(plain), "higher",
        {"batch_ms": {"crmforge": r.scaled(1e3), "baseline": p.scaled(1e3)}}))
    result.details.update(records_per_side=total, batch=batch, rules=len(RULES),
                          stored_formulas=len(FORMULAS),
                          seconds={"with_rules": round(sum(ruled), 2),
                                   "without": round(sum(plain), 2)})
