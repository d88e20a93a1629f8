"""In-app notifications and their e-mails.

A notification is a row written in the same transaction as the action that caused it, so
nobody is told about an approval that was rolled back. Its e-mail is queued in the same
transaction (``mail_outbox``) and sent after the commit (DESIGN §4, step 6) by the
``email`` job, with retries: ``deliver_pending`` (called once the action commits) queues
that job. SMTP settings come from ``CRMFORGE_SMTP_HOST``, ``CRMFORGE_SMTP_PORT`` and
``CRMFORGE_SMTP_FROM``; without a host, no e-mail is queued. ``CRMFORGE_SMTP_SECURITY``
(``starttls``, ``ssl`` or ``none``; by default ``ssl`` on port 465, ``starttls`` on 587,
else ``none``) encrypts the connection, verified against the system's certificates or
``CRMFORGE_SMTP_CA_FILE``; ``CRMFORGE_SMTP_USER`` and ``CRMFORGE_SMTP_PASSWORD`` sign in
(only over an encrypted connection: a password is never sent in the clear).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..runtime.context import utcnow
from ..runtime.instance import Tenant
from . import mail_outbox, people
from .mail_templates import plain_html
from .tables import notifications


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    security: str  # "none", "starttls" or "ssl"
    user: str | None
    password: str | None
    ca_file: str | None

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(self) -> smtplib.SMTP:
        """A connection, encrypted and signed in as configured."""
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=10,
                                                  context=self.tls())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=10)
            if self.security == "starttls":
                smtp.starttls(context=self.tls())
        if self.user:
            if self.security == "none":
                smtp.close()
                raise smtplib.SMTPException("refusing to send a password over plain SMTP; "
                                            "set CRMFORGE_SMTP_SECURITY")
            smtp.login(self.user, self.password or "")
        return smtp


def smtp_settings() -> SmtpSettings | None:
    host = os.environ.get("CRMFORGE_SMTP_HOST")
    if not host:
        return None
    port = int(os.environ.get("CRMFORGE_SMTP_PORT") or 25)
    default = {465: "ssl", 587: "starttls"}.get(port, "none")
    security = (os.environ.get("CRMFORGE_SMTP_SECURITY") or default).lower()
    if security not in ("none", "starttls", "ssl"):
        security = default
    return SmtpSettings(host, port, os.environ.get("CRMFORGE_SMTP_FROM") or "crmforge@localhost",
                        security, os.environ.get("CRMFORGE_SMTP_USER") or None,
                        os.environ.get("CRMFORGE_SMTP_PASSWORD") or None,
                        os.environ.get("CRMFORGE_SMTP_CA_FILE") or None)


def notify(conn: sa.Connection, user_id: int, kind: str, subject: str, body: str, *,
           instance_id: int | None = None, task_id: int | None = None) -> None:
    """Tell a user in the app, and by e-mail when SMTP is configured and the user has an
    address (queued in this transaction; ``deliver_pending`` after the commit)."""
    address = people.email_of(conn, user_id) if smtp_settings() else None
    nid = int(conn.execute(notifications.insert().values(
        user_id=user_id, kind=kind, subject=subject[:300], body=body, instance_id=instance_id,
        task_id=task_id, created_at=utcnow(), email_status="pending" if address else "none")
        .returning(notifications.c.id)).scalar_one())
    if address:
        mail_outbox.enqueue(conn, [{
            "notification_id": nid, "user_id": user_id, "to_address": address,
            "subject": " ".join(subject.split())[:300], "text": body,
            "html": plain_html(body), "kind": kind}])


def deliver_pending(tenant: Tenant) -> int:
    """After a commit that queued e-mail: make sure the ``email`` job will send it (and
    whatever else is due). Nothing is sent here, so no request waits for a mail server.
    Returns 1 when a job was asked for, else 0."""
    due = mail_outbox.next_due(tenant)
    if due is None or due > utcnow():
        return 0
    mail_outbox.kick(tenant)
    return 1


def inbox(conn: sa.Connection, user_id: int, unread: bool = False, limit: int = 100
          ) -> list[dict[str, Any]]:
    q = sa.select(notifications).where(notifications.c.user_id == user_id)
    if unread:
        q = q.where(notifications.c.read_at.is_(None))
    rows = conn.execute(q.order_by(notifications.c.id.desc()).limit(limit))
    return [{"id": r.id, "kind": r.kind, "subject": r.subject, "body": r.body,
             "instance": r.instance_id, "task": r.task_id,
             "created_at": r.created_at.isoformat(timespec="seconds") + "Z",
             "read": r.read_at is not None} for r in rows]


def mark_read(conn: sa.Connection, user_id: int, ids: list[int] | None) -> int:
    q = notifications.update().where(notifications.c.user_id == user_id,
                                     notifications.c.read_at.is_(None))
    if ids is not None:
        q = q.where(notifications.c.id.in_(ids))
    return int(conn.execute(q.values(read_at=utcnow())).rowcount)


__all__ = ["SmtpSettings", "deliver_pending", "inbox", "mark_read", "notify", "smtp_settings"]
