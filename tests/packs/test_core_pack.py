"""The core pack with users of its roles, on both databases: who sees and changes which
accounts and fields, the order discount approval end to end, and its business rules."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from tests.integration.conftest import error_of

from .conftest import install, staff

PASSWORD = "Core-pass-1234"
DEPARTMENTS = [("hq", None), ("sales", "hq"), ("north", "sales"), ("south", "sales"),
               ("service", "hq")]
USERS = [("boss", "hq", ["executive"]), ("mgr_n", "north", ["sales_manager"]),
         ("rep_n1", "north", ["sales_rep"]), ("rep_n2", "north", ["sales_rep"]),
         ("rep_s1", "south", ["sales_rep"]), ("agent", "service", ["service_agent"]),
         ("mkt", "hq", ["marketing"])]


@pytest.fixture
def world(instance: Instance, client: FlaskClient, admin: dict[str, str]) -> dict[str, Any]:
    install(instance, "core")
    headers = staff(client, admin, DEPARTMENTS, USERS,
                    {"north": "mgr_n", "hq": "boss", "sales": "boss"}, PASSWORD)
    accounts = {}
    for username in ("rep_n1", "rep_n2", "rep_s1"):
        r = client.post("/api/v1/records/account", headers=headers[username],
                        json={"name": f"Account of {username}", "industry": "energy"})
        assert r.status_code == 201, r.json
        accounts[username] = r.json["id"]
    return {"h": headers, "accounts": accounts, "admin": admin}


def _names(client: FlaskClient, headers: dict[str, str], obj: str = "account") -> set[str]:
    r = client.get(f"/api/v1/records/{obj}?limit=200", headers=headers)
    assert r.status_code == 200, r.json
    return {i["name"] for i in r.json["items"]}


def test_who_sees_which_accounts(client: FlaskClient, world: dict[str, Any]) -> None:
    h = world["h"]
    assert _names(client, h["rep_n1"]) == {"Account of rep_n1"}
    assert _names(client, h["mgr_n"]) == {"Account of rep_n1", "Account of rep_n2"}
    everything = _names(client, h["boss"])
    assert {"Account of rep_s1", "华信制造集团"} <= everything  # sample data too
    assert _names(client, h["agent"]) == everything
    one = world["accounts"]["rep_n2"]
    assert client.get(f"/api/v1/records/account/{one}", headers=h["rep_n1"]).status_code == 404


def test_field_rules_of_the_roles(client: FlaskClient, world: dict[str, Any]) -> None:
    h, mine = world["h"], world["accounts"]["rep_n1"]
    seen = client.get(f"/api/v1/records/account/{mine}", headers=h["rep_n1"]).json
    assert "annual_revenue" in seen and "rating" in seen
    r = client.patch(f"/api/v1/records/account/{mine}", headers=h["rep_n1"],
                     json={"annual_revenue": "1", "version": seen["version"]})
    assert r.status_code == 403 and "annual_revenue" in error_of(r)["fields"]
    as_agent = client.get(f"/api/v1/records/account/{mine}", headers=h["agent"]).json
    assert "annual_revenue" not in as_agent and "rating" not in as_agent
    as_mkt = client.get(f"/api/v1/records/account/{mine}", headers=h["mkt"]).json
    assert "annual_revenue" not in as_mkt and as_mkt["name"] == "Account of rep_n1"


def test_operations_of_the_roles(client: FlaskClient, world: dict[str, Any]) -> None:
    h = world["h"]
    for user in ("boss", "agent", "mkt"):
        r = client.post("/api/v1/records/account", headers=h[user], json={"name": "x"})
        assert r.status_code == 403, user
    assert client.post("/api/v1/records/campaign", headers=h["mkt"],
                       json={"name": "Spring fair", "type": "exhibition"}).status_code == 201
    assert client.post("/api/v1/records/campaign", headers=h["rep_n1"],
                       json={"name": "x"}).status_code == 403
    r = client.post("/api/v1/records/service_request", headers=h["agent"],
                    json={"subject": "Printer", "account": world["accounts"]["rep_s1"]})
    assert r.status_code == 201, r.json


def _order(client: FlaskClient, world: dict[str, Any], discount: int) -> int:
    h = world["h"]["rep_n1"]
    r = client.post("/api/v1/records/sales_order", headers=h, json={
        "account": world["accounts"]["rep_n1"], "discount": discount})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _task(client: FlaskClient, headers: dict[str, str], record: int) -> str:
    items = client.get("/api/v1/approvals/tasks", headers=headers).json["items"]
    found = [t for t in items if t.get("record_id") == record]
    assert found, items
    return str(found[0]["id"])


def _status(client: FlaskClient, world: dict[str, Any], record: int) -> str:
    r = client.get(f"/api/v1/records/sales_order/{record}", headers=world["admin"])
    return str(r.json["status"])


def test_order_discount_approval_by_the_manager(client: FlaskClient,
                                                world: dict[str, Any]) -> None:
    h = world["h"]
    order = _order(client, world, 15)
    r = client.post("/api/v1/approvals", headers=h["rep_n1"],
                    json={"object": "sales_order", "record": order})
    assert r.status_code == 201, r.json
    task = _task(client, h["mgr_n"], order)
    # The rep cannot act on the manager's task; the order is locked while in approval.
    assert client.post(f"/api/v1/approvals/tasks/{task}/approve",
                       headers=h["rep_n1"]).status_code in (403, 404)
    current = client.get(f"/api/v1/records/sales_order/{order}", headers=h["rep_n1"]).json
    locked = client.patch(f"/api/v1/records/sales_order/{order}", headers=h["rep_n1"],
                          json={"discount": 5, "version": current["version"]})
    assert locked.status_code in (403, 409, 422), locked.json
    done = client.post(f"/api/v1/approvals/tasks/{task}/approve", headers=h["mgr_n"],
                       json={"comment": "ok"})
    assert done.status_code == 200, done.json
    assert _status(client, world, order) == "approved"  # 15% needs no executive


def test_large_discounts_also_need_an_executive_and_can_be_rejected(
        client: FlaskClient, world: dict[str, Any]) -> None:
    h = world["h"]
    big = _order(client, world, 25)
    assert client.post("/api/v1/approvals", headers=h["rep_n1"],
                       json={"object": "sales_order", "record": big}).status_code == 201
    client.post(f"/api/v1/approvals/tasks/{_task(client, h['mgr_n'], big)}/approve",
                headers=h["mgr_n"])
    assert _status(client, world, big) != "approved"
    r = client.post(f"/api/v1/approvals/tasks/{_task(client, h['boss'], big)}/approve",
                    headers=h["boss"])
    assert r.status_code == 200, r.json
    assert _status(client, world, big) == "approved"
    other = _order(client, world, 12)
    client.post("/api/v1/approvals", headers=h["rep_n1"],
                json={"object": "sales_order", "record": other})
    r = client.post(f"/api/v1/approvals/tasks/{_task(client, h['mgr_n'], other)}/reject",
                    headers=h["mgr_n"], json={"comment": "too much"})
    assert r.status_code == 200, r.json
    assert _status(client, world, other) == "rejected"


def test_business_rules_of_core(client: FlaskClient, world: dict[str, Any]) -> None:
    h = world["h"]["rep_n1"]
    over = client.post("/api/v1/records/sales_order?lang=zh", headers=h, json={
        "account": world["accounts"]["rep_n1"], "discount": 35})
    assert over.status_code == 422 and "折扣不能超过 30%" in str(error_of(over)["fields"])
    won = client.post("/api/v1/records/opportunity", headers=h, json={
        "name": "Deal", "account": world["accounts"]["rep_n1"], "stage": "closed_won",
        "amount": 10})
    assert won.status_code == 422 and "close date" in str(error_of(won)["fields"]["close_date"])
    lost = client.post("/api/v1/records/opportunity", headers=h, json={
        "name": "Deal", "account": world["accounts"]["rep_n1"], "stage": "closed_lost"})
    assert lost.status_code == 422 and "loss_reason" in error_of(lost)["fields"]
    ok = client.post("/api/v1/records/opportunity", headers=h, json={
        "name": "Deal", "account": world["accounts"]["rep_n1"], "stage": "negotiate",
        "amount": "1000"})
    assert ok.status_code == 201 and ok.json["expected_revenue"] == "700.00"
