"""The workflow's system tables, in every tenant's namespace.

Instances keep the serialized SpiffWorkflow state; open and done tasks are also rows, so an
approver's inbox is one indexed query (``ix_wf_tasks_inbox``) and timeouts are one query
over due times. Tables are created on first use in a tenant (``ensure_tables``), which also
brings tenants created before workflows existed up to date.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..runtime.instance import Tenant
from ..runtime.lazy_tables import LazyTables

workflow_metadata = sa.MetaData()
_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")

instances = sa.Table(
    "sys_wf_instances",
    workflow_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("object", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("process", sa.String(40), nullable=False),
    sa.Column("process_version", sa.Integer, nullable=False),
    sa.Column("definition", sa.Text, nullable=False),   # the process document it runs
    sa.Column("bpmn", sa.Text, nullable=False),         # the BPMN it was compiled to
    sa.Column("state", sa.String(20), nullable=False),  # running approved rejected returned ...
    sa.Column("workflow", sa.Text, nullable=False),     # SpiffWorkflow's serialized state
    sa.Column("diagram", sa.Text, nullable=True),       # passed and waiting element ids
    sa.Column("submitter_id", sa.BigInteger, nullable=True),
    sa.Column("record_version", sa.Integer, nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),     # the record as submitted
    sa.Column("submitted_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Index("ix_wf_instances_record", "object_id", "record_id", "state"),
    sa.Index("ix_wf_instances_submitter", "submitter_id", "id"),
)

tasks = sa.Table(
    "sys_wf_tasks",
    workflow_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("instance_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("spiff_id", sa.String(40), nullable=False),
    sa.Column("step", sa.String(40), nullable=False),
    sa.Column("assignee_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # open, done, cancelled
    sa.Column("decision", sa.String(20), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("acted_at", sa.DateTime, nullable=True),
    sa.Column("remind_at", sa.DateTime, nullable=True),
    sa.Column("escalate_at", sa.DateTime, nullable=True),
    sa.Index("ix_wf_tasks_inbox", "assignee_id", "status", "id"),
    sa.Index("ix_wf_tasks_due", "status", "escalate_at"),
)

actions = sa.Table(
    "sys_wf_actions",
    workflow_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("instance_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("task_id", sa.BigInteger, nullable=True),
    sa.Column("step", sa.String(40), nullable=True),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("actor", sa.String(150), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=True),
    sa.Column("snapshot", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

notifications = sa.Table(
    "sys_notifications",
    workflow_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("instance_id", sa.BigInteger, nullable=True),
    sa.Column("task_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("read_at", sa.DateTime, nullable=True),
    sa.Column("email_status", sa.String(10), nullable=False),  # pending, sent, failed, none
    sa.Index("ix_notifications_user", "user_id", "id"),
    sa.Index("ix_notifications_mail", "email_status", "id"),
)

#: Standing delegations (委托): while ``starts_at <= now < ends_at`` (either bound open), new
#: tasks of ``user_id`` go to ``to_id``; ``processes`` (JSON list, null = all) narrows it.
delegations = sa.Table(
    "sys_wf_delegations",
    workflow_metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("to_id", sa.BigInteger, nullable=False),
    sa.Column("starts_at", sa.DateTime, nullable=True),
    sa.Column("ends_at", sa.DateTime, nullable=True),
    sa.Column("processes", sa.Text, nullable=True),
    sa.Column("set_by", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

#: Who was copied (抄送) on an approval, and for which step's sight (null: the process's).
copies = sa.Table(
    "sys_wf_copies",
    workflow_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("instance_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("step", sa.String(40), nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_wf_copies_instance", "instance_id", "user_id"),
)

_tables = LazyTables(workflow_metadata)


def ensure_tables(tenant: Tenant) -> None:
    """Create the workflow tables of a tenant on first use (idempotent)."""
    _tables.ensure(tenant)


__all__ = ["actions", "copies", "delegations", "ensure_tables", "instances", "notifications", "tasks",
           "workflow_metadata"]
