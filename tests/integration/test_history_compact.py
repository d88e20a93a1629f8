"""History is compact: one entry per write holding every field it changed (read back per
field, as before), one entry per backfill run, and a retention period that prunes old
entries in batches (``crmforge history prune``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from crmforge.core import clock
from crmforge.runtime import Designer, Instance, RecordService, retention
from crmforge.runtime.systables import history
from crmforge.security import SYSTEM

from ..conftest import ADMIN_PASSWORD

DEAL = {"name": "deal", "fields": [
    {"name": "title", "type": "text"}, {"name": "amount", "type": "decimal"},
    {"name": "stage", "type": "text"}, {"name": "notes", "type": "textarea"}]}


def _rows(tenant) -> list[sa.Row]:  # type: ignore[no-untyped-def]
    with tenant.read() as conn:
        return list(conn.execute(sa.select(history).order_by(history.c.id)))


def test_one_entry_per_write_read_back_per_field(tenant) -> None:
    Designer(tenant).create_object(SYSTEM, DEAL)
    svc = RecordService(tenant)
    made = svc.create(SYSTEM, "deal", {"title": "A", "amount": "5", "stage": "new",
                                       "notes": "n"})
    svc.update(SYSTEM, "deal", made["id"], {"amount": "6", "stage": "won", "version": 1})
    rows = _rows(tenant)
    assert [r.action for r in rows] == ["create", "update"]  # not one row per field
    items = svc.history(SYSTEM, "deal", made["id"])
    assert [(i["action"], i["field"], i["old"], i["new"]) for i in items] == [
        ("create", "title", None, "A"), ("create", "amount", None, "5.00"),
        ("create", "stage", None, "new"), ("create", "notes", None, "n"),
        ("update", "amount", "5.00", "6.00"), ("update", "stage", "new", "won")]
    assert {i["version"] for i in items[4:]} == {2}


def test_history_prunes_entries_older_than_the_period(tenant) -> None:
    Designer(tenant).create_object(SYSTEM, DEAL)
    svc = RecordService(tenant)
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    clock.set_clock(lambda: old)
    try:
        ids = svc.create_many(SYSTEM, "deal", [{"title": f"t{i}"} for i in range(12)])
    finally:
        clock.set_clock(None)
    svc.update(SYSTEM, "deal", ids[0], {"title": "new", "version": 1})
    assert len(_rows(tenant)) == 13
    assert retention.prune(tenant, 365, batch=5) == 12
    assert [r.action for r in _rows(tenant)] == ["update"]


def test_the_prune_command(tmp_path: Path) -> None:
    inst = Instance.init(tmp_path / "inst", ADMIN_PASSWORD)
    inst.dispose()
    cli = [sys.executable, "-m", "crmforge.cli", "history", "prune", "--instance",
           str(tmp_path / "inst")]
    r = subprocess.run(cli, capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "CRMFORGE_HISTORY_RETENTION_DAYS": ""})
    assert r.returncode == 2 and "no retention period" in r.stderr
    r = subprocess.run([*cli, "--older-than-days", "30"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "default: deleted 0 history entries older than 30 days" in r.stdout
