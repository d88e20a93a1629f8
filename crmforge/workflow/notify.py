"""In-app notifications and their e-mails.

A notification is a row written in the same transaction as the action that caused it, so
nobody is told about an approval that was rolled back. E-mail goes out after the commit
(DESIGN §4, step 6) from the rows still marked ``pending``: a crash between commit and
delivery leaves them pending for the next delivery run, nothing is lost or sent twice by
the same run. SMTP settings come from ``CRMFORGE_SMTP_HOST``, ``CRMFORGE_SMTP_PORT`` and
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
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from ..runtime.context import utcnow
from ..runtime.instance import Tenant
from . import people
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
    mail = "pending" if smtp_settings() and people.email_of(conn, user_id) else "none"
    conn.execute(notifications.insert().values(
        user_id=user_id, kind=kind, subject=subject[:300], body=body, instance_id=instance_id,
        task_id=task_id, created_at=utcnow(), email_status=mail))


def deliver_pending(tenant: Tenant, limit: int = 200) -> int:
    """Send the e-mails of pending notifications; returns how many were sent."""
    settings = smtp_settings()
    if settings is None:
        return 0
    sender = settings.sender
    with tenant.read() as conn:
        rows = conn.execute(sa.select(notifications).where(
            notifications.c.email_status == "pending").order_by(notifications.c.id)
            .limit(limit)).all()
        to = {r.id: people.email_of(conn, r.user_id) for r in rows}
    if not rows:
        return 0
    done: dict[int, str] = {}
    try:
        with settings.connect() as smtp:
            for r in rows:
                address = to.get(r.id)
                if not address:
                    done[r.id] = "none"
                    continue
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = sender, address, r.subject
                msg.set_content(r.body)
                try:
                    smtp.send_message(msg)
                    done[r.id] = "sent"
                except smtplib.SMTPException:
                    done[r.id] = "failed"
    except (OSError, smtplib.SMTPException):
        return 0  # the server is unreachable: everything stays pending for the next run
    with tenant.write() as conn:
        for nid, status in done.items():
            conn.execute(notifications.update().where(notifications.c.id == nid)
                         .values(email_status=status))
    return sum(1 for s in done.values() if s == "sent")


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
