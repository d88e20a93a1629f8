"""E-mail from background jobs: a real local SMTP server with STARTTLS and sign-in, retries
on a moved clock, templates in Chinese and English with merge fields, nothing sent for a
rolled-back write, and the periodic work picking up a due retry."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask.testing import FlaskClient

from crmforge import tasks
from crmforge.core.errors import ValidationFailed
from crmforge.runtime import Instance, jobs
from crmforge.workflow import mail, mail_outbox
from crmforge.workflow.notify import deliver_pending, notify
from crmforge.workflow.tables import ensure_tables, notifications

from .automation_world import WON_MAIL, build, change, record, rule, settle
from .conftest import START
from .test_workflow_timeouts import _self_signed

SUBJECT = {"zh": "合同 {{ title }} 已签署", "en": "Contract {{ title }} signed"}
BODY = {"zh": "{{ name }}，您好：\n合同金额 {{ amount }} 元。",
        "en": "Dear {{ name }},\nthe contract is worth {{ amount }}.{% if vip %} (VIP){% endif %}"}


class Box:
    """What the server received, and what it answers to the next messages."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.answers: list[str] = []
        self.logins: list[bytes] = []
        #: Addresses refused at RCPT with a permanent 550 (a mailbox that does not exist).
        self.refused: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answers:
            return self.answers.pop(0)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture
def smtp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Box]:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Box()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        box.logins.append(auth_data.login)
        return AuthResult(success=isinstance(auth_data, LoginPassword)
                          and auth_data.password == b"mail-secret")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)
    controller.start()
    for name, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("SECURITY", "starttls"),
                        ("USER", "crm"), ("PASSWORD", "mail-secret"), ("CA_FILE", cert),
                        ("FROM", "crm@example.test")):
        monkeypatch.setenv(f"CRMFORGE_SMTP_{name}", value)
    try:
        yield box
    finally:
        controller.stop()


def _parts(msg: Message) -> tuple[str, str]:
    text = html = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode().replace("\r\n", "\n")
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode().replace("\r\n", "\n")
    return text, html


def _admin_with_mail(client: FlaskClient, admin: dict[str, str]) -> None:
    r = client.patch("/api/v1/admin/users/admin", json={"email": "boss@example.test"},
                     headers=admin)
    assert r.status_code == 200, r.json


def test_templated_mail_in_both_languages_over_starttls(
        client: FlaskClient, admin: dict[str, str], instance: Instance, smtp: Box) -> None:
    _admin_with_mail(client, admin)
    tenant = instance.tenant("default")
    merge = {"title": "A-12", "name": "<b>王</b>", "amount": "5000", "vip": True}
    with tenant.write() as conn:
        ids = mail.send_email(tenant, conn, [1, "Partner@Example.test", 1], SUBJECT, BODY,
                              merge)
        assert len(ids) == 2  # the admin once, and the address
    assert jobs.wait_local()
    assert smtp.logins == [b"crm"]
    got = {tuple(to): msg for to, msg in smtp.messages}
    assert set(got) == {("boss@example.test",), ("Partner@Example.test",)}
    msg = got[("boss@example.test",)]
    assert msg["Subject"] == "合同 A-12 已签署 / Contract A-12 signed"
    text, html = _parts(msg)
    assert "<b>王</b>，您好：\n合同金额 5000 元。" in text
    assert "Dear <b>王</b>,\nthe contract is worth 5000. (VIP)" in text
    assert "&lt;b&gt;王&lt;/b&gt;" in html and "<b>王</b>" not in html
    with tenant.write() as conn:
        mail.send_email(tenant, conn, ["partner@example.test"], SUBJECT, BODY,
                        {**merge, "vip": False, "title": "B\r\nBcc: x@evil.test"}, lang="en")
    assert jobs.wait_local()
    _, last = smtp.messages[-1]
    assert last["Subject"] == "Contract B Bcc: x@evil.test signed" and last["Bcc"] is None
    text, _ = _parts(last)
    assert "合同" not in text and "(VIP)" not in text
    with tenant.read() as conn:
        rows = conn.execute(sa.select(mail_outbox.email_outbox.c.status,
                                      mail_outbox.email_outbox.c.attempts)).all()
    assert [tuple(r) for r in rows] == [("sent", 1)] * 3


def test_templates_and_recipients_are_checked(client: FlaskClient, admin: dict[str, str],
                                              instance: Instance, smtp: Box) -> None:
    tenant = instance.tenant("default")
    assert mail.check(SUBJECT, BODY) == {}
    problems = mail.check({"en": "{% for i in range(9) %}x{% endfor %}"},
                          {"zh": "{{ x.__class__ }}", "en": "{{ 9 ** 99 }}"})
    assert "For is not allowed" in problems["subject"][0]
    assert any("__class__" in p for p in problems["body"])
    assert any("Pow" in p for p in problems["body"])
    assert set(mail.check({}, {"fr": "bonjour"})) == {"subject", "body"}
    for to in (["not an address"], ["a@b.test\nBcc: c@d.test"], [1.5]):
        with pytest.raises(ValidationFailed), tenant.write() as conn:
            mail.send_email(tenant, conn, to, SUBJECT, BODY, {})
    with pytest.raises(ValidationFailed), tenant.write() as conn:
        mail.send_email(tenant, conn, ["a@b.test"], SUBJECT, BODY, {}, lang="fr")
    assert jobs.wait_local()
    assert smtp.messages == []


def test_a_rolled_back_write_sends_nothing(client: FlaskClient, admin: dict[str, str],
                                           instance: Instance, smtp: Box) -> None:
    _admin_with_mail(client, admin)
    tenant = instance.tenant("default")
    ensure_tables(tenant)
    with pytest.raises(RuntimeError), tenant.write() as conn:
        mail.send_email(tenant, conn, ["someone@example.test"], SUBJECT, BODY, {"title": "X"})
        notify(conn, 1, "test", "Subject", "Body")
        raise RuntimeError("the action failed after queueing its mail")
    deliver_pending(tenant)
    assert jobs.wait_local()
    assert smtp.messages == []
    assert mail_outbox.next_due(tenant) is None


def test_a_failed_send_is_retried_with_backoff(client: FlaskClient, admin: dict[str, str],
                                               instance: Instance, smtp: Box,
                                               frozen: list[dt.datetime]) -> None:
    _admin_with_mail(client, admin)
    tenant = instance.tenant("default")
    ensure_tables(tenant)
    smtp.answers = ["451 4.3.0 try again later"]
    with tenant.write() as conn:
        notify(conn, 1, "test", "Reminder", "Something waits for you.")
    deliver_pending(tenant)
    assert jobs.wait_local()
    assert smtp.messages == []
    with tenant.read() as conn:
        row = conn.execute(sa.select(mail_outbox.email_outbox)).one()
        status = conn.execute(sa.select(notifications.c.email_status)).scalar_one()
    assert (row.status, row.attempts, status) == ("pending", 1, "pending")
    assert "451" in row.last_error
    assert row.next_attempt_at == dt.datetime(2026, 3, 2, 9, 1)
    assert mail_outbox.send_due(tenant) == 0  # not due yet
    frozen[0] = START + dt.timedelta(minutes=1)
    assert mail_outbox.send_due(tenant) == 1
    [(to, msg)] = smtp.messages
    assert to == ["boss@example.test"] and msg["Subject"] == "Reminder"
    with tenant.read() as conn:
        row = conn.execute(sa.select(mail_outbox.email_outbox)).one()
        status = conn.execute(sa.select(notifications.c.email_status)).scalar_one()
    assert (row.status, row.attempts, status) == ("sent", 2, "sent")
    assert mail_outbox.next_due(tenant) is None
    # an address the server refuses for good is not tried again
    with tenant.write() as conn:
        mail.send_email(tenant, conn, ["nobody@example.test"], SUBJECT, BODY, {})
    smtp.answers = ["550 5.1.1 no such mailbox"]
    assert jobs.wait_local()
    with tenant.read() as conn:
        last = conn.execute(sa.select(mail_outbox.email_outbox)
                            .order_by(mail_outbox.email_outbox.c.id.desc())).first()
    assert last is not None and (last.status, last.attempts) == ("failed", 1)


def test_the_periodic_work_sends_a_due_retry(client: FlaskClient, admin: dict[str, str],
                                             instance: Instance, smtp: Box,
                                             frozen: list[dt.datetime],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With a queue: the retry time reaches the control database's index, the timer loop
    queues an ``email`` job then, and the job (run as a worker would) sends the mail."""
    from crmforge.runtime.instance import tenant_due

    _admin_with_mail(client, admin)
    tenant = instance.tenant("default")
    ensure_tables(tenant)
    queue = tasks.install(instance)  # jobs go to the queue; nobody consumes it here
    try:
        with tenant.write() as conn:
            notify(conn, 1, "test", "Later", "Sent by the periodic work.")
        monkeypatch.setenv("CRMFORGE_SMTP_PASSWORD", "wrong")
        assert mail_outbox.send_due(tenant) == 0  # the sign-in fails: tried again later
        monkeypatch.setenv("CRMFORGE_SMTP_PASSWORD", "mail-secret")
        jobs.JobStore(tenant)  # (its table, for the counts below)
        with instance.control.connect() as conn:
            due = conn.execute(sa.select(tenant_due.c.next_due).where(
                tenant_due.c.tenant == "default")).scalar_one()
        assert due == dt.datetime(2026, 3, 2, 9, 1)
        assert queue.timers(dt.datetime(2026, 3, 2, 9, 0, 30)) == 0  # not yet
        with tenant.read() as conn:
            before = conn.execute(sa.select(sa.func.count()).select_from(jobs.job_rows).where(
                jobs.job_rows.c.kind == "email")).scalar_one()
        frozen[0] = START + dt.timedelta(minutes=2)
        assert queue.timers(dt.datetime(2026, 3, 2, 9, 2)) == 1
        with tenant.read() as conn:
            queued = conn.execute(sa.select(jobs.job_rows.c.id).where(
                jobs.job_rows.c.kind == "email", jobs.job_rows.c.status == "queued")
                .order_by(jobs.job_rows.c.id)).scalars().all()
        assert len(queued) >= 1 and before + len(queued) >= 1
        done = jobs.run(tenant, int(queued[-1]), tasks.HANDLERS)
        assert done is not None and done.status == "done"
        assert [m["Subject"] for _, m in smtp.messages] == ["Later"]
    finally:
        instance.set_dispatcher(None)


def test_an_email_rule_reaches_the_smtp_server(client: FlaskClient, admin: dict[str, str],
                                               smtp: Box) -> None:
    """The whole chain: a record's change fires an automation rule after commit, the rule
    queues its e-mail in its own transaction, the ``email`` job sends it over STARTTLS with
    sign-in, merge fields rendered as the recipient may read the record."""
    h = build(client, admin)
    rule(client, admin, WON_MAIL)
    deal = record(client, h["sam"], "deal", title="Lab", contact_email="buyer@example.test")
    change(client, h["sam"], "deal", deal, stage="won")
    settle(client)
    assert jobs.wait_local()
    got = {tuple(to): msg for to, msg in smtp.messages}
    assert set(got) == {("sam@example.test",), ("buyer@example.test",)}, got
    for msg in got.values():
        assert msg["Subject"] == "赢单：Lab / Won: Lab"
        assert "Lab is Won." in msg.get_body(("plain",)).get_content()
    assert smtp.logins and set(smtp.logins) == {b"crm"}
