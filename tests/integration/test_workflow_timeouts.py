"""Reminders, escalation with a moved clock, e-mail through a real local SMTP server, and an
approval that survives a restart in the middle."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient

from crmforge.runtime import Instance, jobs
from crmforge.web import create_app
from crmforge.workflow.timeouts import run_due

from .conftest import START
from .workflow_world import act, build, inbox, new_deal, process, state, submit


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    box = Inbox()
    with socket.socket() as probe:  # a free port on the loopback address
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("CRMFORGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CRMFORGE_SMTP_PORT", str(port))
        monkeypatch.setenv("CRMFORGE_SMTP_FROM", "approvals@example.test")
        yield box
    finally:
        controller.stop()


def test_reminder_escalation_and_mail(client: FlaskClient, admin: dict[str, str], smtp: Inbox,
                                      frozen: list[dt.datetime]) -> None:
    step = {"name": "review", "approvers": {"users": ["alice"]},
            "timeout": {"remind_after_hours": 4, "escalate_after_hours": 24}}
    h = build(client, admin, process(step))
    tenant = client.application.extensions["crmforge"].tenant("default")
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    assert jobs.wait_local()  # e-mail goes out from a job after the commit
    assert any("alice@example.test" in to for to, _ in smtp.messages)
    assert run_due(tenant, START + dt.timedelta(hours=3)) == {"reminded": 0, "escalated": 0}
    assert run_due(tenant, START + dt.timedelta(hours=5)) == {"reminded": 1, "escalated": 0}
    assert jobs.wait_local()
    assert run_due(tenant, START + dt.timedelta(hours=6))["reminded"] == 0  # once only
    kinds = [n["kind"] for n in client.get("/api/v1/notifications", headers=h["alice"]).json["items"]]
    assert kinds == ["reminder", "task"]
    assert any(m["Subject"].startswith("Reminder") for _, m in smtp.messages)
    frozen[0] = START + dt.timedelta(hours=25)  # the ticker's call: run_due reads the clock
    assert run_due(tenant) == {"reminded": 0, "escalated": 1}
    frozen[0] = START + dt.timedelta(hours=6)   # back within the test tokens' lifetime
    assert inbox(client, h["alice"]) == []
    assert [t["step"] for t in inbox(client, h["mia"])] == ["review"]  # alice's manager
    done = act(client, h["mia"], "approve")
    assert done["state"] == "approved"
    assert [a["action"] for a in done["history"]] == ["submit", "escalate", "approve", "finish"]
    assert state(client, h["sam"], inst["id"]) == "approved"
    r = client.post("/api/v1/notifications/read", json={}, headers=h["alice"])
    assert r.status_code == 200 and r.json["marked"] >= 3
    unread = client.get("/api/v1/notifications?unread=true", headers=h["alice"]).json["items"]
    assert unread == []


def test_restart_in_the_middle(client: FlaskClient, admin: dict[str, str],
                               instance: Instance) -> None:
    h = build(client, admin, process(
        {"name": "board", "mode": "all", "pass_rate": 50,
         "approvers": {"users": ["alice", "bob", "carol", "dave"]}},
        {"name": "final", "approvers": {"users": ["mia"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "approve")
    # a new Instance object opened on the same files, a new app: nothing lives in memory
    reopened = Instance.open(instance.path)
    try:
        fresh = create_app(reopened, {"TESTING": True}).test_client()
        act(fresh, h["bob"], "approve")   # 2 of 4 = 50%: the board step passes
        assert inbox(fresh, h["carol"]) == []
        assert state(fresh, h["sam"], inst["id"]) == "running"
        done = act(fresh, h["mia"], "approve")
        assert done["state"] == "approved"
        assert "task_final" in done["diagram"]["completed"]
    finally:
        reopened.dispose()


def test_the_queue_runs_timers_only_where_something_is_due(client: FlaskClient,
                                                           admin: dict[str, str],
                                                           instance: Instance,
                                                           frozen: list[dt.datetime]) -> None:
    """The control database knows each tenant's next due time: the timer loop opens the
    tenant whose reminder is due and leaves idle tenants closed."""
    import sqlalchemy as sa

    from crmforge import tasks
    from crmforge.runtime.instance import tenant_due

    queue = tasks.install(instance)
    try:
        instance.create_tenant("idle", "Admin-pass-123")
        assert queue.timers(START.replace(tzinfo=None)) == 2  # next due times unknown yet
        step = {"name": "review", "approvers": {"users": ["alice"]},
                "timeout": {"remind_after_hours": 4, "escalate_after_hours": 24}}
        h = build(client, admin, process(step))
        submit(client, h["sam"], new_deal(client, h["sam"])["id"])
        with instance.control.connect() as conn:
            due = dict(conn.execute(sa.select(tenant_due.c.tenant, tenant_due.c.next_due)).all())
        assert due["default"] == (START + dt.timedelta(hours=4)).replace(tzinfo=None)
        assert due["idle"] == dt.datetime.max  # nothing will ever be due there
        instance.dispose()  # close every tenant: the next run must open only "default"
        assert queue.timers((START + dt.timedelta(hours=3)).replace(tzinfo=None)) == 0
        assert [t.name for t in instance.open_tenants()] == []
        assert queue.timers((START + dt.timedelta(hours=5)).replace(tzinfo=None)) == 1
        assert [t.name for t in instance.open_tenants()] == ["default"]
        kinds = [n["kind"] for n in
                 client.get("/api/v1/notifications", headers=h["alice"]).json["items"]]
        assert kinds == ["reminder", "task"]
        with instance.control.connect() as conn:
            after = conn.execute(sa.select(tenant_due.c.next_due).where(
                tenant_due.c.tenant == "default")).scalar_one()
        assert after == (START + dt.timedelta(hours=24)).replace(tzinfo=None)  # escalation
    finally:
        instance.set_dispatcher(None)


def _self_signed(folder: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as files (the test's own CA)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_mail_over_starttls_with_login(client: FlaskClient, admin: dict[str, str],
                                       tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real local SMTP server that requires STARTTLS before AUTH LOGIN, and a password."""
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"mail-secret"
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=ok)

    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)
    controller.start()
    try:
        monkeypatch.setenv("CRMFORGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CRMFORGE_SMTP_PORT", str(port))
        monkeypatch.setenv("CRMFORGE_SMTP_SECURITY", "starttls")
        monkeypatch.setenv("CRMFORGE_SMTP_USER", "crm")
        monkeypatch.setenv("CRMFORGE_SMTP_PASSWORD", "mail-secret")
        monkeypatch.setenv("CRMFORGE_SMTP_CA_FILE", cert)
        monkeypatch.setenv("CRMFORGE_SMTP_FROM", "approvals@example.test")
        h = build(client, admin, process({"name": "review", "approvers": {"users": ["alice"]}}))
        submit(client, h["sam"], new_deal(client, h["sam"])["id"])
        assert jobs.wait_local()
        assert logins == [(b"crm", b"mail-secret")]
        assert any("alice@example.test" in to for to, _ in box.messages)
        # a wrong password: nothing sent, the mail is tried again later (test_email_jobs)
        monkeypatch.setenv("CRMFORGE_SMTP_PASSWORD", "wrong")
        before = len(box.messages)
        submit(client, h["sam"], new_deal(client, h["sam"])["id"])
        assert jobs.wait_local()
        assert len(box.messages) == before
        # a password is never sent in the clear
        monkeypatch.setenv("CRMFORGE_SMTP_SECURITY", "none")
        monkeypatch.setenv("CRMFORGE_SMTP_PASSWORD", "mail-secret")
        count = len(logins)
        submit(client, h["sam"], new_deal(client, h["sam"])["id"])
        assert jobs.wait_local()
        assert len(logins) == count and len(box.messages) == before
    finally:
        controller.stop()
