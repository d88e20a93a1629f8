"""Reminders and escalation of approval tasks that wait too long.

Due times are columns of the task rows (``remind_at``, ``escalate_at``), set when a task
opens from its step's ``timeout``; ``run_due(tenant, now)`` handles whatever is due. A
background ticker calls it (``Ticker``), tests call it with a moved clock. Everything is in
the database, so a restart loses nothing: the next call finds what is due. Escalation
moves the task to ``escalate_to`` (the assignee's manager, the process administrator, or
a named user) and records an ``escalate`` action; the new holder gets fresh due times.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..runtime.instance import Tenant
from ..security.principal import SYSTEM
from . import people
from .notify import deliver_pending, notify
from .run import Run, load_instance
from .tables import ensure_tables, tasks

log = logging.getLogger("crmforge.workflow")


def _naive(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def run_due(tenant: Tenant, now: dt.datetime | None = None) -> dict[str, int]:
    """Send due reminders and escalate overdue tasks; returns how many of each."""
    ensure_tables(tenant)
    at = _naive(now or clock.now())
    reminded = escalated = 0
    with tenant.write() as conn:
        for r in conn.execute(sa.select(tasks).where(
                tasks.c.status == "open", tasks.c.remind_at.is_not(None),
                tasks.c.remind_at <= at).order_by(tasks.c.id)).all():
            notify(conn, r.assignee_id, "reminder", "Reminder: an approval waits for you",
                   f"Task {r.id} (step {r.step}) has been waiting since "
                   f"{r.created_at:%Y-%m-%d %H:%M} UTC.", instance_id=r.instance_id, task_id=r.id)
            conn.execute(tasks.update().where(tasks.c.id == r.id).values(remind_at=None))
            reminded += 1
        due = conn.execute(sa.select(tasks.c.instance_id).where(
            tasks.c.status == "open", tasks.c.escalate_at.is_not(None),
            tasks.c.escalate_at <= at).distinct()).scalars().all()
        for iid in due:
            escalated += _escalate(tenant, conn, int(iid), at)
    deliver_pending(tenant)
    return {"reminded": reminded, "escalated": escalated}


def _escalate(tenant: Tenant, conn: sa.Connection, instance_id: int, at: dt.datetime) -> int:
    inst = load_instance(conn, instance_id, lock=True)
    run = Run(tenant, conn, inst)
    count = 0
    for r in conn.execute(sa.select(tasks).where(
            tasks.c.instance_id == instance_id, tasks.c.status == "open",
            tasks.c.escalate_at.is_not(None), tasks.c.escalate_at <= at)).all():
        target = _target(conn, run, r)
        if target is None or target == r.assignee_id:
            conn.execute(tasks.update().where(tasks.c.id == r.id).values(escalate_at=None))
            continue
        run.log(SYSTEM, "escalate", step=r.step, task_id=r.id, details={"from": r.assignee_id,
                                                                        "to": target})
        run.spiff_task(r.spiff_id).data["approver"] = target
        run.close(r, "done", "escalated")
        notify(conn, r.assignee_id, "escalated", "An approval task was escalated",
               f"Task {r.id} (step {r.step}) waited too long and went to someone else.",
               instance_id=instance_id, task_id=r.id)
        count += 1
    run.sync()
    run.save()
    return count


def _target(conn: sa.Connection, run: Run, task_row: Any) -> int | None:
    to = run.step_defs.get(task_row.step, {}).get("timeout", {}).get("escalate_to", "manager")
    if to == "admin":
        return people.process_admin(conn)
    if to == "manager":
        return people.manager_of(conn, task_row.assignee_id) or people.process_admin(conn)
    return people.user_by_ref(conn, to) or people.process_admin(conn)


class Ticker:
    """Calls ``run_due`` for every tenant at a fixed interval in a daemon thread."""

    def __init__(self, tenants: Callable[[], list[Tenant]], interval: float = 60.0) -> None:
        self.tenants, self.interval = tenants, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="crmforge-approvals",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for tenant in self.tenants():
                try:
                    run_due(tenant)
                except Exception:  # one tenant's failure must not stop the others' timers
                    log.exception("approval timeouts of tenant %s failed", tenant.name)


__all__ = ["Ticker", "run_due"]
