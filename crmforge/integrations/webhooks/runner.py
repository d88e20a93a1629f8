"""Sending deliveries: the ``webhook_deliveries`` job, retries and disabling.

A job is submitted after the consumer commits new deliveries (``kick``, unless one
this process queued has not started yet) and by the periodic work when a retry falls due
(``run_due``, ``next_due``). A run claims due deliveries in id order, a few at a time
(``sending``: a conditional update, so two runners never send the same one), sends each
(``delivery.post``) and records the outcome. Sending happens outside every record write:
a receiver that hangs delays only other deliveries, never a write.

Order per record: a delivery is not claimed while an earlier delivery of the same
webhook and record is pending, retrying or being sent, so a receiver gets a record's
events in the order they happened, a retry holding back what followed it.

Retries (decision 0024): after a timeout, a connection error or a non-2xx answer the
delivery is tried again after ``DELAYS`` (30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h,
8 h, 8 h): ``MAX_ATTEMPTS`` (10) attempts over about 24 hours, then it has ``failed``.
When a delivery fails for good and the webhook had no success since that delivery's
first attempt (its receiver failed for a whole day), the webhook is disabled and every
active administrator gets an in-app notification (and its e-mail). Its waiting deliveries
stay in the log and go out, in order, once an administrator enables it again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

import sqlalchemy as sa

from ...runtime import jobs
from ...runtime.instance import Tenant
from ...security.tables import users
from ...workflow.background import Kicker, earliest, queue_if_due
from ...workflow.notify import deliver_pending, notify
from . import consumer, delivery, sealing, signing
from .documents import url_problem
from .store import (
    DELIVERED,
    FAILED,
    PENDING,
    RETRYING,
    SENDING,
    UNFINISHED,
    deliveries,
    ensure_tables,
    now,
    webhooks,
)

log = logging.getLogger("crmforge.webhooks")

KIND = "webhook_deliveries"
#: Seconds to wait after failed attempt n (1-based) before attempt n + 1.
DELAYS = (30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
MAX_ATTEMPTS = len(DELAYS) + 1
#: A delivery claimed longer ago than this was left by a sender that died.
STALE_CLAIM = dt.timedelta(minutes=5)
BATCH = 20
#: Attempts per job run; what remains is left to the next run, queued at once.
PER_RUN = 500

def keep_days() -> int:
    """Days finished deliveries stay in the log (``CRMFORGE_WEBHOOK_LOG_DAYS``, 30)."""
    raw = os.environ.get("CRMFORGE_WEBHOOK_LOG_DAYS", "")
    return max(1, int(raw)) if raw.isdigit() else 30


# -- the job ----------------------------------------------------------------------------------
def handle(ctx: jobs.JobContext) -> None:
    if run(ctx.tenant) >= PER_RUN:
        kick(ctx.tenant)


#: Deliveries wait: make sure a job will send them (``workflow.background.Kicker``).
kick = Kicker(KIND, handle)


def run(tenant: Tenant, limit: int = PER_RUN) -> int:
    """Send what is due now, in order; how many attempts were made."""
    ensure_tables(tenant)
    made = 0
    while made < limit:
        claimed = _claim(tenant, min(BATCH, limit - made))
        if not claimed:
            break
        for row in claimed:
            _attempt(tenant, row)
            made += 1
    _prune(tenant)
    return made


def _unblocked() -> Any:
    """No earlier delivery of the same webhook and record is unfinished."""
    d = deliveries
    earlier = deliveries.alias("earlier")
    return ~sa.exists().where(earlier.c.webhook_id == d.c.webhook_id,
                              earlier.c.object_id == d.c.object_id,
                              earlier.c.record_id == d.c.record_id,
                              earlier.c.id < d.c.id, earlier.c.status.in_(UNFINISHED))


def _active() -> Any:
    return deliveries.c.webhook_id.in_(
        sa.select(webhooks.c.id).where(webhooks.c.active).scalar_subquery())


def _due(at: dt.datetime) -> Any:
    d = deliveries
    ready = sa.or_(sa.and_(d.c.status.in_([PENDING, RETRYING]), d.c.next_attempt_at <= at),
                   sa.and_(d.c.status == SENDING, d.c.claimed_at < at - STALE_CLAIM))
    return sa.and_(ready, _active(), _unblocked())


def _claim(tenant: Tenant, size: int) -> list[Any]:
    at = now()
    d = deliveries
    with tenant.write() as conn:
        ids = conn.execute(sa.select(d.c.id).where(_due(at)).order_by(d.c.id)
                           .limit(size)).scalars().all()
        if not ids:
            return []
        taken = conn.execute(d.update().where(
            d.c.id.in_(ids), sa.or_(d.c.status.in_([PENDING, RETRYING]),
                                    sa.and_(d.c.status == SENDING,
                                            d.c.claimed_at < at - STALE_CLAIM)))
            .values(status=SENDING, claimed_at=at,
                    first_attempt_at=sa.func.coalesce(d.c.first_attempt_at, at))
            .returning(d.c.id)).scalars().all()
        return list(conn.execute(sa.select(d, webhooks.c.url, webhooks.c.secret)
                                 .join(webhooks, webhooks.c.id == d.c.webhook_id)
                                 .where(d.c.id.in_(taken)).order_by(d.c.id)).all())


def body_of(row: Any) -> bytes:
    """The exact bytes of a delivery: its id, then the stored payload."""
    doc = {"id": int(row.id), **json.loads(row.payload)}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _attempt(tenant: Tenant, row: Any) -> None:
    problem = url_problem(row.url)
    if problem:
        outcome = delivery.Outcome(False, error=f"refused: {problem}")
    else:
        try:
            secret = sealing.open_secret(tenant, int(row.webhook_id), row.secret)
        except sealing.Unreadable:
            outcome = delivery.Outcome(False, error="the secret cannot be read (the instance "
                                                    "secret changed?): set a new secret")
        else:
            body = body_of(row)
            outcome = delivery.post(row.url, body,
                                    signing.headers(row.event, int(row.id), secret, body))
    _record(tenant, row, outcome)


def _record(tenant: Tenant, row: Any, outcome: delivery.Outcome) -> None:
    at = now()
    attempts = int(row.attempts or 0) + 1
    values: dict[str, Any] = {
        "attempts": attempts, "last_attempt_at": at, "claimed_at": None,
        "response_status": outcome.status, "response_excerpt": outcome.excerpt,
        "error": outcome.error, "duration_ms": outcome.duration_ms}
    retry_at: dt.datetime | None = None
    disabled = False
    with tenant.write() as conn:
        hook = conn.execute(sa.select(webhooks).where(webhooks.c.id == row.webhook_id)
                            .with_for_update()).first()
        if outcome.ok:
            values.update(status=DELIVERED, delivered_at=at, next_attempt_at=None)
        elif attempts >= MAX_ATTEMPTS:
            values.update(status=FAILED, next_attempt_at=None)
        else:
            retry_at = at + dt.timedelta(seconds=DELAYS[attempts - 1])
            values.update(status=RETRYING, next_attempt_at=retry_at)
        conn.execute(deliveries.update().where(deliveries.c.id == row.id,
                                               deliveries.c.status == SENDING).values(**values))
        if hook is None:
            return
        if outcome.ok:
            conn.execute(webhooks.update().where(webhooks.c.id == hook.id).values(
                consecutive_failures=0, last_success_at=at))
            return
        conn.execute(webhooks.update().where(webhooks.c.id == hook.id).values(
            consecutive_failures=webhooks.c.consecutive_failures + 1))
        first = row.first_attempt_at or at
        if values["status"] == FAILED and hook.active and (
                hook.last_success_at is None or hook.last_success_at < first):
            _disable(conn, hook, at)
            disabled = True
    if retry_at is not None and tenant.due_hint is not None:
        tenant.due_hint(tenant, retry_at)
    if disabled:
        consumer.invalidate(tenant)
        deliver_pending(tenant)


def _disable(conn: sa.Connection, hook: Any, at: dt.datetime) -> None:
    reason = (f"disabled after a delivery failed {MAX_ATTEMPTS} times over about a day "
              "without any success")
    conn.execute(webhooks.update().where(webhooks.c.id == hook.id).values(
        active=False, disabled_reason=reason, disabled_at=at))
    subject = f"Webhook 已停用 / Webhook disabled: {hook.name}"
    body = (f"Webhook“{hook.name}”（{hook.url}）的接收方约一天内一直未成功接收，已被停用。"
            "等待中的投递会保留；在管理后台检查接收方后重新启用，它们会按顺序发出。\n\n"
            f"The receiver of webhook '{hook.name}' ({hook.url}) failed for about a day "
            "without a single success, so the webhook was disabled. Waiting deliveries are "
            "kept; check the receiver, then enable the webhook again to send them in order.")
    admins = conn.execute(sa.select(users.c.id).where(users.c.is_admin, users.c.active)
                          .order_by(users.c.id)).scalars().all()
    for uid in admins:
        notify(conn, int(uid), "webhook_disabled", subject, body)


def _prune(tenant: Tenant) -> None:
    """Finished deliveries older than ``keep_days()`` leave the log (1,000 per run)."""
    cutoff = now() - dt.timedelta(days=keep_days())
    d = deliveries
    with tenant.write() as conn:
        old = sa.select(d.c.id).where(d.c.status.in_([DELIVERED, FAILED]),
                                      d.c.created_at < cutoff).limit(1000)
        conn.execute(d.delete().where(d.c.id.in_(old.scalar_subquery())))


# -- periodic work ----------------------------------------------------------------------------
def next_due(tenant: Tenant) -> dt.datetime | None:
    """When a delivery of an active webhook is next due (naive UTC), or None. Deliveries
    held back by an earlier one of their record wait for that one's time."""
    ensure_tables(tenant)
    d = deliveries
    with tenant.read() as conn:
        found = conn.execute(sa.select(sa.func.min(d.c.next_attempt_at)).where(
            d.c.status.in_([PENDING, RETRYING]), _active(), _unblocked())).scalar()
        claimed = conn.execute(sa.select(sa.func.min(d.c.claimed_at)).where(
            d.c.status == SENDING)).scalar()
    return earliest(found, claimed, STALE_CLAIM)


def run_due(tenant: Tenant, at: dt.datetime) -> bool:
    """Queue a run when something is due at ``at`` (naive UTC); whether one was."""
    return queue_if_due(tenant, at, next_due, kick)


__all__ = ["DELAYS", "KIND", "MAX_ATTEMPTS", "body_of", "handle", "keep_days", "kick",
           "next_due", "run", "run_due"]
