"""Webhooks end to end (DESIGN §9): a real HTTP receiver on 127.0.0.1 gets every event,
signed, in order per record, only after commit, with retries on a moved clock, disabling
and the administrators' notification, field permissions in payloads, and the admin API."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.integrations import webhooks
from crmforge.integrations.webhooks import runner
from crmforge.integrations.webhooks.store import deliveries
from crmforge.integrations.webhooks.store import webhooks as webhook_rows
from crmforge.runtime import Instance
from crmforge.runtime.events import outbox

from .conftest import START, error_of
from .webhook_world import (
    SECRET,
    Receiver,
    build,
    log,
    new_deal,
    receiving,
    register,
    settle,
)


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFORGE_WEBHOOK_TIMEOUT_S", "0.3")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def _tenant(client: FlaskClient) -> Any:
    return client.application.extensions["crmforge"].tenant("default")


def _act(client: FlaskClient, who: dict[str, str], action: str) -> None:
    tasks = client.get("/api/v1/approvals/tasks", headers=who).json["items"]
    assert len(tasks) == 1, tasks
    r = client.post(f"/api/v1/approvals/tasks/{tasks[0]['id']}/{action}", json={}, headers=who)
    assert r.status_code == 200, r.json


def test_every_event_reaches_the_receiver_signed_and_in_order(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver) -> None:
    h = build(client, admin)
    register(client, admin, receiver.url)
    deal = new_deal(client, admin, title="Alpha")
    rid = deal["id"]
    r = client.patch(f"/api/v1/records/deal/{rid}", json={"title": "Alpha 2", "version": 1},
                     headers=admin)
    assert r.status_code == 200, r.json
    r = client.post(f"/api/v1/records/deal/{rid}/transfer", json={"owner": "sam"},
                    headers=admin)
    assert r.status_code == 200, r.json
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": rid},
                    headers=h["sam"])
    assert r.status_code == 201, r.json
    _act(client, h["alice"], "approve")
    settle()  # handled before the deletion: the owner still sees the record
    assert client.delete(f"/api/v1/records/deal/{rid}", headers=admin).status_code == 204
    r = client.post(f"/api/v1/records/deal/{rid}/restore", headers=admin)
    assert r.status_code == 200, r.json
    other = new_deal(client, h["sam"], title="Beta")
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": other["id"]},
                    headers=h["sam"])
    assert r.status_code == 201, r.json
    _act(client, h["alice"], "reject")
    settle()

    got = receiver.bodies()
    first = [b for b in got if b["record_id"] == rid]
    assert [b["event"] for b in first] == [
        "record.created", "record.updated", "record.owner_changed", "approval.submitted",
        "record.updated", "approval.approved", "record.deleted", "record.restored"]
    assert [b["event"] for b in got if b["record_id"] == other["id"]] == [
        "record.created", "approval.submitted", "record.updated", "approval.rejected"]
    for headers, raw in receiver.requests:  # the contract's headers, a verifiable signature
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["x-crmforge-signature"] == expected
        assert headers["content-type"] == "application/json"
        body = receiver_body(raw)
        assert headers["x-crmforge-delivery"] == str(body["id"])
        assert headers["x-crmforge-event"] == body["event"]
        assert list(body) == ["id", "event", "tenant", "object", "record_id", "occurred_at",
                              "record", "changes"]
        assert body["tenant"] == "default" and body["object"] == "deal"
    created, updated, moved = first[0], first[1], first[2]
    assert created["changes"]["title"] == [None, "Alpha"]
    assert created["record"]["title"] in ("Alpha", "Alpha 2")  # read when handled
    assert updated["changes"] == {"title": ["Alpha", "Alpha 2"]}
    assert set(moved["changes"]) >= {"owner"}
    assert first[6]["record"] is None and first[6]["changes"] == {}  # deleted
    assert first[7]["record"]["id"] == rid  # restored
    assert [b["changes"] for b in first if b["event"] == "record.updated"][1] == {
        "status": ["draft", "approved"]}
    assert len({b["id"] for b in got}) == len(got)
    items = log(client, admin)
    assert len(items) == len(got)
    assert {i["status"] for i in items} == {"delivered"}
    assert all(i["attempts"] == 1 and i["response_status"] == 200 for i in items)


def receiver_body(raw: bytes) -> dict[str, Any]:
    return dict(json.loads(raw))


def test_a_failing_receiver_is_retried_with_backoff(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver,
        frozen: list[dt.datetime]) -> None:
    build(client, admin)
    register(client, admin, receiver.url, events=["record.created"])
    receiver.plan = [500, 503]
    tenant = _tenant(client)
    new_deal(client, admin)
    settle()
    [item] = log(client, admin)
    assert (item["status"], item["attempts"], item["response_status"]) == ("retrying", 1, 500)
    assert item["next_attempt_at"] == "2026-03-02T09:00:30Z"
    assert webhooks.next_due(tenant) == dt.datetime(2026, 3, 2, 9, 0, 30)
    assert webhooks.run(tenant) == 0  # not due yet
    frozen[0] = START + dt.timedelta(seconds=30)
    assert webhooks.run(tenant) == 1
    [item] = log(client, admin)
    assert (item["status"], item["attempts"], item["response_status"]) == ("retrying", 2, 503)
    assert item["next_attempt_at"] == "2026-03-02T09:02:30Z"  # 2 minutes after the second
    frozen[0] = START + dt.timedelta(seconds=150)
    assert webhooks.run(tenant) == 1
    [item] = log(client, admin)
    assert (item["status"], item["attempts"], item["response_status"]) == ("delivered", 3, 200)
    assert item["response_excerpt"] == "answer 200" and item["next_attempt_at"] is None
    assert webhooks.next_due(tenant) is None
    raws = [raw for _, raw in receiver.requests]
    assert len(raws) == 3 and len(set(raws)) == 1  # the same bytes, the same delivery id
    assert {h["x-crmforge-delivery"] for h, _ in receiver.requests} == {str(item["id"])}
    hook = client.get("/api/v1/admin/webhooks/crm-sync", headers=admin).json
    assert hook["consecutive_failures"] == 0 and hook["active"] is True


def test_a_record_s_deliveries_wait_for_its_earlier_one(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver,
        frozen: list[dt.datetime]) -> None:
    build(client, admin)
    register(client, admin, receiver.url)
    tenant = _tenant(client)
    receiver.plan = [500]
    first = new_deal(client, admin, title="One")
    settle()
    for version, title in ((1, "One b"), (2, "One c")):
        r = client.patch(f"/api/v1/records/deal/{first['id']}", headers=admin,
                         json={"title": title, "version": version})
        assert r.status_code == 200, r.json
        settle()
    second = new_deal(client, admin, title="Two")
    settle()
    seen = [(b["record_id"], b["event"]) for b in receiver.bodies()]
    assert seen == [(first["id"], "record.created"), (second["id"], "record.created")]
    assert [i["status"] for i in log(client, admin)] == ["delivered", "pending", "pending",
                                                         "retrying"]
    frozen[0] = START + dt.timedelta(seconds=31)
    assert webhooks.run(tenant) == 3
    bodies = [b for b in receiver.bodies() if b["record_id"] == first["id"]]
    assert [b["event"] for b in bodies] == ["record.created", "record.created",
                                            "record.updated", "record.updated"]
    assert [b["changes"]["title"][1] for b in bodies[2:]] == ["One b", "One c"]
    assert [b["id"] for b in bodies[1:]] == sorted(b["id"] for b in bodies[1:])


def test_a_rolled_back_write_publishes_nothing(client: FlaskClient, admin: dict[str, str],
                                               receiver: Receiver, instance: Instance) -> None:
    build(client, admin)
    register(client, admin, receiver.url)
    kept = new_deal(client, admin, title="Kept")
    r = client.post("/api/v1/records/deal", json={"title": "Bad", "amount": "-1"},
                    headers=admin)
    assert r.status_code == 422 and "amount" in error_of(r)["fields"]
    r = client.patch(f"/api/v1/records/deal/{kept['id']}", headers=admin,
                     json={"title": "Changed", "amount": "-2", "version": 1})
    assert r.status_code == 422, r.json
    r = client.post("/api/v1/records/deal/bulk", headers=admin, json={
        "all_or_none": True, "records": [{"title": "Fine", "amount": "1"},
                                         {"title": "Refused", "amount": "-5"}]})
    assert r.json["applied"] is False, r.json
    settle()
    assert [(b["record_id"], b["event"]) for b in receiver.bodies()] == [
        (kept["id"], "record.created")]
    with instance.tenant("default").read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 1


def test_a_hanging_receiver_times_out_without_slowing_writes(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver) -> None:
    build(client, admin)
    register(client, admin, receiver.url)
    receiver.delay = 10.0
    started = time.monotonic()
    deal = new_deal(client, admin)
    assert time.monotonic() - started < 2.0  # the write does not wait for the receiver
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).status_code == 200
    settle()
    # The 0.3 s timeout, not the receiver's 10 s (wide margins: a loaded CI machine).
    assert time.monotonic() - started < 6.0
    [item] = log(client, admin)
    assert item["status"] == "retrying" and item["attempts"] == 1
    assert item["response_status"] is None and "timed out" in item["error"]


def test_a_receiver_failing_for_a_day_is_disabled_and_admins_are_told(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver,
        frozen: list[dt.datetime]) -> None:
    h = build(client, admin)
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "ops", "password": "Pass-word-1234", "is_admin": True})
    assert r.status_code == 201, r.json
    register(client, admin, receiver.url, events=["record.created"])
    receiver.default = 500
    tenant = _tenant(client)
    new_deal(client, admin)
    settle()
    at = START
    for delay in runner.DELAYS:
        at += dt.timedelta(seconds=delay)
        frozen[0] = at
        assert webhooks.run(tenant) == 1
    assert len(receiver.requests) == runner.MAX_ATTEMPTS == 10
    assert at - START > dt.timedelta(hours=23)
    settle()  # the notification's e-mail job, if any
    frozen[0] = START + dt.timedelta(minutes=5)  # back within the tokens' lifetime
    [item] = log(client, admin)
    assert (item["status"], item["attempts"], item["response_status"]) == ("failed", 10, 500)
    hook = client.get("/api/v1/admin/webhooks/crm-sync", headers=admin).json
    assert hook["active"] is False and "10 times" in hook["disabled_reason"]
    assert hook["consecutive_failures"] == 10
    for who in (admin, client_sign_in(client, "ops")):
        notes = client.get("/api/v1/notifications", headers=who).json["items"]
        [note] = [n for n in notes if n["kind"] == "webhook_disabled"]
        assert "crm-sync" in note["subject"] and "已停用" in note["subject"]
        assert "disabled" in note["body"] and "停用" in note["body"]
    assert not [n for n in client.get("/api/v1/notifications", headers=h["sam"]).json["items"]
                if n["kind"] == "webhook_disabled"]
    # disabled: new events are not recorded for it; enabled again: they are
    new_deal(client, admin, title="While disabled")
    settle()
    assert len(log(client, admin)) == 1
    receiver.default = 200
    r = client.patch("/api/v1/admin/webhooks/crm-sync", json={"active": True}, headers=admin)
    assert r.status_code == 200 and r.json["active"] and r.json["disabled_reason"] is None
    new_deal(client, admin, title="Enabled again")
    settle()
    newest, oldest = log(client, admin)
    assert (newest["status"], oldest["status"]) == ("delivered", "failed")


def client_sign_in(client: FlaskClient, username: str) -> dict[str, str]:
    from .conftest import sign_in

    return sign_in(client, username=username, password="Pass-word-1234")


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://example.test/hook", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("http://localhost/api/v1/records/deal", "this server itself"),
    ("http://127.0.0.1:80/x", "this server itself"),
    ("http://user:pw@example.test/hook", "no user or password"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http:///nohost", "no host"),
    ("https://exa mple.test/", "no spaces"),
    (42, "http(s) URL"),
])
def test_receiver_urls_are_checked(client: FlaskClient, admin: dict[str, str], url: Any,
                                   problem: str) -> None:
    build(client, admin)
    r = client.post("/api/v1/admin/webhooks", headers=admin, json={
        "name": "bad", "url": url, "events": ["record.created"], "objects": ["deal"],
        "secret": SECRET})
    assert r.status_code == 422, r.json
    assert problem in error_of(r)["fields"]["url"][0]
    assert client.get("/api/v1/admin/webhooks", headers=admin).json["items"] == []


def test_documents_private_receivers_and_self_names(
        client: FlaskClient, admin: dict[str, str], receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    build(client, admin)
    r = client.post("/api/v1/admin/webhooks", headers=admin, json={
        "name": "Bad Name", "url": receiver.url, "events": ["record.made"],
        "objects": ["nothing"], "secret": "short", "colour": "red"})
    assert r.status_code == 422
    assert set(error_of(r)["fields"]) == {"name", "events", "objects", "secret", "colour"}
    for body in (None, [], "x"):
        r = client.post("/api/v1/admin/webhooks", headers=admin, json=body)
        assert r.status_code == 400, r.json
    r = client.post("/api/v1/admin/webhooks", headers=admin, data="{", content_type="application/json")
    assert r.status_code == 400
    monkeypatch.setenv("CRMFORGE_WEBHOOK_DENY_HOSTS", "crm.example.test")
    r = client.post("/api/v1/admin/webhooks", headers=admin, json={
        "name": "me", "url": "https://crm.example.test:443/x", "events": ["*"],
        "objects": ["*"], "secret": SECRET})
    assert r.status_code == 422 and "itself" in error_of(r)["fields"]["url"][0]
    monkeypatch.setenv("CRMFORGE_WEBHOOK_ALLOW_PRIVATE", "false")
    r = client.post("/api/v1/admin/webhooks", headers=admin, json={
        "name": "local", "url": receiver.url, "events": ["*"], "objects": ["*"],
        "secret": SECRET})
    assert r.status_code == 422 and "private" in error_of(r)["fields"]["url"][0]
    monkeypatch.delenv("CRMFORGE_WEBHOOK_ALLOW_PRIVATE")
    hook = register(client, admin, receiver.url)  # loopback receivers are allowed by default
    assert "secret" not in hook and hook["owner"] == "admin"
    register(client, admin, receiver.url, expect=409)
    r = client.patch("/api/v1/admin/webhooks/crm-sync", headers=admin, json={"name": "other"})
    assert r.status_code == 422 and "renamed" in error_of(r)["fields"]["name"][0]
    r = client.patch("/api/v1/admin/webhooks/crm-sync", headers=admin,
                     json={"url": "gopher://x"})
    assert r.status_code == 422
    assert client.get("/api/v1/admin/webhooks/nope", headers=admin).status_code == 404


def test_the_secret_is_write_only_and_sealed(client: FlaskClient, admin: dict[str, str],
                                             receiver: Receiver, instance: Instance) -> None:
    build(client, admin)
    register(client, admin, receiver.url, events=["record.created"])
    for doc in (client.get("/api/v1/admin/webhooks/crm-sync", headers=admin).json,
                *client.get("/api/v1/admin/webhooks", headers=admin).json["items"]):
        assert "secret" not in doc and SECRET not in str(doc)
    with instance.tenant("default").read() as conn:
        stored = conn.execute(sa.select(webhook_rows.c.secret)).scalar_one()
    assert SECRET not in stored and len(stored) > 40
    rotated = "rotated-secret-0123456789"
    r = client.patch("/api/v1/admin/webhooks/crm-sync", json={"secret": rotated},
                     headers=admin)
    assert r.status_code == 200 and "secret" not in r.json
    new_deal(client, admin)
    settle()
    [(headers, raw)] = receiver.requests
    assert webhooks.signing.verify(rotated, raw, headers["x-crmforge-signature"])
    assert not webhooks.signing.verify(SECRET, raw, headers["x-crmforge-signature"])


def test_only_administrators_manage_webhooks(client: FlaskClient, admin: dict[str, str],
                                             receiver: Receiver) -> None:
    h = build(client, admin)
    register(client, admin, receiver.url)
    new_deal(client, admin)
    settle()
    [item] = log(client, admin)
    base = "/api/v1/admin/webhooks"
    for who in (h["sam"], h["vic"]):
        calls = [client.get(base, headers=who),
                 client.post(base, headers=who, json={"name": "x", "url": receiver.url,
                                                      "events": ["*"], "objects": ["*"],
                                                      "secret": SECRET}),
                 client.get(f"{base}/crm-sync", headers=who),
                 client.patch(f"{base}/crm-sync", headers=who, json={"active": False}),
                 client.delete(f"{base}/crm-sync", headers=who),
                 client.get(f"{base}/crm-sync/deliveries", headers=who),
                 client.post(f"{base}/crm-sync/deliveries/{item['id']}/resend", headers=who)]
        for r in calls:
            assert r.status_code == 403, (r.request.method, r.request.path, r.json)
            assert error_of(r)["code"] == "forbidden"
    assert client.get(base).status_code == 401
    assert client.get(f"{base}/crm-sync", headers=admin).json["active"] is True


def test_payloads_hold_what_the_owner_may_see(client: FlaskClient, admin: dict[str, str],
                                              receiver: Receiver) -> None:
    h = build(client, admin)
    register(client, admin, receiver.url, owner="vic")
    with receiving() as seller_side:
        register(client, admin, seller_side.url, name="seller-view", owner="sam",
                 events=["record.created", "record.updated"])
        deal = new_deal(client, admin, title="Secret amount", amount="700")
        r = client.patch(f"/api/v1/records/deal/{deal['id']}", headers=admin,
                         json={"title": "Renamed", "amount": "800", "version": 1})
        assert r.status_code == 200, r.json
        own = new_deal(client, h["sam"], title="Sam's", amount="5")
        settle()
        seller_bodies = seller_side.bodies()
    seen = {(b["record_id"], b["event"]): b for b in receiver.bodies()}
    created, updated = seen[(deal["id"], "record.created")], seen[(deal["id"], "record.updated")]
    for body in (created, updated):
        assert body["record"]["title"] in ("Secret amount", "Renamed")  # read when handled
        assert "amount" not in body["record"] and "double" not in body["record"]
        assert "amount" not in body["changes"] and "double" not in body["changes"]
    assert updated["changes"] == {"title": ["Secret amount", "Renamed"]}
    assert created["changes"]["title"] == [None, "Secret amount"]
    assert seen[(own["id"], "record.created")]["record"]["title"] == "Sam's"
    # sam sees only his own deals: the admin's deal is null to him, his own is whole
    by_record = {(b["record_id"], b["event"]): b for b in seller_bodies}
    assert len(seller_bodies) == 3, (seller_bodies, log(client, admin, "seller-view"))
    assert by_record[(deal["id"], "record.created")]["record"] is None
    assert by_record[(deal["id"], "record.updated")]["changes"] == {}
    mine = by_record[(own["id"], "record.created")]
    assert mine["record"]["amount"] == "5.00" and mine["changes"]["amount"][1] == "5.00"
    shown = json.dumps(receiver.bodies())
    assert '"amount"' not in shown and '"double"' not in shown
    assert '"800' not in shown and '"1600' not in shown and '"700' not in shown


def test_a_delivery_is_resent_as_a_new_delivery(client: FlaskClient, admin: dict[str, str],
                                                receiver: Receiver) -> None:
    build(client, admin)
    register(client, admin, receiver.url, events=["record.created"])
    new_deal(client, admin)
    settle()
    [item] = log(client, admin)
    r = client.get(f"/api/v1/admin/webhooks/crm-sync/deliveries/{item['id']}", headers=admin)
    assert r.status_code == 200 and r.json["payload"]["id"] == item["id"]
    r = client.post(f"/api/v1/admin/webhooks/crm-sync/deliveries/{item['id']}/resend",
                    headers=admin)
    assert r.status_code == 202, r.json
    again = r.json
    assert again["id"] != item["id"] and again["resent_from"] == item["id"]
    assert again["status"] == "pending"
    settle()
    first, second = receiver.bodies()
    assert second["id"] == again["id"]
    assert {k: v for k, v in first.items() if k != "id"} == \
        {k: v for k, v in second.items() if k != "id"}
    newest = log(client, admin)[0]
    assert (newest["id"], newest["status"], newest["attempts"]) == (again["id"], "delivered", 1)
    for bad in ("999999", "abc"):
        r = client.post(f"/api/v1/admin/webhooks/crm-sync/deliveries/{bad}/resend",
                        headers=admin)
        assert r.status_code == 404, r.json
    r = client.get("/api/v1/admin/webhooks/crm-sync/deliveries?limit=0", headers=admin)
    assert r.status_code == 400
    r = client.get("/api/v1/admin/webhooks/crm-sync/deliveries?limit=1", headers=admin)
    assert len(r.json["items"]) == 1 and r.json["next_before"] == again["id"]
    r = client.get(f"/api/v1/admin/webhooks/crm-sync/deliveries?before={again['id']}",
                   headers=admin)
    assert [i["id"] for i in r.json["items"]] == [item["id"]]
    assert client.delete("/api/v1/admin/webhooks/crm-sync", headers=admin).status_code == 204
    assert client.get("/api/v1/admin/webhooks/crm-sync/deliveries",
                      headers=admin).status_code == 404
