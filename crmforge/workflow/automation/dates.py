"""Date rules: a periodic scan finds the records whose date, moved by ``offset_days``,
falls on today, and runs the rule for each of them once per occurrence.

Decisions (0025):
- *Today* is the day in the rule's ``timezone`` (IANA name, default UTC, the zone of the
  expression language's ``today()``), so a Shanghai office's reminder fires on its own
  day, whatever the server's zone.
- ``offset_days`` moves the firing day: -30 fires 30 days before the date, 1 the day
  after. A rule with ``"yearly": true`` fires on every anniversary of the date (moved by
  the offset) from the date itself on: birthdays, contract anniversaries, key dates. A
  29 February date fires on 28 February in other years.
- Once per occurrence: what fired is remembered in ``sys_automation_fired`` by (rule,
  record, day), so scans can run as often as they like, and a yearly rule fires again
  next year. A record whose date changes to another future day fires again on that day.
- Each rule remembers the last day its scan covered (``sys_automation_scans``); the next
  scan covers the days since then (at most ``CATCH_UP_DAYS``), so a server that was down
  on the day catches up, while a new rule never fires for dates already past. A date
  moved into a day already covered does not fire.
- The condition is evaluated on the day it fires; a rule whose condition does not hold is
  asked again by the next scan of that day, and fires if it then holds.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import os
import threading
import time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ...core import clock
from ...runtime.context import utcnow
from ...runtime.instance import Tenant
from . import delivery
from .actions import Firing
from .compiled import Rule, rules
from .documents import automation_docs
from .runner import run_rule
from .tables import ensure_tables, fired, scans

if TYPE_CHECKING:
    from ...runtime import Instance

log = logging.getLogger("crmforge.automation")

CATCH_UP_DAYS = 7
#: Records one rule fires for per day and scan; the rest wait for the next scan.
BATCH = 500
#: Seconds between two scans of one tenant by the periodic step.
SCAN_EVERY = float(os.environ.get("CRMFORGE_DATE_RULES_SECONDS", "600") or 600)

_scanned: dict[tuple[str, str], float] = {}
_scanned_lock = threading.Lock()
#: Tenants with webhook calls waiting for a retry.
_waiting: set[tuple[str, str]] = set()


def today_for(rule: Rule, now: dt.datetime | None = None) -> dt.date:
    zone = ZoneInfo(str(rule.doc.get("timezone") or "UTC"))
    return (now or clock.now()).astimezone(zone).date()


def scan(tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Fire the date rules of a tenant that are due; how many times a rule ran."""
    with tenant.read() as conn:
        snapshot = tenant.snapshot(conn)
    dated = rules(snapshot).dated
    if not dated:
        return 0
    ensure_tables(tenant)
    total = 0
    for rule in dated:
        try:
            total += _scan_rule(tenant, rule, now)
        except Exception:  # one rule's failure must not stop the others
            log.exception("date rule %s of tenant %s failed", rule.name, tenant.name)
    if any(a["type"] == "webhook" for r in dated for a in r.actions):
        delivery.deliver_quietly(tenant)
    return total


def _scan_rule(tenant: Tenant, rule: Rule, now: dt.datetime | None) -> int:
    today = today_for(rule, now)
    with tenant.read() as conn:
        last = conn.execute(sa.select(scans.c.last_day).where(scans.c.rule == rule.name)).scalar()
    start = last if last is not None and last <= today else today
    start = max(start, today - dt.timedelta(days=CATCH_UP_DAYS))
    total = 0
    day = start
    while day <= today:
        count, complete = _fire_day(tenant, rule, day)
        total += count
        if not complete:
            return total  # the rest of the day waits for the next scan
        day += dt.timedelta(days=1)
    with tenant.write() as conn:
        done = conn.execute(scans.update().where(scans.c.rule == rule.name)
                            .values(last_day=today)).rowcount
        if not done:
            conn.execute(scans.insert().values(rule=rule.name, last_day=today))
    return total


def _fire_day(tenant: Tenant, rule: Rule, day: dt.date) -> tuple[int, bool]:
    """Run the rule for the records due on ``day``; (how many ran, whether all were seen)."""
    with tenant.write() as conn:
        snapshot = tenant.snapshot(conn)
        current = next((r for r in rules(snapshot).dated if r.name == rule.name), None)
        if current is None:  # disabled or removed meanwhile
            return 0, True
        table = tenant.schema(snapshot).table(current.obj.name)
        col = table.c[str(current.doc["date_field"])]
        target = day - dt.timedelta(days=int(current.doc.get("offset_days", 0)))
        done = sa.exists().where(fired.c.rule == current.name, fired.c.record_id == table.c.id,
                                 fired.c.occurrence == day)
        ids = [int(r[0]) for r in conn.execute(
            sa.select(table.c.id).where(table.c.deleted_at.is_(None), _on(col, target, current),
                                        ~done).order_by(table.c.id).limit(BATCH))]
        ran = 0
        for rid in ids:
            firing = Firing(tenant, conn, snapshot, current, rid, 0, f"date {day.isoformat()}")
            if run_rule(firing):
                conn.execute(fired.insert().values(rule=current.name, record_id=rid,
                                                   occurrence=day, at=utcnow()))
                ran += 1
        return ran, len(ids) < BATCH


def _on(col: sa.Column[object], target: dt.date, rule: Rule) -> sa.ColumnElement[bool]:
    """Records whose date makes the rule fire on the day ``target`` + offset."""
    if not rule.doc.get("yearly"):
        return col == target
    same = sa.and_(sa.extract("month", col) == target.month,
                   sa.extract("day", col) == target.day)
    if target.month == 2 and target.day == 28 and not calendar.isleap(target.year):
        same = sa.or_(same, sa.and_(sa.extract("month", col) == 2, sa.extract("day", col) == 29))
    return sa.and_(col <= target, same)


def run_all(instance: Instance, now: dt.datetime | None = None, *,
            every: float | None = None) -> int:
    """The periodic step: scan each tenant with automation rules at most every ``every``
    seconds (``CRMFORGE_DATE_RULES_SECONDS``); retry due webhook calls of tenants that
    have some waiting at every step. How many times a rule ran."""
    gap = SCAN_EVERY if every is None else every
    total = 0
    for name in instance.tenant_names():
        key = (str(instance.path), name)
        with _scanned_lock:
            due = time.monotonic() - _scanned.get(key, -gap - 1) >= gap
            if due:
                _scanned[key] = time.monotonic()
            retry = key in _waiting
        if not (due or retry):
            continue
        try:
            tenant = instance.tenant(name)
            if due:
                with tenant.read() as conn:
                    if not automation_docs(tenant.snapshot(conn)):
                        continue
                total += scan(tenant, now)
            delivery.deliver_quietly(tenant)
            with _scanned_lock:
                if delivery.waiting(tenant):
                    _waiting.add(key)
                else:
                    _waiting.discard(key)
        except Exception:  # one tenant's failure must not stop the others
            log.exception("automation date rules of tenant %s failed", name)
    return total


__all__ = ["CATCH_UP_DAYS", "SCAN_EVERY", "run_all", "scan", "today_for"]
