"""approvals: approval actions per second with persistence, instance size, serialize and
restore time of the SpiffWorkflow state.

CRMForge side: ``ApprovalService.submit`` then ``act(..., "approve")`` on a one-step process
(each a write transaction: the restored workflow, task rows, lock, temporary access,
history, notification, the field update on approval). Baseline: the least an approval
must persist by hand in the same database, per action a transaction that updates the
record and inserts one action row. Size, serialize and restore compare the serialized
instance against ``json.dumps``/``json.loads`` of the same document.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crmforge.runtime import Designer, RecordService, Tenant
from crmforge.security import SYSTEM, Principal
from crmforge.security.tables import users
from crmforge.workflow import ApprovalService
from crmforge.workflow import engine as wf_engine
from crmforge.workflow.definitions import ProcessService
from crmforge.workflow.tables import instances, tasks

from .data import as_request, object_doc, typed_rows
from .report import BenchResult, Figure

if TYPE_CHECKING:  # the cases package imports this module: no import of it at run time
    from .cases.common import Context

NAME = "approvals"
OBJECT = "deal_wf"


def run(ctx: Context, result: BenchResult) -> None:
    count = 40 if ctx.config.quick else 300
    tenant = ctx.scratch().tenant
    Designer(tenant).create_object(SYSTEM, object_doc(OBJECT))
    ProcessService(tenant).create(SYSTEM, {
        "name": "bench_approval", "object": OBJECT, "entry_criteria": "amount >= 0",
        "steps": [{"name": "review", "approvers": {"users": ["admin"]}}],
        "on_approve": {"status": "'won'"}})
    rows = [as_request(r) for r in typed_rows(random.Random(5), count * 2)]
    ids = RecordService(tenant).create_many(SYSTEM, OBJECT, rows)
    admin = _admin(tenant)
    approvals = ApprovalService(tenant)
    started = time.perf_counter()
    for rid in ids[:count]:
        inst = approvals.submit(admin, OBJECT, rid)
        approvals.act(admin, _open_task(tenant, inst["id"]), "approve", {})
    measured = 2 * count / (time.perf_counter() - started)
    baseline = 2 * count / _baseline(tenant, ids[count:])
    result.figures.append(Figure("approvals.actions (rate)", "actions/s", measured,
                                       baseline, "higher"))
    # a running instance: its stored state, then serialize and restore it
    running = approvals.submit(admin, OBJECT, ids[count])
    with tenant.read() as conn:
        text = conn.execute(sa.select(instances.c.workflow).where(
            instances.c.id == running["id"])).scalar_one()
    as_dict = json.loads(text)
    compact = json.dumps({"step": "review", "votes": [], "approvers": [admin.user_id]})
    result.figures.append(Figure("approvals.instance size", "bytes", len(text.encode()),
                                       len(compact.encode())))
    host = _Host()
    eng = wf_engine.RestrictedEngine(host, ["review"])
    restore = _median(lambda: wf_engine.load(text, eng))
    result.figures.append(Figure("approvals.restore (median)", "us", restore,
                                       _median(lambda: json.loads(text))))
    workflow = wf_engine.load(text, eng)
    result.figures.append(Figure("approvals.serialize (median)", "us",
                                       _median(lambda: wf_engine.dump(workflow)),
                                       _median(lambda: json.dumps(as_dict))))
    result.details.update(approvals=count, instance_bytes=len(text.encode()))


class _Host:
    context = None

    def record(self) -> dict[str, Any]:
        return {}

    def resolver(self) -> None:
        return None

    def prepare_step(self, task: Any, step: str) -> None:
        raise RuntimeError("not run here")


def _median(fn: Any, n: int = 200) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e6)
    return statistics.median(samples)


def _admin(tenant: Tenant) -> Principal:
    with tenant.read() as conn:
        uid = conn.execute(sa.select(users.c.id).where(users.c.username == "admin")).scalar_one()
    return Principal(user_id=int(uid), username="admin", is_admin=True)


def _open_task(tenant: Tenant, instance_id: int) -> int:
    with tenant.read() as conn:
        return int(conn.execute(sa.select(tasks.c.id).where(
            tasks.c.instance_id == instance_id, tasks.c.status == "open")).scalar_one())


def _baseline(tenant: Tenant, ids: list[int]) -> float:
    """Seconds for the hand-written minimum: two transactions per record, each an update
    and an action row."""
    with tenant.read() as conn:
        table = tenant.schema(tenant.snapshot(conn)).table(OBJECT)
    log = sa.Table("bench_wf_log", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("record_id", sa.Integer), sa.Column("action", sa.String(20)),
                   sa.Column("state", sa.Text))
    with tenant.write() as conn:
        log.create(conn, checkfirst=True)
    started = time.perf_counter()
    for rid in ids:
        for action, status in (("submit", "open"), ("approve", "won")):
            with tenant.write() as conn:
                conn.execute(table.update().where(table.c.id == rid).values(
                    status=status, version=table.c.version + 1))
                conn.execute(log.insert().values(record_id=rid, action=action,
                                                 state='{"step": "review"}'))
    return time.perf_counter() - started


__all__ = ["NAME", "run"]
