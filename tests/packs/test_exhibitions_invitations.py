"""Exhibitions 1.2 with its sample organisation: an invitation campaign e-mailed to its
invitees through the mail outbox and a real SMTP server that refuses one address at RCPT;
the refused invitee bounced and its visitor's address marked invalid, the campaign's
figures, a second send that sends nothing twice, a later campaign skipping the invalid
address, and who sees which campaigns, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from tests.integration.automation_world import settle
from tests.integration.test_email_jobs import Box, smtp  # noqa: F401 (the fixture)

from .conftest import error_of, find, records, with_sample_org


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core, then exhibitions with its sample organisation; a sign-in for its users."""
    return with_sample_org(instance, client, "exhibitions")


def _send(client: FlaskClient, who: dict[str, str], campaign: dict[str, Any]) -> None:
    r = client.get(f"/api/v1/records/expo_campaign/{campaign['id']}", headers=who)
    assert r.status_code == 200, r.json
    r = client.patch(f"/api/v1/records/expo_campaign/{campaign['id']}", headers=who,
                     json={"status": "sending", "version": r.json["version"]})
    assert r.status_code == 200, r.json
    for _ in range(3):  # campaign rule -> invitee rule -> mail job -> delivery result
        settle(client)


def _by_name(client: FlaskClient, who: dict[str, str], obj: str) -> dict[str, Any]:
    return {r["name"]: r for r in records(client, who, obj)}


def test_a_campaign_mails_its_invitees_and_marks_the_refused_address_invalid(
        client: FlaskClient, admin: dict[str, str], org: Any,
        smtp: Box) -> None:  # noqa: F811 (the imported fixture)
    svc = org("svc")
    smtp.refused.add("feng.xue@haichuan.example.cn")
    campaign = find(client, admin, "expo_campaign", name="第二十六届投洽会采购商与投资人邀请")
    assert (campaign["status"], campaign["invitee_count"], campaign["sent_count"]) == (
        "draft", "5", "3")
    _send(client, svc, campaign)
    # Only those not yet sent to: the registered and the accepting invitees get nothing.
    assert sorted(to for tos, _ in smtp.messages for to in tos) == ["wei.lan@xmrb.example.cn"]
    [(_, msg)] = smtp.messages
    assert msg["Subject"] == ("邀请函：第二十六届投洽会采购商与投资人邀请 / "
                              "Invitation: 第二十六届投洽会采购商与投资人邀请")
    body = msg.get_body(("plain",))
    assert body is not None and "卫兰，您好" in body.get_content()
    assert "诚邀您莅临第二十六届" in body.get_content()
    invitees = _by_name(client, svc, "expo_invitee")
    assert invitees["卫兰"]["status"] == "sent"
    assert invitees["冯雪"]["status"] == "bounced"
    assert "550" in invitees["冯雪"]["delivery_note"]
    assert (invitees["郑浩"]["status"], invitees["Maria Lopez"]["status"]) == (
        "registered", "accepted")
    # The address is marked invalid on the visitor it came from.
    assert find(client, admin, "visitor", name="冯雪")["email_invalid"] is True
    assert find(client, admin, "visitor", name="卫兰")["email_invalid"] is False
    r = client.get(f"/api/v1/records/expo_campaign/{campaign['id']}", headers=svc)
    got = r.json
    assert (got["status"], got["invitee_count"], got["sent_count"], got["bounced_count"],
            got["accepted_count"], got["registered_count"]) == ("sent", "5", "4", "1", "2", "1")
    assert got["last_sent_on"] is not None
    assert got["acceptance_rate"] == "50.00" and got["bounce_rate"] == "20.00"
    # Sending again sends nothing twice.
    _send(client, svc, campaign)
    assert len(smtp.messages) == 1
    # A later campaign skips the invalid address, and cannot be forced to send to it.
    r = client.post("/api/v1/records/expo_campaign", headers=svc, json={
        "name": "投洽会闭幕酒会邀请", "edition": campaign["edition"], "audience": "visitors",
        "message": "诚邀出席闭幕酒会。"})
    assert r.status_code == 201, r.json
    later = r.json
    for name, visitor in (("冯雪", "冯雪"), ("卫兰", "卫兰")):
        v = find(client, admin, "visitor", name=visitor)
        r = client.post("/api/v1/records/expo_invitee", headers=svc, json={
            "campaign": later["id"], "name": name, "visitor": v["id"],
            "email": invitees[name]["email"]})
        assert r.status_code == 201, r.json
        if name == "冯雪":
            skipped = r.json
            assert skipped["address_invalid"] is True
    r = client.patch(f"/api/v1/records/expo_invitee/{skipped['id']}", headers=svc,
                     json={"status": "queued", "version": skipped["version"]})
    assert r.status_code == 422
    assert "This address is marked invalid" in str(error_of(r))
    _send(client, svc, later)
    assert [tos for tos, _ in smtp.messages[1:]] == [["wei.lan@xmrb.example.cn"]]
    r = client.get(f"/api/v1/records/expo_campaign/{later['id']}", headers=svc)
    assert (r.json["invitee_count"], r.json["sent_count"], r.json["bounced_count"]) == ("2", "1", "0")


def test_a_bounce_notice_arriving_later_marks_the_visitor_invalid(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    svc = org("svc")
    chu = _by_name(client, svc, "expo_invitee")["褚明"]
    assert chu["status"] == "sent"
    assert find(client, admin, "visitor", name="褚明")["email_invalid"] is False
    r = client.patch(f"/api/v1/records/expo_invitee/{chu['id']}", headers=svc, json={
        "status": "bounced", "delivery_note": "DSN: 5.2.2 mailbox full",
        "version": chu["version"]})
    assert r.status_code == 200, r.json
    assert find(client, admin, "visitor", name="褚明")["email_invalid"] is True
    # The sample's earlier bounce marked its contact when the pack was installed.
    assert find(client, admin, "contact", name="陈静")["email_invalid"] is True
    assert find(client, admin, "contact", name="李敏")["email_invalid"] is False


def test_sellers_see_only_their_own_campaigns_and_invitees(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    exh, east2, buyers = ("第二十六届投洽会展商邀请", "第二十六届投洽会华东展商续展邀请",
                          "第二十六届投洽会采购商与投资人邀请")
    seen = {who: set(_by_name(client, org(who), "expo_campaign"))
            for who in ("seller1", "seller2", "seller3", "mgr_east", "svc", "expo_dir")}
    assert seen == {"seller1": {exh}, "seller2": {east2}, "seller3": set(),
                    "mgr_east": {exh, east2}, "svc": {exh, east2, buyers},
                    "expo_dir": {exh, east2, buyers}}
    assert set(_by_name(client, org("seller1"), "expo_invitee")) == {
        "华信制造集团", "星辰电子", "李敏", "陈静"}
    assert set(_by_name(client, org("seller2"), "expo_invitee")) == {"海洋湾产业园", "蓝天物流"}
    assert len(records(client, org("mgr_east"), "expo_invitee")) == 6
    # A seller cannot add invitees to another seller's campaign, nor send it.
    seller2 = org("seller2")
    other = find(client, admin, "expo_campaign", name=exh)
    r = client.post("/api/v1/records/expo_invitee", headers=seller2, json={
        "campaign": other["id"], "name": "x", "email": "x@example.test"})
    assert r.status_code in (403, 404, 422), r.json
    r = client.patch(f"/api/v1/records/expo_campaign/{other['id']}", headers=seller2,
                     json={"status": "sending", "version": other["version"]})
    assert r.status_code in (403, 404), r.json
    # Finance has no campaigns at all.
    r = client.get("/api/v1/records/expo_campaign", headers=org("expo_fin"))
    assert r.status_code == 403
