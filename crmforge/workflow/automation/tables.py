"""The tables of automation rules: what ran (the run log), what date rules fired, how far
their scans got, and webhook calls waiting to be sent.

Why a run log: rules run unattended after commit. A failing action must not hold the
others back (the event is handled and the cursor moves on), so its failure has to be
written somewhere an administrator looks: ``GET /api/v1/meta/automations/<name>/runs``.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...runtime.instance import Tenant
from ...runtime.lazy_tables import LazyTables
from ..tables import ensure_tables as ensure_workflow_tables

_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")
automation_metadata = sa.MetaData()

runs = sa.Table(
    "sys_automation_runs",
    automation_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("rule_version", sa.Integer, nullable=True),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    #: ``record.created`` ..., or ``date <YYYY-MM-DD>`` for a date rule's occurrence.
    sa.Column("trigger", sa.String(40), nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=True),
    sa.Column("depth", sa.Integer, nullable=False, default=0),
    sa.Column("action_index", sa.Integer, nullable=True),
    sa.Column("action", sa.String(20), nullable=True),
    #: ok, failed, stopped (loop guard), pending / sent (webhooks).
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_automation_runs_rule", "rule", "id"),
)

fired = sa.Table(
    "sys_automation_fired",
    automation_metadata,
    sa.Column("rule", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    #: The day the occurrence fell on (a yearly rule fires once per year).
    sa.Column("occurrence", sa.Date, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

scans = sa.Table(
    "sys_automation_scans",
    automation_metadata,
    sa.Column("rule", sa.String(40), primary_key=True),
    #: The last day a scan of this rule covered completely.
    sa.Column("last_day", sa.Date, nullable=False),
)

webhook_calls = sa.Table(
    "sys_automation_webhooks",
    automation_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    #: ``sha256=<hex>`` computed when queued: the secret itself is not copied here.
    sa.Column("signature", sa.String(80), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),  # pending, sent, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_at", sa.DateTime, nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_automation_webhooks_due", "status", "next_at"),
)

_tables = LazyTables(automation_metadata)


def ensure_tables(tenant: Tenant) -> None:
    """The automation tables, and the workflow's (notifications) the actions write to."""
    _tables.ensure(tenant)
    ensure_workflow_tables(tenant)


__all__ = ["automation_metadata", "ensure_tables", "fired", "runs", "scans", "webhook_calls"]
