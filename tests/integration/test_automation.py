"""Automation rules end to end: designed through the API, run after commit by the events
job against the real pipeline, notifications, e-mail queue, a webhook receiver on
127.0.0.1, the loop guard, date rules under a moved clock, packs and rollbacks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from flask.testing import FlaskClient

from crmforge import tasks
from crmforge.installer.apply import Installer
from crmforge.runtime import events
from crmforge.runtime.records import RecordService
from crmforge.security.principal import SYSTEM
from crmforge.workflow.automation import delivery, scan_date_rules
from crmforge.workflow.mail_outbox import email_outbox

from .automation_world import (
    WON_MAIL,
    build,
    change,
    get,
    items,
    notes,
    record,
    rule,
    runs,
    settle,
    tenant_of,
)
from .conftest import START, error_of

FOLLOW_UP: dict[str, Any] = {
    "name": "big_deal_follow_up", "object": "deal", "when": "created",
    "label": {"zh": "大单跟进", "en": "Big deal follow-up"},
    "condition": "amount > 1000",
    "actions": [
        {"type": "update", "set": {"note": "concat('big: ', title)"}},
        {"type": "create", "object": "task",
         "values": {"subject": "concat('Call about ', title)", "deal": "id",
                    "due": "add_days(today(), 3)"}},
    ],
}


def test_created_rule_updates_the_record_and_creates_a_follow_up_task(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, FOLLOW_UP)
    big = record(client, h["sam"], "deal", title="Hospital", amount="5000")
    small = record(client, h["sam"], "deal", title="Pharmacy", amount="10")
    settle(client)
    assert get(client, h["sam"], "deal", big["id"])["note"] == "big: Hospital"
    assert get(client, h["sam"], "deal", small["id"])["note"] is None  # condition false
    tasks = items(client, h["sam"], "task")  # the seller sees it: it is owned by the deal's owner
    assert [(t["subject"], t["deal"]) for t in tasks] == [("Call about Hospital", big["id"])]
    # The write ran as the system with the rule as the recorded reason.
    history = client.get(f"/api/v1/records/deal/{big['id']}/history", headers=admin).json["items"]
    by = {e["by"] for e in history if e.get("field") == "note"}
    assert by == {"automation: big_deal_follow_up"}
    ok = [r for r in runs(client, admin, "big_deal_follow_up") if r["status"] == "ok"]
    assert sorted(r["action"] for r in ok) == ["create", "update"]
    assert all(r["record"] == big["id"] for r in ok)


def test_updated_rule_only_when_watched_fields_change(client: FlaskClient,
                                                     admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "stage_changed", "object": "deal", "when": "updated", "fields": ["stage"],
        "condition": "stage == 'won'",
        "actions": [{"type": "notify", "to": {"owner": True},
                     "message": {"zh": "{{ title }} 已赢单（{{ stage }}）",
                                 "en": "{{ title }} was won ({{ stage }})"}}]})
    deal = record(client, h["sam"], "deal", title="Clinic", amount="100")
    change(client, h["sam"], "deal", deal, note="just a note")
    settle(client)
    assert notes(client, h["sam"]) == []
    change(client, h["sam"], "deal", deal, stage="won")
    settle(client)
    got = notes(client, h["sam"])
    assert len(got) == 1
    assert got[0]["body"] == "Clinic 已赢单（赢单）\nClinic was won (Won)"
    change(client, h["sam"], "deal", deal, stage="lost")  # changed, but the condition fails
    settle(client)
    assert len(notes(client, h["sam"])) == 1


def test_saved_and_deleted_rules(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "count_saves", "object": "contact", "when": "saved",
        "actions": [{"type": "notify", "to": {"users": ["admin"]},
                     "message": {"en": "saved {{ full_name }}"}}]})
    rule(client, admin, {
        "name": "deleted_log", "object": "deal", "when": "deleted",
        "actions": [{"type": "create", "object": "task",
                     "values": {"subject": "concat('Deleted: ', title)"}}]})
    c = record(client, admin, "contact", full_name="Dr. Li")
    settle(client)  # a rule reads the record as it is when it runs, after the commit
    change(client, admin, "contact", c, full_name="Dr. Li Wei")
    deal = record(client, h["sam"], "deal", title="Gone soon")
    assert client.delete(f"/api/v1/records/deal/{deal['id']}", headers=h["sam"]).status_code == 204
    settle(client)
    assert [n["body"] for n in notes(client, admin)] == ["saved Dr. Li Wei", "saved Dr. Li"]
    assert [t["subject"] for t in items(client, admin, "task")] == ["Deleted: Gone soon"]


def test_notify_owner_role_and_user_field_as_each_recipient_may_read(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "tell_everyone", "object": "deal", "when": "updated", "fields": ["secret"],
        "actions": [{"type": "notify", "to": {"owner": True, "role": "manager",
                                              "field": "manager"},
                     "message": {"en": "{{ title }} by {{ owner }}: [{{ secret }}]"}}]})
    user_ids = {u["username"]: u["id"] for u in
                client.get("/api/v1/admin/users", headers=admin).json["items"]}
    deal = record(client, h["sam"], "deal", title="Ward", manager=user_ids["sue"])
    change(client, admin, "deal", deal, secret="kickback")
    settle(client)
    # The seller may not read "secret": it renders empty for the owner.
    assert [n["body"] for n in notes(client, h["sam"])] == ["Ward by sam: []"]
    # Managers read every field of deals.
    assert [n["body"] for n in notes(client, h["max"])] == ["Ward by sam: [kickback]"]
    assert [n["body"] for n in notes(client, h["meg"])] == ["Ward by sam: [kickback]"]
    # sue (the user field) is a seller who cannot see sam's deal at all: nothing of it.
    assert [n["body"] for n in notes(client, h["sue"])] == [" by : []"]


def test_email_is_queued_in_the_rules_transaction(client: FlaskClient, admin: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFORGE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CRMFORGE_SMTP_PORT", "1")  # never reached: the test reads the queue
    h = build(client, admin)
    rule(client, admin, WON_MAIL)
    deal = record(client, h["sam"], "deal", title="Lab", contact_email="buyer@example.test")
    change(client, h["sam"], "deal", deal, stage="won")
    settle(client)
    with tenant_of(client).read() as conn:  # the mail outbox: sent after commit, retried
        rows = conn.execute(sa.select(email_outbox).order_by(email_outbox.c.id)).all()
    assert [(r.to_address, r.subject, r.text) for r in rows] == [
        ("sam@example.test", "赢单：Lab / Won: Lab", "Lab is Won."),
        ("buyer@example.test", "赢单：Lab / Won: Lab", "Lab is Won.")]
    [run] = runs(client, admin, "won_mail")
    assert run["status"] == "ok" and "buyer@example.test" in run["message"]


def test_a_rule_that_retriggers_itself_stops_at_the_depth_limit(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "loop", "object": "deal", "when": "updated",
        "actions": [{"type": "update", "set": {"touched": "if_blank(touched, 0) + 1"}}]})
    deal = record(client, h["sam"], "deal", title="Echo")
    change(client, h["sam"], "deal", deal, note="go")
    settle(client)
    assert get(client, admin, "deal", deal["id"])["touched"] == events.MAX_DEPTH
    log = runs(client, admin, "loop")
    assert [r["status"] for r in log] == ["stopped"] + ["ok"] * events.MAX_DEPTH
    assert log[0]["depth"] == events.MAX_DEPTH
    assert "stopped" in log[0]["message"]


def test_a_failing_action_is_logged_and_the_others_still_run(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "half_broken", "object": "deal", "when": "created",
        "actions": [{"type": "create", "object": "task", "values": {"due": "today()"}},
                    {"type": "update", "set": {"note": "'still ran'"}}]})
    deal = record(client, h["sam"], "deal", title="Partly")
    settle(client)
    assert get(client, admin, "deal", deal["id"])["note"] == "still ran"
    assert items(client, admin, "task") == []  # the task lacked its required subject
    by_action = {r["action"]: r for r in runs(client, admin, "half_broken")}
    assert by_action["create"]["status"] == "failed"
    assert "subject" in by_action["create"]["message"]
    assert by_action["update"]["status"] == "ok"
    settle(client)  # the event is not handled twice
    assert len(runs(client, admin, "half_broken")) == 2


def _fields(response: Any) -> list[str]:
    error_of(response)
    return list(response.json["error"]["fields"])


def test_save_time_checks_name_the_json_path(client: FlaskClient, admin: dict[str, str]) -> None:
    build(client, admin)
    bad = {"name": "bad", "object": "deal", "when": "created",
           "actions": [{"type": "notify", "to": {"owner": True},
                        "message": {"zh": "{{ title }}", "en": "{{ nonsense }} for {{ title }}"}}]}
    r = client.post("/api/v1/meta/automations", json=bad, headers=admin)
    assert r.status_code == 422
    assert list(_fields(r)) == ["$.actions[0].message.en"]
    cases = [
        ({"object": "nothing"}, "$.object"),
        ({"condition": "amount >"}, "$.condition"),
        ({"condition": "title"}, "$.condition"),  # not a condition (text)
        ({"when": "updated", "fields": ["nope"]}, "$.fields[0]"),
        ({"when": "date", "date_field": "title"}, "$.date_field"),
        ({"when": "sometimes"}, "$.when"),
        ({"actions": [{"type": "update", "set": {"ghost": "1"}}]}, "$.actions[0].set.ghost"),
        ({"actions": [{"type": "create", "object": "task", "values": {"subject": "1 +"}}]},
         "$.actions[0].values.subject"),
        ({"actions": [{"type": "notify", "to": {"role": "nobody"}, "message": {"en": "x"}}]},
         "$.actions[0].to.role"),
        ({"actions": [{"type": "webhook", "url": "ftp://x"}]}, "$.actions[0]"),
    ]
    for change_, path in cases:
        doc = {"name": "bad", "object": "deal", "when": "created",
               "actions": [{"type": "update", "set": {"note": "'x'"}}], **change_}
        r = client.post("/api/v1/meta/automations", json=doc, headers=admin)
        assert r.status_code == 422, (change_, r.json)
        assert any(k.startswith(path) for k in _fields(r)), (path, r.json)
    assert client.post("/api/v1/meta/automations", data="{", headers={
        **admin, "Content-Type": "application/json"}).status_code == 400
    assert client.get("/api/v1/meta/automations", headers=admin).json["items"] == []


def test_api_lifecycle_versions_disable_and_admin_only(client: FlaskClient,
                                                       admin: dict[str, str]) -> None:
    h = build(client, admin)
    made = rule(client, admin, FOLLOW_UP)
    assert made["version"] == 1 and made["enabled"] is True
    assert client.get("/api/v1/meta/automations", headers=h["sam"]).status_code == 403
    assert client.post("/api/v1/meta/automations", json=FOLLOW_UP,
                       headers=h["sam"]).status_code == 403
    assert client.post("/api/v1/meta/automations", json=FOLLOW_UP,
                       headers=admin).status_code == 422  # the name is taken
    r = client.patch("/api/v1/meta/automations/big_deal_follow_up", json={"enabled": False},
                     headers=admin)
    assert r.status_code == 200 and r.json["version"] == 2 and r.json["enabled"] is False
    record(client, h["sam"], "deal", title="Quiet", amount="9000")
    settle(client)
    assert items(client, admin, "task") == []  # disabled
    client.patch("/api/v1/meta/automations/big_deal_follow_up", json={"enabled": True},
                 headers=admin)
    record(client, h["sam"], "deal", title="Loud", amount="9000")
    settle(client)
    assert [t["subject"] for t in items(client, admin, "task")] == ["Call about Loud"]
    assert client.get("/api/v1/meta/automations/big_deal_follow_up",
                      headers=admin).json["version"] == 3
    assert client.delete("/api/v1/meta/automations/big_deal_follow_up",
                         headers=admin).status_code == 204
    assert client.get("/api/v1/meta/automations/big_deal_follow_up",
                      headers=admin).status_code == 404
    assert client.patch("/api/v1/meta/automations/big_deal_follow_up", json=[],
                        headers=admin).status_code in (400, 404)


def test_a_rolled_back_write_fires_nothing(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, FOLLOW_UP)
    tenant = tenant_of(client)
    service = RecordService(tenant)
    with pytest.raises(RuntimeError), tenant.write():
        service.create(SYSTEM, "deal", {"title": "Never", "amount": "9999"})
        raise RuntimeError("the caller gives up")
    r = client.post("/api/v1/records/deal/bulk", headers=h["sam"], json={
        "mode": "create", "all_or_none": True,
        "records": [{"title": "Half", "amount": "5000"}, {"amount": "1"}]})
    assert r.status_code == 200, r.json
    settle(client)
    assert items(client, admin, "deal") == [] and items(client, admin, "task") == []
    assert runs(client, admin, "big_deal_follow_up") == []


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it gets and answers with the
    next of ``codes`` (then 200)."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.calls: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.codes.pop(0) if outer.codes else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500])
    yield r
    r.close()


def test_webhook_is_signed_sent_after_commit_and_retried(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "hook", "object": "deal", "when": "created",
        "actions": [{"type": "webhook", "url": receiver.url, "secret": "s3cret"}]})
    deal = record(client, h["sam"], "deal", title="Signed", amount="12.5")
    settle(client)
    assert len(receiver.calls) == 1  # the receiver failed once (500)
    [run] = runs(client, admin, "hook")
    assert run["status"] == "pending" and "HTTP 500" in run["message"]
    tenant = tenant_of(client)
    assert delivery.deliver_due(tenant) == 0  # not due yet: the retry waits
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
    assert delivery.deliver_due(tenant, later) == 1
    assert len(receiver.calls) == 2
    headers, body = receiver.calls[-1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-crmforge-signature"] == expected
    payload = json.loads(body)
    assert payload["rule"] == "hook" and payload["event"] == "record.created"
    assert payload["record_id"] == deal["id"]
    assert payload["record"]["title"] == "Signed" and payload["record"]["amount"] == "12.50"
    [run] = runs(client, admin, "hook")
    assert run["status"] == "sent" and "attempt 2" in run["message"]
    assert delivery.deliver_due(tenant, later + dt.timedelta(hours=1)) == 0  # once only




def _at(frozen: list[dt.datetime], day: dt.date, hour: int = 9) -> dt.datetime:
    frozen[0] = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
    return frozen[0]


def test_contract_end_reminder_30_days_before_fires_once(
        client: FlaskClient, admin: dict[str, str], frozen: list[dt.datetime],
        tmp_path: Path) -> None:
    h = build(client, admin)
    rule(client, admin, {
        "name": "contract_end", "object": "contract", "when": "date", "date_field": "end_date",
        "offset_days": -30, "condition": "status == 'signed'",
        "actions": [{"type": "notify", "to": {"owner": True},
                     "message": {"zh": "合同 {{ name }} 将于 {{ end_date }} 到期",
                                 "en": "Contract {{ name }} ends on {{ end_date }}"}},
                    {"type": "create", "object": "task",
                     "values": {"subject": "concat('Renew ', name)", "due": "end_date"}}]})
    record(client, admin, "contract", name="Hospital A", end_date="2026-04-15")
    record(client, admin, "contract", name="Ended B", end_date="2026-04-15", status="ended")
    record(client, admin, "contract", name="Later C", end_date="2026-06-01")
    tenant = tenant_of(client)
    assert scan_date_rules(tenant, _at(frozen, dt.date(2026, 3, 15))) == 0
    _at(frozen, dt.date(2026, 3, 16))  # 30 days before: the worker's periodic step fires it
    queue = tasks.Queue(client.application.extensions["crmforge"],
                        url=f"sqlite:///{tmp_path / 'queue.db'}")
    assert queue.automation() == 1
    assert scan_date_rules(tenant, _at(frozen, dt.date(2026, 3, 16), 18)) == 0  # once only
    assert scan_date_rules(tenant, _at(frozen, dt.date(2026, 3, 17))) == 0
    frozen[0] = START  # the test's sessions were signed in at START
    assert [n["body"] for n in notes(client, admin)] == [
        "合同 Hospital A 将于 2026-04-15 到期\nContract Hospital A ends on 2026-04-15"]
    assert [(t["subject"], t["due"]) for t in items(client, admin, "task")] == [
        ("Renew Hospital A", "2026-04-15")]
    assert {r["trigger"] for r in runs(client, admin, "contract_end")} == {"date 2026-03-16"}
    assert h  # the organisation exists; the seller sees nothing of it


def test_yearly_birthday_rule_recurs_each_year_in_the_rules_time_zone(
        client: FlaskClient, admin: dict[str, str], frozen: list[dt.datetime]) -> None:
    build(client, admin)
    rule(client, admin, {
        "name": "birthday", "object": "contact", "when": "date", "date_field": "birthday",
        "yearly": True, "timezone": "Asia/Shanghai",
        "actions": [{"type": "notify", "to": {"users": ["admin"]},
                     "message": {"zh": "今天是 {{ full_name }} 的生日",
                                 "en": "{{ full_name }}'s birthday is today"}}]})
    record(client, admin, "contact", full_name="Dr. Wang", birthday="1980-03-20")
    record(client, admin, "contact", full_name="Leap Li", birthday="2000-02-29")
    record(client, admin, "contact", full_name="Unborn", birthday="2030-03-20")
    tenant = tenant_of(client)
    # 17:00 UTC on the 19th is already the 20th in Shanghai.
    assert scan_date_rules(tenant, _at(frozen, dt.date(2026, 3, 19), 12)) == 0
    assert scan_date_rules(tenant, _at(frozen, dt.date(2026, 3, 19), 17)) == 1
    assert scan_date_rules(tenant, _at(frozen, dt.date(2026, 3, 20), 3)) == 0
    assert scan_date_rules(tenant, _at(frozen, dt.date(2027, 2, 27), 17)) == 1  # 28 Feb
    assert scan_date_rules(tenant, _at(frozen, dt.date(2027, 3, 19), 17)) == 1  # next year
    frozen[0] = START
    bodies = [n["body"] for n in notes(client, admin)]
    assert bodies == ["今天是 Dr. Wang 的生日\nDr. Wang's birthday is today",
                      "今天是 Leap Li 的生日\nLeap Li's birthday is today",
                      "今天是 Dr. Wang 的生日\nDr. Wang's birthday is today"]


def test_a_rule_shipped_by_a_pack_works_after_install(
        client: FlaskClient, admin: dict[str, str], tmp_path: Path) -> None:
    pack = tmp_path / "helpdesk"
    (pack / "objects").mkdir(parents=True)
    (pack / "automations").mkdir()
    (pack / "pack.yaml").write_text(yaml.safe_dump({
        "name": "helpdesk", "version": "1.0.0", "label": {"zh": "服务台", "en": "Help desk"}},
        allow_unicode=True))
    (pack / "objects" / "ticket.yaml").write_text(yaml.safe_dump({
        "name": "ticket", "label": {"en": "Ticket"},
        "fields": [{"name": "subject", "type": "text", "required": True},
                   {"name": "reply", "type": "text"}]}))
    (pack / "automations" / "ack.yaml").write_text(yaml.safe_dump({
        "name": "ticket_ack", "object": "ticket", "when": "created",
        "label": {"zh": "自动回复", "en": "Acknowledge"},
        "actions": [{"type": "update", "set": {"reply": "concat('Re: ', subject)"}}]},
        allow_unicode=True))
    installer = Installer(tenant_of(client), SYSTEM)
    assert "create automation rule ticket_ack" in installer.install(pack).steps
    installed = client.get("/api/v1/meta/automations/ticket_ack", headers=admin).json
    assert installed["pack"] == "helpdesk"
    t = record(client, admin, "ticket", subject="Printer")
    settle(client)
    assert get(client, admin, "ticket", t["id"])["reply"] == "Re: Printer"
    assert "delete automation rule ticket_ack" in installer.uninstall("helpdesk").steps
    assert client.get("/api/v1/meta/automations/ticket_ack", headers=admin).status_code == 404
