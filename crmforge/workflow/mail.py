"""Templated e-mail for the layers that send it (automation rules, processes).

``send_email`` renders a subject and a body written in Chinese and English, with
``{{ field }}`` merge fields (``mail_templates``: a sandboxed Jinja whitelist), for each
recipient, and queues the messages in the caller's transaction (``mail_outbox``): if that
transaction rolls back, nothing is sent; once it commits, the ``email`` job sends them
with retries. Users have no language of their own yet, so a recipient gets the language
the caller names, else both (Chinese first). Without an SMTP server
(``CRMFORGE_SMTP_HOST``) nothing is queued, as for notifications.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import ValidationFailed
from ..runtime.instance import Tenant
from ..security.tables import users
from . import mail_outbox
from .mail_templates import LANGS, compose, template_problem
from .notify import smtp_settings

#: An address as a caller may name it: no spaces, no line breaks, one "@".
ADDRESS = re.compile(r"[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,190}")
MAX_RECIPIENTS = 100


def _problems(subject: Any, body: Any, lang: str | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, texts in (("subject", subject), ("body", body)):
        if not isinstance(texts, Mapping) or not any(
                isinstance(texts.get(k), str) and texts[k] for k in LANGS):
            errors[key] = ['{"zh": ..., "en": ...} with at least one text']
            continue
        for k in LANGS:
            problem = template_problem(texts[k]) if isinstance(texts.get(k), str) else None
            if problem:
                errors.setdefault(key, []).append(f"{k}: {problem}")
    if lang is not None and lang not in LANGS:
        errors["lang"] = ["zh or en"]
    return errors


def check(subject: Any, body: Any) -> dict[str, list[str]]:
    """The problems of an e-mail's templates, keyed ``subject``/``body`` (empty: fine):
    what a rule's author is told when saving it."""
    return _problems(subject, body, None)


def _recipients(conn: sa.Connection, to: Iterable[int | str]) -> list[tuple[int | None, str]]:
    """(user id or None, address) per recipient: users by id (active ones with an
    address), addresses as given (checked). Duplicates are sent once."""
    wanted = list(to)
    if len(wanted) > MAX_RECIPIENTS:
        raise ValidationFailed(f"at most {MAX_RECIPIENTS} recipients",
                               {"to": ["too many recipients"]})
    ids = [t for t in wanted if isinstance(t, int) and not isinstance(t, bool)]
    addresses = [t for t in wanted if isinstance(t, str)]
    if len(ids) + len(addresses) != len(wanted):
        raise ValidationFailed("recipients are user ids or e-mail addresses",
                               {"to": ["user ids or addresses"]})
    bad = [a for a in addresses if not ADDRESS.fullmatch(a)]
    if bad:
        raise ValidationFailed(f"not an e-mail address: {bad[0][:100]}",
                               {"to": [f"not an address: {bad[0][:100]}"]})
    found: dict[str, int | None] = {}
    if ids:
        for r in conn.execute(sa.select(users.c.id, users.c.email).where(
                users.c.id.in_(ids), users.c.active, users.c.email.is_not(None))
                .order_by(users.c.id)):
            if r.email:
                found.setdefault(str(r.email), int(r.id))
    for a in addresses:
        found.setdefault(a, None)
    return [(uid, address) for address, uid in found.items()]


def send_email(tenant: Tenant, conn: sa.Connection, to: Iterable[int | str],
               subject: Mapping[str, str], body: Mapping[str, str],
               merge: Mapping[str, Any] | None = None, *, lang: str | None = None,
               kind: str = "email") -> list[int]:
    """Queue one message per recipient in ``conn``'s transaction (``tenant``'s write) and
    have the ``email`` job send them after it commits; the queued messages' ids.

    ``to``: user ids (active users with an address; others are skipped) and addresses.
    ``subject``/``body``: ``{"zh": ..., "en": ...}`` templates (one language is enough)
    with ``{{ name }}`` merge fields filled from ``merge`` (missing names render empty;
    the HTML part escapes every value). ``lang``: the recipients' language, else both.
    Raises ``ValidationFailed`` for a template that is not allowed or a bad address."""
    errors = _problems(subject, body, lang)
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
    if smtp_settings() is None:
        return []
    recipients = _recipients(conn, to)
    if not recipients:
        return []
    line, text, html = compose(subject, body, merge or {}, lang)
    ids = mail_outbox.enqueue(conn, [
        {"user_id": uid, "to_address": address, "subject": line, "text": text,
         "html": html, "kind": kind} for uid, address in recipients])
    tenant.after_commit(lambda: mail_outbox.kick(tenant))
    return ids


__all__ = ["check", "send_email"]
