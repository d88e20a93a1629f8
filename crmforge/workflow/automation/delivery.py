"""What leaves the platform: e-mail (queued in the rule's transaction) and webhook calls
(sent after it commits, retried from the periodic step).

E-mail: ``crmforge.workflow.mail.send_email`` queues the message in the rule's transaction
(the mail outbox), sent after commit by the ``email`` job with retries; users and external
addresses alike.

Webhook calls: never inside a write. The action stores the call (body, HMAC-SHA256
signature computed then, so the secret is not copied) in ``sys_automation_webhooks``;
``deliver_due`` posts it after the commit with a short timeout, and a failed call waits
``RETRY_AFTER[attempts]`` before the periodic step tries again, up to ``MAX_ATTEMPTS``.
Each attempt is written to the call's run log row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ...runtime.context import utcnow
from ...runtime.instance import Tenant
from .. import mail
from .tables import ensure_tables, runs, webhook_calls

log = logging.getLogger("crmforge.automation")

TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 5
#: Seconds to wait after the n-th failed attempt.
RETRY_AFTER = (0, 30, 120, 600, 1800, 3600)
#: At most this many calls are sent by one delivery run.
BATCH = 50


# -- e-mail ---------------------------------------------------------------------------------
#: The rule's texts are rendered already (merge fields as each recipient may read them), so
#: the mail templates only carry them: a value that looks like a template stays text.
_AS_IS = ({"en": "{{ subject }}"}, {"en": "{{ body }}"})


def send_to_user(tenant: Tenant, conn: sa.Connection, user_id: int, address: str | None,
                 subject: str, body: str, queued: list[int] | None = None) -> str:
    """Queue an e-mail to a user (the mail outbox: sent after commit, with retries); how it
    went, for the run log. A user without an address gets nothing. The queued messages'
    ids are added to ``queued``."""
    if not address:
        return f"user {user_id} has no e-mail address"
    ids = mail.send_email(tenant, conn, [user_id], *_AS_IS,
                          {"subject": subject, "body": body}, lang="en")
    if queued is not None:
        queued.extend(ids)
    return f"queued for user {user_id}" if ids else "no SMTP server configured"


def send_to_address(tenant: Tenant, conn: sa.Connection, address: str, subject: str,
                    body: str, queued: list[int] | None = None) -> str:
    """Queue an e-mail to an external address; how it went, for the run log (and the
    message ids added to ``queued``)."""
    ids = mail.send_email(tenant, conn, [address], *_AS_IS,
                          {"subject": subject, "body": body}, lang="en")
    if queued is not None:
        queued.extend(ids)
    return f"queued for {address}" if ids else "no SMTP server configured"


# -- webhooks -------------------------------------------------------------------------------
def signature(secret: str | None, body: bytes) -> str | None:
    if not secret:
        return None
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue_call(conn: sa.Connection, rule: str, url: str, secret: str | None,
               payload: Mapping[str, Any]) -> int:
    """Store a webhook call to send after commit; its id."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return int(conn.execute(webhook_calls.insert().values(
        run_id=0, rule=rule, url=url, body=body, signature=signature(secret, body.encode()),
        status="pending", attempts=0, next_at=utcnow(), created_at=utcnow()
    ).returning(webhook_calls.c.id)).scalar_one())


def deliver_due(tenant: Tenant, now: dt.datetime | None = None) -> int:
    """Send the webhook calls that are due; how many were delivered."""
    at = now or utcnow()
    ensure_tables(tenant)
    with tenant.read() as conn:
        due = conn.execute(sa.select(webhook_calls).where(
            webhook_calls.c.status == "pending", webhook_calls.c.next_at <= at)
            .order_by(webhook_calls.c.id).limit(BATCH)).all()
    sent = 0
    for call in due:
        status, code, error = _post(call)
        attempts = int(call.attempts) + 1
        values: dict[str, Any] = {"attempts": attempts, "response_status": code}
        if status:
            values.update(status="sent", next_at=None)
            message = f"attempt {attempts}: HTTP {code}"
            sent += 1
        elif attempts >= MAX_ATTEMPTS:
            values.update(status="failed", next_at=None)
            message = f"attempt {attempts}: {error}; giving up"
        else:
            wait = RETRY_AFTER[min(attempts, len(RETRY_AFTER) - 1)]
            values.update(next_at=at + dt.timedelta(seconds=wait))
            message = f"attempt {attempts}: {error}; next try in {wait} s"
        with tenant.write() as conn:
            changed = conn.execute(webhook_calls.update().where(
                webhook_calls.c.id == call.id, webhook_calls.c.attempts == call.attempts)
                .values(**values)).rowcount
            if changed and call.run_id:
                conn.execute(runs.update().where(runs.c.id == call.run_id).values(
                    status={"sent": "sent", "failed": "failed"}.get(values.get("status", ""),
                                                                    "pending"),
                    message=f"{call.url}: {message}"[:2000]))
    return sent


def waiting(tenant: Tenant) -> bool:
    """Whether calls wait for a retry."""
    ensure_tables(tenant)
    with tenant.read() as conn:
        return conn.execute(sa.select(webhook_calls.c.id).where(
            webhook_calls.c.status == "pending").limit(1)).first() is not None


def deliver_quietly(tenant: Tenant) -> None:
    """``deliver_due`` after a commit: a failure here is the next periodic step's to retry,
    never the committed work's."""
    try:
        deliver_due(tenant)
    except Exception:
        log.exception("webhook calls of tenant %s could not be sent", tenant.name)


def _post(call: Any) -> tuple[bool, int | None, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "CRMForge-Automation",
               "X-CRMForge-Event": "automation." + str(call.rule),
               "X-CRMForge-Delivery": str(call.id)}
    if call.signature:
        headers["X-CRMForge-Signature"] = call.signature
    if not str(call.url).startswith(("http://", "https://")):
        return False, None, "only http and https URLs are called"
    request = urllib.request.Request(call.url, data=call.body.encode(),  # noqa: S310 (checked)
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            code = int(response.status)
            return 200 <= code < 300, code, f"HTTP {code}"
    except urllib.error.HTTPError as exc:
        return False, int(exc.code), f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, None, f"not delivered ({str(reason)[:200]})"


__all__ = ["MAX_ATTEMPTS", "deliver_due", "deliver_quietly", "queue_call", "send_to_address", "send_to_user",
           "signature", "waiting"]
