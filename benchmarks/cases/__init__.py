"""The benchmark cases, in the order a run executes them.

Order matters: add_field_online changes the big object's schema, so it runs after
list_page, which reads the same object.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import approvals
from ..report import BenchResult
from . import (
    add_field_online,
    bulk_create,
    bulk_rules,
    create_one,
    derived_masking,
    events_overhead,
    export_xlsx,
    get_one,
    import_rows,
    list_page,
    list_scoped,
    many_tenants,
    page_render,
    read_scaling,
)
from .common import Context

Case = Callable[[Context, BenchResult], None]

CASES: dict[str, Case] = {
    get_one.NAME: get_one.run,
    create_one.NAME: create_one.run,
    list_page.NAME: list_page.run,
    list_scoped.NAME: list_scoped.run,
    derived_masking.NAME: derived_masking.run,
    bulk_create.NAME: bulk_create.run,
    bulk_rules.NAME: bulk_rules.run,
    events_overhead.NAME: events_overhead.run,
    import_rows.NAME: import_rows.run,
    export_xlsx.NAME: export_xlsx.run,
    page_render.NAME: page_render.run,
    add_field_online.NAME: add_field_online.run,
    approvals.NAME: approvals.run,
    read_scaling.NAME: read_scaling.run,
    many_tenants.NAME: many_tenants.run,
}
#: Cases that need the big table (so a run without them never loads it).
NEEDS_DATASET = frozenset({list_page.NAME, list_scoped.NAME, add_field_online.NAME})

__all__ = ["CASES", "NEEDS_DATASET", "Case", "Context"]
