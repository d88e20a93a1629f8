"""Durable background jobs: a backfill runs as a job on the queue (SQLite by default, a
real Redis at scale), reports progress, can be cancelled, retries from its checkpoint,
and survives kill -9 of the worker running it: a new worker sweeps the abandoned job and
finishes it from where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge import tasks
from crmforge.runtime import Designer, Instance, RecordService, jobs
from crmforge.runtime.instance import job_queue
from crmforge.security import SYSTEM

from ..conftest import ADMIN_PASSWORD

ITEM = {"name": "item", "fields": [
    {"name": "amount", "type": "integer"},
    {"name": "double", "type": "formula", "result_type": "integer", "stored": True,
     "expression": "amount * 2"}]}


def _items(tenant: Any, n: int) -> list[int]:
    return RecordService(tenant).create_many(SYSTEM, "item", [{"amount": i} for i in range(n)])


def _values(tenant: Any) -> dict[int, Any]:
    with tenant.read() as conn:
        t = tenant.schema(tenant.snapshot(conn)).table("item")
        return {r.id: (r.amount, r.double) for r in conn.execute(sa.select(t))}


def _job_rows(tenant: Any) -> list[Any]:
    with tenant.read() as conn:
        return list(conn.execute(sa.select(jobs.job_rows).order_by(jobs.job_rows.c.id)))


def _wait(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _change_expression(tenant: Any, expression: str) -> None:
    Designer(tenant).update_field(SYSTEM, "item", "double", {"expression": expression})


@pytest.fixture
def queued(instance: Instance, request: pytest.FixtureRequest) -> Any:
    url = request.getfixturevalue("redis_url") if getattr(request, "param", "") == "redis" \
        else None
    queue = tasks.install(instance, url)
    worker = tasks.Worker(queue, periodic=False)
    worker.start()
    yield queue
    worker.stop()
    instance.set_dispatcher(None)


@pytest.mark.parametrize("queued", ["sqlite", "redis"], indirect=True)
def test_a_backfill_runs_as_a_job_on_the_queue(instance, queued) -> None:
    tenant = instance.tenant("default")
    Designer(tenant).create_object(SYSTEM, ITEM)
    ids = _items(tenant, 1200)
    _change_expression(tenant, "amount * 3")
    _wait(lambda: any(r.kind == "backfill" and r.status == jobs.DONE for r in _job_rows(tenant)))
    row = [r for r in _job_rows(tenant) if r.kind == "backfill"][-1]
    assert row.processed == row.total == 1200 and row.attempts == 1
    values = _values(tenant)
    assert all(values[rid] == (i, i * 3) for i, rid in enumerate(ids))
    def index_empty() -> bool:
        with instance.control.connect() as conn:
            return conn.execute(sa.select(job_queue)).all() == []
    # Finished jobs leave the control index (the consumer clears it just after the job's
    # own row says done).
    _wait(index_empty)
    assert jobs.JobStore(tenant).get(row.id).as_dict()["status"] == "done"


def test_a_failing_job_is_retried_from_its_checkpoint_then_fails_for_good(tenant) -> None:
    store = jobs.JobStore(tenant)
    seen: list[Any] = []

    def flaky(ctx: jobs.JobContext) -> None:
        seen.append(ctx.job.checkpoint)
        ctx.report(len(seen) * 10, {"step": len(seen)})
        raise RuntimeError("downstream unavailable")

    jid = store.create("flaky", {})
    for _ in range(jobs.MAX_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            jobs.run(tenant, jid, {"flaky": flaky})
    done = jobs.run(tenant, jid, {"flaky": flaky})
    assert done is not None and done.status == jobs.FAILED and done.attempts == 3
    assert "downstream unavailable" in (done.error or "")
    assert seen == [None, {"step": 1}, {"step": 2}]  # each retry resumes from the last report
    assert jobs.run(tenant, jid, {"flaky": flaky}) is None  # finished: nobody claims it


def test_a_job_runs_once_and_can_be_cancelled(tenant) -> None:
    store = jobs.JobStore(tenant)
    jid = store.create("slow", {}, total=3)

    def slow(ctx: jobs.JobContext) -> None:
        assert jobs.JobStore(ctx.tenant).claim(ctx.job.id) is None  # a second claim fails
        ctx.report(1, {"at": 1})
        store.cancel(ctx.job.id)
        ctx.report(2, {"at": 2})  # raises: cancelled meanwhile
        raise AssertionError("not reached")

    job = jobs.run(tenant, jid, {"slow": slow})
    assert job is not None and job.status == jobs.CANCELLED and job.processed == 1


def _worker(inst_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "crmforge.cli", "worker", "--instance",
                             str(inst_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_a_backfill_survives_kill_9_of_its_worker(tmp_path: Path) -> None:
    inst_dir = tmp_path / "inst"
    inst = Instance.init(inst_dir, ADMIN_PASSWORD)
    env = {k: v for k, v in os.environ.items() if k != "CRMFORGE_DATABASE_URL"}
    env.update(CRMFORGE_BACKFILL_BATCH="50", CRMFORGE_BACKFILL_PAUSE="0.05",
               CRMFORGE_JOB_STALE_S="1", CRMFORGE_SWEEP_SECONDS="0.5")
    tenant = inst.tenant("default")
    Designer(tenant).create_object(SYSTEM, ITEM)
    ids = _items(tenant, 2000)
    worker = _worker(inst_dir, env)
    try:
        tasks.install(inst)  # this process submits to the queue the worker consumes
        _change_expression(tenant, "amount * 5")
        _wait(lambda: any(r.processed >= 300 for r in _job_rows(tenant)), timeout=120)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        row = _job_rows(tenant)[-1]
        assert row.status == jobs.RUNNING and 300 <= row.processed < 2000, row
        stopped_at = row.processed
        values = _values(tenant)
        assert any(v[1] == v[0] * 2 for v in values.values())  # unfinished: old values left
        worker = _worker(inst_dir, env)  # a new worker sweeps the abandoned job
        _wait(lambda: _job_rows(tenant)[-1].status == jobs.DONE, timeout=120)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        inst.dispose()
    row = _job_rows(tenant)[-1]
    assert row.attempts == 2 and row.processed == 2000 and row.processed >= stopped_at
    values = _values(tenant)
    assert all(values[rid] == (i, i * 5) for i, rid in enumerate(ids))
    assert all(isinstance(v[1], int | Decimal) for v in values.values())


def test_jobs_over_http(client, admin, instance) -> None:
    tenant = instance.tenant("default")
    Designer(tenant).create_object(SYSTEM, ITEM)
    _items(tenant, 10)
    _change_expression(tenant, "amount * 7")
    assert jobs.wait_local(60)
    jid = _job_rows(tenant)[-1].id
    r = client.get(f"/api/v1/jobs/{jid}", headers=admin)
    assert r.status_code == 200
    assert {k: r.json[k] for k in ("id", "kind", "status", "processed", "total")} == \
        {"id": jid, "kind": "backfill", "status": "done", "processed": 10, "total": 10}
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "olga", "password": "Olga-pass-2024!", "roles": []})
    assert r.status_code == 201
    from .conftest import sign_in
    olga = sign_in(client, username="olga", password="Olga-pass-2024!")
    assert client.get(f"/api/v1/jobs/{jid}", headers=olga).status_code == 404  # not hers
    for bad in ("abc", "99999999999999999999", "0", str(jid + 100)):
        r = client.get(f"/api/v1/jobs/{bad}", headers=admin)
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    queued = jobs.JobStore(tenant).create("backfill", {"version": 1, "jobs": []}, by="admin")
    r = client.post(f"/api/v1/jobs/{queued}/cancel", headers=admin)
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    r = client.post(f"/api/v1/jobs/{jid}/cancel", headers=admin)
    assert r.json["status"] == "done"  # a finished job stays as it is
