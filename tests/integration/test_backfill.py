"""Backfill of stored formulas and roll-ups added or changed on objects with rows."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crmforge.cli import main
from crmforge.runtime import RecordService, backfill
from crmforge.runtime.designer import Designer
from crmforge.runtime.systables import history
from crmforge.security.principal import SYSTEM

ITEM: dict[str, Any] = {"name": "item", "fields": [
    {"name": "code", "type": "text"},
    {"name": "amount", "type": "decimal", "scale": 2},
    {"name": "double", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "amount * 2"}]}
PART: dict[str, Any] = {"name": "part", "fields": [
    {"name": "item", "type": "master_detail", "target": "item"},
    {"name": "weight", "type": "decimal", "scale": 2}]}


@pytest.fixture
def designer(tenant) -> Designer:  # type: ignore[no-untyped-def]
    d = Designer(tenant)
    d.background_backfill = False  # the tests run the backfill themselves
    d.create_object(SYSTEM, ITEM)
    d.create_object(SYSTEM, PART)
    return d


def _items(tenant: Any, n: int) -> list[int]:
    rows = [{"code": f"c{i}", "amount": i} for i in range(n)]
    return RecordService(tenant).create_many(SYSTEM, "item", rows)


def _column(tenant: Any, name: str) -> dict[int, Any]:
    with tenant.read() as conn:
        t = tenant.schema(tenant.snapshot(conn)).table("item")
        return {r.id: r[1] for r in conn.execute(sa.select(t.c.id, t.c[name]))}


def _change_expression(designer: Designer, expression: str) -> list[backfill.Job]:
    old = designer.snapshot()
    designer.update_field(SYSTEM, "item", "double", {"expression": expression})
    return backfill.plan(old, designer.snapshot())


def test_a_changed_expression_is_backfilled_in_batches(tenant, designer) -> None:
    ids = _items(tenant, 1234)
    jobs = _change_expression(designer, "amount * 3")
    assert jobs == [backfill.Job("item", "formula", ("double",))]
    # Until the backfill reaches a row, the row keeps its old value...
    assert _column(tenant, "double")[ids[7]] == Decimal(14)
    # ...unless it is written, which computes it anew.
    RecordService(tenant).update(SYSTEM, "item", ids[7], {"code": "x", "version": 1})
    assert _column(tenant, "double")[ids[7]] == Decimal(21)
    progress = backfill.run(tenant, jobs, batch=500)
    # amount 0 gives 0 either way, and the row written meanwhile is already right
    assert (progress.batches, progress.rows, progress.changed) == (3, 1234, 1232)
    values = _column(tenant, "double")
    assert all(values[rid] == Decimal(i * 3) for i, rid in enumerate(ids))
    versions = _column(tenant, "version")
    assert versions[ids[0]] == 1 and versions[ids[7]] == 2  # no version bump
    # One history entry for the whole run, none per row (the create keeps its one entry).
    with tenant.read() as conn:
        rows = conn.execute(sa.select(history.c.record_id, history.c.action, history.c.field,
                                      history.c.new_value)
                            .where(history.c.action == "backfill")).all()
        per_record = conn.execute(sa.select(history.c.action).where(
            history.c.record_id == ids[1])).scalars().all()
        total = conn.execute(sa.select(sa.func.count()).select_from(history)).scalar()
    assert [(r.record_id, r.field) for r in rows] == [(0, "double")]
    assert json.loads(rows[0].new_value)["changed"] == 1232
    assert per_record == ["create"]
    assert total == 1234 + 1 + 1  # a create each, the update of row 7, the run
    assert backfill.run(tenant, jobs).changed == 0  # repeating it changes nothing


def test_a_field_made_stored_and_a_new_rollup_are_backfilled(tenant, designer) -> None:
    ids = _items(tenant, 3)
    RecordService(tenant).create_many(SYSTEM, "part", [
        {"item": ids[0], "weight": 2}, {"item": ids[0], "weight": 5}, {"item": ids[1],
                                                                      "weight": 1}])
    old = designer.snapshot()
    designer.add_field(SYSTEM, "item", {"name": "total_weight", "type": "rollup",
                                        "function": "sum", "child": "part",
                                        "field": "weight"})
    designer.add_field(SYSTEM, "item", {"name": "label", "type": "formula",
                                        "result_type": "text", "stored": True,
                                        "expression": "concat(code, '!')"})
    jobs = backfill.plan(old, designer.snapshot())
    assert {(j.kind, j.fields) for j in jobs} == {("formula", ("label",)),
                                                  ("rollup", ("total_weight",))}
    assert set(_column(tenant, "total_weight").values()) == {None}
    backfill.run(tenant, jobs)
    assert _column(tenant, "total_weight") == {ids[0]: Decimal(7), ids[1]: Decimal(1),
                                               ids[2]: Decimal(0)}
    assert _column(tenant, "label")[ids[2]] == "c2!"


def test_reads_and_writes_go_on_during_a_backfill(tenant, designer) -> None:
    ids = _items(tenant, 1500)
    jobs = _change_expression(designer, "amount * 5")
    service = RecordService(tenant)
    progress = backfill.Progress()
    worker = threading.Thread(target=backfill.run, args=(tenant, jobs),
                              kwargs={"batch": 100, "pause": 0.05, "progress": progress})
    started = time.monotonic()
    worker.start()
    slowest, done = 0.0, 0
    while worker.is_alive() and done < 10:
        rid = ids[-1 - done]
        t0 = time.monotonic()
        got = service.get(SYSTEM, "item", rid)
        service.update(SYSTEM, "item", rid, {"amount": 1, "version": got["version"]})
        slowest = max(slowest, time.monotonic() - t0)
        done += 1
    worker.join(120)
    assert not worker.is_alive() and time.monotonic() - started < 120
    assert done >= 1 and slowest < 5  # never blocked for the whole backfill
    assert progress.batches == 15
    values = _column(tenant, "double")
    for i, rid in enumerate(ids):
        expected = Decimal(5) if rid in ids[-done:] else Decimal(i * 5)
        assert values[rid] == expected


def test_a_change_through_the_designer_backfills_in_the_background(tenant) -> None:
    d = Designer(tenant)
    d.create_object(SYSTEM, ITEM)
    ids = _items(tenant, 20)
    d.update_field(SYSTEM, "item", "double", {"expression": "amount + 1"})
    assert backfill.wait(60)
    values = _column(tenant, "double")
    assert all(values[rid] == Decimal(i + 1) for i, rid in enumerate(ids))


def test_the_command_line_recomputes_stored_values(instance, tenant, designer) -> None:
    ids = _items(tenant, 30)
    _change_expression(designer, "amount - 1")
    result = CliRunner().invoke(main, ["backfill", "--instance", str(instance.path),
                                       "--object", "item", "--batch", "7"])
    assert result.exit_code == 0, result.output
    assert "recomputed 30 rows in 5 batches; 30 changed" in result.output
    values = _column(tenant, "double")
    assert all(values[rid] == Decimal(i - 1) for i, rid in enumerate(ids))
