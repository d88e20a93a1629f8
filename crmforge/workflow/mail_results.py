"""Delivery results written back to the record an e-mail was about.

Why: a mail server's answer arrives after the transaction that queued the message has
committed, in the ``email`` job. An automation rule's ``email`` action may name
``delivery`` (a field of its record and the values meaning *sent* and *failed*, and
optionally a text field for the server's answer); ``link`` remembers, next to each queued
message, which record and field wait for its outcome (``sys_email_results``), and the
outbox calls ``apply`` once a message's outcome is final: accepted by the server, or
refused for good (a 5xx answer, such as an address refused at RCPT) or given up after the
last retry. A temporary failure that will be retried writes nothing.

The write goes through the record service like any other (validation, history as
``email delivery: <rule>``, roll-ups, triggers, events for further rules), as the system:
what a message's outcome sets does not depend on who started the rule. A write the record
refuses (the record was deleted, a status rule locks it), or any other failure of that
write, is logged and skipped: the outcome of the message itself is recorded all the same,
since a message left claimed would be sent again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import CRMError
from ..runtime import pipeline
from ..runtime.context import open_ctx
from ..runtime.events import Cause
from ..runtime.instance import Tenant
from ..runtime.lazy_tables import LazyTables
from ..security.engine import engine as permission_engine
from ..security.principal import Principal

log = logging.getLogger("crmforge.mail")

results_metadata = sa.MetaData()
email_results = sa.Table(
    "sys_email_results",
    results_metadata,
    sa.Column("message_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("object", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("sent_value", sa.String(100), nullable=True),
    sa.Column("failed_value", sa.String(100), nullable=True),
    sa.Column("error_field", sa.String(40), nullable=True),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
)
_tables = LazyTables(results_metadata)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A message's final outcome: accepted (``ok``) or refused for good, with the answer."""

    message_id: int
    ok: bool
    error: str | None


def link(tenant: Tenant, conn: sa.Connection, message_ids: Iterable[int], obj: str,
         record_id: int, delivery: Mapping[str, Any], rule: str, depth: int) -> None:
    """Remember, in the queuing transaction, that these messages' outcomes go to
    ``delivery["field"]`` (and ``delivery["error_field"]``) of the record."""
    rows = [{"message_id": int(m), "object": obj, "record_id": int(record_id),
             "field": str(delivery["field"]), "sent_value": delivery.get("sent"),
             "failed_value": delivery.get("failed"), "error_field": delivery.get("error_field"),
             "rule": rule[:40], "depth": depth} for m in message_ids]
    if not rows:
        return
    _tables.ensure(tenant)
    conn.execute(email_results.insert(), rows)


def principal_for(rule: str) -> Principal:
    """Who history names for a delivery result."""
    return Principal(user_id=None, username=f"email delivery: {rule}", is_admin=True,
                     is_system=True)


def apply(tenant: Tenant, conn: sa.Connection, outcomes: Iterable[Outcome]) -> int:
    """Write the final outcomes of linked messages to their records in ``conn``'s
    transaction (the outbox's own record of them); how many records changed."""
    final = {o.message_id: o for o in outcomes}
    if not final:
        return 0
    _tables.ensure(tenant)
    r = email_results
    links = conn.execute(sa.select(r).where(r.c.message_id.in_(list(final)))
                         .order_by(r.c.message_id)).all()
    changed = 0
    for ln in links:
        outcome = final[int(ln.message_id)]
        value = ln.sent_value if outcome.ok else ln.failed_value
        payload: dict[str, Any] = {}
        if value is not None:
            payload[str(ln.field)] = value
        if ln.error_field:
            payload[str(ln.error_field)] = None if outcome.ok else (outcome.error or "")[:250]
        try:
            with conn.begin_nested():
                if payload and _write(tenant, conn, ln, payload):
                    changed += 1
                conn.execute(r.delete().where(r.c.message_id == ln.message_id))
        except CRMError as exc:
            log.warning("delivery result of message %s not written to %s %s: %s",
                        ln.message_id, ln.object, ln.record_id, exc)
            conn.execute(r.delete().where(r.c.message_id == ln.message_id))
        except Exception:  # never undo the outbox's record of what was sent: a message
            # left "sending" would be sent again once its claim goes stale
            log.exception("delivery result of message %s not written to %s %s",
                          ln.message_id, ln.object, ln.record_id)
            conn.execute(r.delete().where(r.c.message_id == ln.message_id))
    return changed


def _write(tenant: Tenant, conn: sa.Connection, ln: Any, payload: dict[str, Any]) -> bool:
    base = open_ctx(tenant, permission_engine, conn, principal_for(str(ln.rule)),
                    str(ln.object))
    ctx = dataclasses.replace(base, cause=Cause(f"email:{ln.rule}", int(ln.depth) + 1))
    t = ctx.table
    row = conn.execute(sa.select(t).where(t.c.id == ln.record_id,
                                          t.c.deleted_at.is_(None))).first()
    if row is None:
        return False
    return bool(pipeline.update(ctx, row, payload))


__all__ = ["Outcome", "apply", "email_results", "link", "principal_for"]
