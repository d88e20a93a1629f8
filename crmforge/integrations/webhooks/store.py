"""The webhook tables of a tenant: registrations and their delivery log.

``sys_webhooks`` holds what an administrator registered (the secret sealed,
``sealing.py``) and the health of the receiver (failures in a row, last success, why it
was disabled). ``sys_webhook_deliveries`` holds one row per (webhook, event): the payload
as the webhook's owner could see the record when the event was handled, and the state of
sending it (``status``, ``attempts``, ``next_attempt_at``, the last answer). Both are
created on first use (``LazyTables``), like every system table added after tenants
existed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from ...core import clock
from ...runtime.instance import Tenant
from ...runtime.lazy_tables import LazyTables

#: Delivery states. ``pending``: not tried yet (or waiting for an earlier delivery of the
#: same record); ``retrying``: failed, tried again at ``next_attempt_at``; ``sending``:
#: claimed by a sender; ``delivered``: a 2xx answer; ``failed``: given up for good.
PENDING, RETRYING, SENDING, DELIVERED, FAILED = (
    "pending", "retrying", "sending", "delivered", "failed")
UNFINISHED = (PENDING, RETRYING, SENDING)

_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")
webhooks_metadata = sa.MetaData()
webhooks = sa.Table(
    "sys_webhooks",
    webhooks_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),   # JSON list of event names, or ["*"]
    sa.Column("objects", sa.Text, nullable=False),  # JSON list of object names, or ["*"]
    sa.Column("secret", sa.Text, nullable=False),   # sealed (sealing.py)
    sa.Column("owner_id", sa.BigInteger, nullable=False),  # payloads as this user sees them
    sa.Column("active", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("disabled_at", sa.DateTime, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_success_at", sa.DateTime, nullable=True),
    sa.Column("created_by", sa.String(150), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
deliveries = sa.Table(
    "sys_webhook_deliveries",
    webhooks_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("webhook_id", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=True),  # the outbox row (sys_events)
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("object_id", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    #: The body without its ``id`` (JSON): the same bytes on every attempt.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=True),
    sa.Column("first_attempt_at", sa.DateTime, nullable=True),
    sa.Column("last_attempt_at", sa.DateTime, nullable=True),
    sa.Column("claimed_at", sa.DateTime, nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_excerpt", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("resent_from", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("delivered_at", sa.DateTime, nullable=True),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_record", "webhook_id", "object_id", "record_id", "id"),
    sa.Index("ix_webhook_deliveries_log", "webhook_id", "id"),
)
_tables = LazyTables(webhooks_metadata)


def ensure_tables(tenant: Tenant) -> None:
    _tables.ensure(tenant)


def now() -> dt.datetime:
    """Naive UTC, as stored."""
    return clock.now().replace(tzinfo=None, microsecond=0)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def names(text: str) -> list[str]:
    found = json.loads(text)
    return [str(n) for n in found] if isinstance(found, list) else []


def webhook_doc(row: Any, owner: str | None) -> dict[str, Any]:
    """A webhook as the API shows it: never its secret."""
    return {"name": row.name, "url": row.url, "events": names(row.events),
            "objects": names(row.objects), "owner": owner, "active": bool(row.active),
            "disabled_reason": row.disabled_reason, "disabled_at": iso(row.disabled_at),
            "consecutive_failures": int(row.consecutive_failures or 0),
            "last_success_at": iso(row.last_success_at), "created_by": row.created_by,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def delivery_doc(row: Any) -> dict[str, Any]:
    """A delivery of the log (the payload itself is not repeated)."""
    return {"id": int(row.id), "event": row.event, "object": row.object,
            "record_id": int(row.record_id), "status": row.status,
            "attempts": int(row.attempts or 0), "response_status": row.response_status,
            "response_excerpt": row.response_excerpt, "error": row.error,
            "duration_ms": row.duration_ms, "created_at": iso(row.created_at),
            "last_attempt_at": iso(row.last_attempt_at),
            "next_attempt_at": iso(row.next_attempt_at) if row.status == RETRYING else None,
            "delivered_at": iso(row.delivered_at),
            "resent_from": None if row.resent_from is None else int(row.resent_from)}


__all__ = ["DELIVERED", "FAILED", "PENDING", "RETRYING", "SENDING", "UNFINISHED",
           "deliveries", "delivery_doc", "ensure_tables", "iso", "names", "now",
           "webhook_doc", "webhooks", "webhooks_metadata"]
