"""export_xlsx: export N records to XLSX, against writing the same cells with the
spreadsheet library alone; and the export's peak memory at N/4 and at N rows.

CRMForge: ``SheetExport`` + ``xlsx_file`` as ``GET .../export?format=xlsx`` runs them (the
reader's visibility and readable fields, keyset pages, labels as headers, picklist labels,
owners as names, typed cells, every page audited), read to the end. Baseline: the same rows
read with one plain Core select and written cell by cell into openpyxl's write-only
workbook, saved to a temporary file. Memory: ``tracemalloc`` peak of the export of a
quarter of the rows and of all of them (streamed: the two should be close, a ratio near 1).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from typing import Any

import sqlalchemy as sa

from crmforge.core.filters import ListQuery, parse_list_query
from crmforge.runtime import RecordService
from crmforge.runtime.exports import SheetExport, xlsx_file
from crmforge.security import SYSTEM

from ..baseline import baseline_engine
from ..data import bulk_load
from ..report import BenchResult
from .common import Context, create_object, value_figure

NAME = "export_xlsx"
OBJECT = "deal_export"


def run(ctx: Context, result: BenchResult) -> None:
    rows = ctx.config.sizes.export_rows
    ws = ctx.scratch()
    tenant = ws.tenant
    create_object(tenant, OBJECT)
    with tenant.write() as conn:
        table = tenant.schema(tenant.snapshot(conn)).table(OBJECT)
        for _ in bulk_load(conn, table, rows, seed=3):
            pass
    svc = RecordService(tenant)
    engine = baseline_engine(tenant)
    try:
        ours, theirs = [], []
        for _ in range(3):  # interleaved rounds, best of each (the machine is shared)
            ours.append(_timed(lambda: _export(svc, parse_list_query([]), rows)))
            theirs.append(_timed(lambda: _plain(engine, table)))
        result.figures.append(value_figure(
            "export_xlsx.rows per second", "rows/s", rows / min(ours), rows / min(theirs),
            "higher", {"crmforge_s": ours, "baseline_s": theirs, "rows": rows}))
        quarter = parse_list_query([("id__lte", str(rows // 4))])
        small = _peak(lambda: _export(svc, quarter, rows // 4))
        large = _peak(lambda: _export(svc, parse_list_query([]), rows))
        result.figures.append(value_figure(
            f"export_xlsx.peak memory, {rows:,} vs {rows // 4:,} rows", "MiB",
            large / 2**20, small / 2**20, "lower",
            {"note": "streamed: the ratio stays near 1 as the file grows"}))
        result.details.update(rows=rows)
    finally:
        engine.dispose()


def _export(svc: RecordService, q: ListQuery, expected: int) -> None:
    export = SheetExport(svc, SYSTEM, OBJECT, q)
    rows = 0
    original = export.rows

    def counted() -> Any:
        nonlocal rows
        for row in original():
            rows += 1
            yield row

    export.rows = counted  # type: ignore[method-assign]
    size = sum(len(block) for block in xlsx_file(export))
    if rows != expected or size < 1000:
        raise RuntimeError(f"export_xlsx: {rows} rows exported, {expected} expected")


def _plain(engine: sa.Engine, table: sa.Table) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title="records")
    columns = [c for c in table.c if c.name not in ("deleted_at", "deleted_batch")]
    sheet.append([c.name for c in columns])
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=500).execute(
            sa.select(*columns).where(table.c.deleted_at.is_(None)).order_by(table.c.id))
        for row in result:
            sheet.append(list(row))
    with tempfile.TemporaryFile() as handle:
        book.save(handle)


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
