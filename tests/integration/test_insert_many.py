"""Many rows at once (``Dialect.insert_many``: an import's records and their history) land
exactly as one row at a time does: on PostgreSQL they go by COPY from a batch of
``COPY_FROM`` rows, so text that COPY's format treats specially (tabs, line breaks,
backslashes, ``\\N``), empty text against null, numbers, dates, JSON and Chinese must come
back unchanged, and a unique index refuses a batch as it refuses an INSERT."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core.errors import ValidationFailed
from crmforge.runtime import Designer, RecordService, Tenant
from crmforge.runtime.storage.dialects import PostgresDialect
from crmforge.security import SYSTEM

TRICKY = ["tab\there", "line\nbreak\r\nand return", "back\\slash", "\\N", "\\.", "",
          "quote \" and ' apostrophe", "合同 №1 😀", "  spaced  ", ",;|comma"]
OBJECT: dict[str, Any] = {"name": "batch", "fields": [
    {"name": "title", "type": "text", "unique": True},
    {"name": "notes", "type": "textarea"},
    {"name": "amount", "type": "decimal", "scale": 2},
    {"name": "quantity", "type": "integer"},
    {"name": "due", "type": "date"},
    {"name": "met_at", "type": "datetime"},
    {"name": "done", "type": "boolean"},
    {"name": "scan", "type": "file"},
]}
BATCH = max(PostgresDialect.COPY_FROM, 60)


def _payload(i: int) -> dict[str, Any]:
    return {"notes": None if i % 7 == 3 else TRICKY[i % len(TRICKY)],
            "amount": None if i % 5 == 4 else f"{i * 37 - 400}.{i % 100:02d}",
            "quantity": None if i % 6 == 5 else i * 1000 - 7,
            "due": None if i % 4 == 2 else f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
            "met_at": None if i % 3 == 1 else f"2026-03-{i % 28 + 1:02d}T{i % 24:02d}:30:15Z",
            "done": None if i % 8 == 6 else i % 2 == 0}


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in OBJECT_FIELDS}


OBJECT_FIELDS = ["notes", "amount", "quantity", "due", "met_at", "done"]


@pytest.fixture
def service(tenant: Tenant) -> RecordService:
    Designer(tenant).create_object(SYSTEM, OBJECT)
    return RecordService(tenant)


def test_a_batch_reads_back_as_records_made_one_by_one(service: RecordService) -> None:
    payloads = [_payload(i) for i in range(BATCH)]
    batch = service.create_many(SYSTEM, "batch", [{**p, "title": f"B{i}"}
                                                 for i, p in enumerate(payloads)])
    singles = [service.create(SYSTEM, "batch", {**p, "title": f"S{i}"})["id"]
               for i, p in enumerate(payloads)]
    for i, (b, s) in enumerate(zip(batch, singles, strict=True)):
        got = _shown(service.get(SYSTEM, "batch", b))
        assert got == _shown(service.get(SYSTEM, "batch", s)), i
        if payloads[i]["notes"] is not None:
            assert got["notes"] == payloads[i]["notes"]  # tab, "\\N", "" and all
        history_b = [(h["field"], h["old"], h["new"])
                     for h in service.history(SYSTEM, "batch", b) if h["field"] != "title"]
        history_s = [(h["field"], h["old"], h["new"])
                     for h in service.history(SYSTEM, "batch", s) if h["field"] != "title"]
        assert history_b == history_s and history_b, i
    assert [service.get(SYSTEM, "batch", b)["notes"] for b in batch[:len(TRICKY)]] == \
        [None if i % 7 == 3 else TRICKY[i] for i in range(len(TRICKY))]


def _template(tenant: Tenant, conn: sa.Connection, rid: int) -> tuple[sa.Table, dict[str, Any]]:
    table = tenant.schema(tenant.snapshot(conn)).table("batch")
    row = dict(conn.execute(sa.select(table).where(table.c.id == rid)).one()._mapping)
    del row["id"]
    return table, row


def test_json_dates_and_numbers_go_through_the_batch_path_unchanged(
        tenant: Tenant, service: RecordService) -> None:
    first = service.create(SYSTEM, "batch", {"title": "T"})["id"]
    scan = {"id": 7, "name": "合同\t扫描 \\N.pdf", "size": 10, "content_type": "application/pdf"}
    with tenant.write() as conn:
        table, row = _template(tenant, conn, first)
        rows = [{**row, "title": f"J{i}", "scan": None if i % 2 else {**scan, "id": i},
                 "amount": Decimal("-12345678.90") if i % 3 else None,
                 "due": dt.date(2026, 2, 28), "met_at": dt.datetime(2026, 1, 2, 3, 4, 5),
                 "done": bool(i % 2), "quantity": 2**62 - i} for i in range(BATCH)]
        tenant.dialect.insert_many(conn, table, rows)
    with tenant.read() as conn:
        back = conn.execute(sa.select(table).where(table.c.title.like("J%"))
                            .order_by(table.c.id)).all()
    assert len(back) == BATCH
    for got, sent in zip(back, rows, strict=True):
        assert {k: got._mapping[k] for k in sent} == sent


def test_a_unique_index_refuses_a_batch_and_names_its_column(
        tenant: Tenant, service: RecordService) -> None:
    first = service.create(SYSTEM, "batch", {"title": "T"})["id"]
    with tenant.write() as conn:
        table, row = _template(tenant, conn, first)
        rows = [{**row, "title": f"U{i}"} for i in range(BATCH)]
        rows[-1]["title"] = "T"  # taken by the first record
        savepoint = conn.begin_nested()
        with pytest.raises(sa.exc.IntegrityError) as refused:
            tenant.dialect.insert_many(conn, table, rows)
        savepoint.rollback()
        assert tenant.dialect.unique_violation(refused.value, table) == "title"
        # the transaction goes on after the refusal
        tenant.dialect.insert_many(conn, table, rows[:-1])
    with tenant.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)
                             .where(table.c.title.like("U%"))).scalar()
    assert count == BATCH - 1


def test_an_import_size_batch_with_a_taken_value_refuses_only_that_row(
        tenant: Tenant, service: RecordService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value taken after the batch's checks read (a concurrent writer) is refused by the
    index; the batch is then written row by row and only that row is refused."""
    from crmforge.runtime import writes

    service.create(SYSTEM, "batch", {"title": "LATE"})
    monkeypatch.setattr(writes, "_present", lambda ctx, f, values: set())  # read too early
    out = service.create_each(SYSTEM, "batch", [{"title": f"R{i}"} for i in range(BATCH - 1)]
                              + [{"title": "LATE"}])
    assert all(isinstance(r, int) for r in out[:-1])
    refused = out[-1]
    assert isinstance(refused, ValidationFailed) and "title" in refused.fields
