"""E-mail through background jobs: queued with the transaction that caused it, sent after
commit by the ``email`` job, retried with backoff.

A message is a row of ``sys_email_outbox`` written in the caller's transaction (a
notification's e-mail, or ``mail.send_email``): a rolled-back action sends nothing, a
committed one always has its message. The ``email`` job, queued after that commit
(``kick``) and by the periodic work when a retry falls due (``run_due``, ``next_due``),
claims due rows (``sending``, a conditional update), sends them over one SMTP connection
(``notify.SmtpSettings``: STARTTLS or SSL, sign-in) and records each outcome: ``sent``,
or another attempt after ``DELAYS`` (1, 5, 15 and 60 minutes, 4 and 12 hours), or
``failed`` after ``MAX_ATTEMPTS`` or an answer that cannot change (a refused address). A
notification's ``email_status`` follows its message (``pending``, ``sent``, ``failed``), and
a record waiting for a message's final outcome gets it (``mail_results``), in the same
transaction.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..runtime import jobs
from ..runtime.instance import Tenant
from ..runtime.lazy_tables import LazyTables
from .background import Kicker, earliest, queue_if_due
from .tables import notifications

KIND = "email"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
DELAYS = (60, 300, 900, 3600, 14400, 43200)
MAX_ATTEMPTS = len(DELAYS) + 1
STALE_CLAIM = dt.timedelta(minutes=5)
BATCH = 50

_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")
mail_metadata = sa.MetaData()
email_outbox = sa.Table(
    "sys_email_outbox",
    mail_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("notification_id", sa.BigInteger, nullable=True),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("to_address", sa.String(254), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=True),
    sa.Column("claimed_at", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.Index("ix_email_outbox_due", "status", "next_attempt_at"),
)
_tables = LazyTables(mail_metadata)


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None, microsecond=0)


def enqueue(conn: sa.Connection, messages: Iterable[dict[str, Any]]) -> list[int]:
    """Queue messages (``to_address``, ``subject``, ``text``, optionally ``html``,
    ``user_id``, ``notification_id``, ``kind``) in the caller's transaction; their ids."""
    email_outbox.create(conn, checkfirst=True)
    at = _now()
    ids = []
    for m in messages:
        ids.append(int(conn.execute(email_outbox.insert().values(
            notification_id=m.get("notification_id"), user_id=m.get("user_id"),
            to_address=str(m["to_address"])[:254], subject=str(m["subject"])[:300],
            text=str(m["text"]), html=m.get("html"), kind=str(m.get("kind") or "email")[:30],
            status=PENDING, attempts=0, next_attempt_at=at, created_at=at)
            .returning(email_outbox.c.id)).scalar_one()))
    return ids


def _claim(tenant: Tenant, at: dt.datetime) -> list[Any]:
    o = email_outbox
    due = sa.or_(sa.and_(o.c.status == PENDING, o.c.next_attempt_at <= at),
                 sa.and_(o.c.status == SENDING, o.c.claimed_at < at - STALE_CLAIM))
    with tenant.write() as conn:
        ids = conn.execute(sa.select(o.c.id).where(due).order_by(o.c.id)
                           .limit(BATCH)).scalars().all()
        if not ids:
            return []
        taken = conn.execute(o.update().where(o.c.id.in_(ids), due).values(
            status=SENDING, claimed_at=at).returning(o.c.id)).scalars().all()
        return list(conn.execute(sa.select(o).where(o.c.id.in_(taken)).order_by(o.c.id)))


def _message(sender: str, row: Any) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, row.to_address, row.subject
    msg.set_content(row.text)
    if row.html:
        msg.add_alternative(row.html, subtype="html")
    return msg


def send_due(tenant: Tenant) -> int:
    """Send the messages due now over one connection per batch; how many were sent."""
    from .notify import smtp_settings  # (notify queues through this module)

    _tables.ensure(tenant)
    sent = 0
    while True:
        rows = _claim(tenant, _now())
        if not rows:
            return sent
        outcomes: dict[int, tuple[bool, bool, str | None]] = {}  # ok, final, error
        settings = smtp_settings()
        try:
            if settings is None:
                raise smtplib.SMTPException("no SMTP server is configured (CRMFORGE_SMTP_HOST)")
            with settings.connect() as smtp:
                for r in rows:
                    try:
                        smtp.send_message(_message(settings.sender, r))
                        outcomes[r.id] = (True, True, None)
                    except (smtplib.SMTPRecipientsRefused,
                            smtplib.SMTPResponseException) as exc:
                        outcomes[r.id] = (False, _permanent(exc), str(exc)[:500])
                    except (smtplib.SMTPException, ValueError) as exc:
                        outcomes[r.id] = (False, False, str(exc)[:500])
        except (OSError, smtplib.SMTPException) as exc:  # no connection: each row retries
            for r in rows:
                outcomes.setdefault(r.id, (False, False, f"{type(exc).__name__}: {exc}"[:500]))
        sent += _record(tenant, rows, outcomes)


def _permanent(exc: smtplib.SMTPException) -> bool:
    """A 5xx answer to a message (a refused address, sender or content) will not change
    on a retry; a 4xx one may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", 0)
    return isinstance(code, int) and code >= 500


def _record(tenant: Tenant, rows: list[Any],
            outcomes: dict[int, tuple[bool, bool, str | None]]) -> int:
    at = _now()
    o = email_outbox
    retry: list[dt.datetime] = []
    finished: list[tuple[int, bool, str | None]] = []
    with tenant.write() as conn:
        for r in rows:
            ok, final, error = outcomes.get(r.id, (False, False, "not sent"))
            attempts = int(r.attempts or 0) + 1
            if ok:
                values: dict[str, Any] = {"status": SENT, "sent_at": at, "last_error": None}
                mail = SENT
            elif final or attempts >= MAX_ATTEMPTS:
                values, mail = {"status": FAILED, "last_error": error}, FAILED
            else:
                next_at = at + dt.timedelta(seconds=DELAYS[attempts - 1])
                retry.append(next_at)
                values = {"status": PENDING, "last_error": error, "next_attempt_at": next_at}
                mail = PENDING
            done = conn.execute(o.update().where(o.c.id == r.id, o.c.status == SENDING).values(
                attempts=attempts, claimed_at=None, **values)).rowcount
            if done and mail != PENDING:
                finished.append((int(r.id), ok, error))
            if r.notification_id is not None:
                conn.execute(notifications.update().where(
                    notifications.c.id == r.notification_id).values(email_status=mail))
        if finished:  # the records waiting for these outcomes (an automation's ``delivery``)
            from . import mail_results  # (it writes records: the record service's layer)

            mail_results.apply(tenant, conn, [mail_results.Outcome(int(i), ok, error)
                                              for i, ok, error in finished])
    if retry and tenant.due_hint is not None:
        tenant.due_hint(tenant, min(retry))
    return sum(1 for ok, _, _ in outcomes.values() if ok)


def handle(ctx: jobs.JobContext) -> None:
    send_due(ctx.tenant)


#: Messages wait: make sure an ``email`` job will send them.
kick = Kicker(KIND, handle)


def next_due(tenant: Tenant) -> dt.datetime | None:
    """When a message is next due (naive UTC), or None."""
    _tables.ensure(tenant)
    o = email_outbox
    with tenant.read() as conn:
        pending = conn.execute(sa.select(sa.func.min(o.c.next_attempt_at)).where(
            o.c.status == PENDING)).scalar()
        claimed = conn.execute(sa.select(sa.func.min(o.c.claimed_at)).where(
            o.c.status == SENDING)).scalar()
    return earliest(pending, claimed, STALE_CLAIM)


def run_due(tenant: Tenant, at: dt.datetime) -> bool:
    """Queue an ``email`` job when a message is due at ``at`` (naive UTC)."""
    return queue_if_due(tenant, at, next_due, kick)


HANDLERS = {KIND: handle}

__all__ = ["DELAYS", "FAILED", "HANDLERS", "KIND", "MAX_ATTEMPTS", "PENDING", "SENT",
           "email_outbox", "enqueue", "handle", "kick", "next_due", "run_due", "send_due"]
