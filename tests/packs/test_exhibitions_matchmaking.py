"""Exhibitions 1.1 with its sample organisation: project and procurement matchmaking,
requirement slips routed to the colleague who handles them and tracked until answered,
and the churn warning, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.security.accounts import principal_of
from crmforge.workflow.automation import scan_date_rules
from crmforge.workflow.tables import notifications
from tests.integration.automation_world import settle

from .conftest import error_of, find, with_sample_org


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core, then exhibitions with its sample organisation; a sign-in for its users."""
    return with_sample_org(instance, client, "exhibitions")


def _told(instance: Instance, username: str) -> list[str]:
    """The bodies of the automation notifications ``username`` has received."""
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        uid = principal_of(conn, username).user_id
        return [b for (b,) in conn.execute(sa.select(notifications.c.body).where(
            notifications.c.user_id == uid, notifications.c.kind == "automation"))]


def _subjects(client: FlaskClient, who: dict[str, str], obj: str) -> set[str]:
    r = client.get(f"/api/v1/records/{obj}?limit=200", headers=who)
    assert r.status_code == 200, r.json
    return {i["subject"] for i in r.json["items"]}


def test_matchmaking_pairs_parties_of_one_edition_and_records_the_outcome(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    svc = org("svc")
    deal = find(client, admin, "match_request", status="deal")
    assert (deal["kind"], deal["deal_amount"]) == ("project", "3000000.00")
    edition = deal["edition"]
    star = find(client, admin, "exhibitor", name="星辰电子")
    buyer = find(client, admin, "visitor", name="郑浩")
    body = {"subject": "伺服驱动器二次洽谈", "edition": edition, "kind": "procurement",
            "exhibitor": star["id"], "visitor": buyer["id"]}
    r = client.post("/api/v1/records/match_request", headers=svc, json=body)
    assert r.status_code == 201, r.json
    mine = r.json
    # A visitor of another edition cannot be paired here.
    other = find(client, admin, "visitor", name="Tan Wei")
    r = client.post("/api/v1/records/match_request",
                    headers={**svc, "Accept-Language": "zh"},
                    json={**body, "visitor": other["id"]})
    assert r.status_code == 422 and "展商和客商必须属于同一届展会" in str(error_of(r))
    # A deal needs its amount, and a meeting its outcome.
    r = client.patch(f"/api/v1/records/match_request/{mine['id']}", headers=svc,
                     json={"status": "deal", "outcome": "签订采购框架协议",
                           "version": mine["version"]})
    assert r.status_code == 422 and "A deal needs its amount" in str(error_of(r))
    r = client.patch(f"/api/v1/records/match_request/{mine['id']}", headers=svc,
                     json={"status": "met", "version": mine["version"]})
    assert r.status_code == 422 and "Record the outcome" in str(error_of(r))
    r = client.patch(f"/api/v1/records/match_request/{mine['id']}", headers=svc,
                     json={"status": "deal", "outcome": "签订采购框架协议",
                           "deal_amount": "450000", "version": mine["version"]})
    assert r.status_code == 200, r.json
    # Sellers see the matchmaking they own, not the services team's.
    assert _subjects(client, org("seller1"), "match_request") == set()


def test_a_requirement_slip_reaches_its_handler_and_is_tracked_until_answered(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    seller1, svc = org("seller1"), org("svc")
    # The sample slips: the visa letter waits past its due date, the interview does not.
    assert find(client, admin, "requirement_slip", subject="境外客商签证邀请函")["overdue"] is True
    assert find(client, admin, "requirement_slip", subject="媒体专访安排")["overdue"] is False
    star = find(client, admin, "exhibitor", name="星辰电子")
    handler = principal_of_user(instance, "svc")
    r = client.post("/api/v1/records/requirement_slip", headers=seller1, json={
        "subject": "展台网络专线", "exhibitor": star["id"], "detail": "需要 100M 有线专线一条",
        "handler": handler})
    assert r.status_code == 201, r.json
    slip = r.json
    due = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert (slip["status"], slip["due_on"], slip["overdue"]) == ("open", due, False)
    settle(client)
    assert any("展台网络专线" in b and due in b for b in _told(instance, "svc"))
    # The seller who raised it sees only their own slips; the handler works on it.
    assert "展台网络专线" in _subjects(client, seller1, "requirement_slip")
    assert "境外客商签证邀请函" not in _subjects(client, seller1, "requirement_slip")
    r = client.patch(f"/api/v1/records/requirement_slip/{slip['id']}",
                     headers={**svc, "Accept-Language": "zh"},
                     json={"status": "answered", "version": slip["version"]})
    assert r.status_code == 422 and "答复或关闭前请填写答复内容" in str(error_of(r))
    r = client.patch(f"/api/v1/records/requirement_slip/{slip['id']}", headers=svc,
                     json={"status": "closed", "answer": "9 月 6 日开通",
                           "version": slip["version"]})
    assert r.status_code == 200, r.json
    r = client.patch(f"/api/v1/records/requirement_slip/{slip['id']}", headers=svc,
                     json={"answer": "改了", "version": r.json["version"]})
    assert r.status_code == 403, r.json  # closed: it no longer changes


def test_an_unanswered_slip_reminds_its_handler_and_its_author_after_the_due_date(
        instance: Instance, client: FlaskClient, org: Any) -> None:
    seller2 = org("seller2")
    raised = (dt.date.today() - dt.timedelta(days=4)).isoformat()  # due yesterday
    r = client.post("/api/v1/records/requirement_slip", headers=seller2, json={
        "subject": "补寄参展证件", "detail": "两张参展证遗失，请补办", "raised_on": raised,
        "handler": principal_of_user(instance, "svc")})
    assert r.status_code == 201, r.json
    assert r.json["overdue"] is True
    fired = scan_date_rules(instance.tenant("default"), dt.datetime.now(dt.UTC))
    assert fired >= 1
    assert any("补寄参展证件" in b for b in _told(instance, "svc"))
    assert any("补寄参展证件" in b for b in _told(instance, "seller2"))


def test_a_leaving_or_unhappy_exhibitor_warns_its_seller(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    seller1 = org("seller1")
    cifit26 = find(client, admin, "edition", name="第二十六届投洽会")
    huaxin = find(client, admin, "exhibitor", name="华信制造集团", edition=cifit26["id"])
    r = client.patch(f"/api/v1/records/exhibitor/{huaxin['id']}", headers=seller1,
                     json={"satisfaction": "low", "version": huaxin["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    assert any("华信制造集团" in b for b in _told(instance, "seller1"))
    r = client.get("/api/v1/records/activity?limit=200", headers=admin)
    assert "流失挽留 Retention: 华信制造集团" in {a["subject"] for a in r.json["items"]}
    # A change that keeps an exhibitor happy warns nobody.
    robot = find(client, admin, "exhibitor", name="优创机器人")
    r = client.patch(f"/api/v1/records/exhibitor/{robot['id']}", headers=seller1,
                     json={"satisfaction": "high", "next_intent": "renewed",
                           "version": robot["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    assert not any("优创机器人" in b for b in _told(instance, "seller1"))


def principal_of_user(instance: Instance, username: str) -> int:
    with instance.tenant("default").read() as conn:
        return int(principal_of(conn, username).user_id)
