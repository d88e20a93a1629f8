"""Pharma 1.2 with its sample organisation: representative kinds, supermarket and mall
terminals, and sales expense control per representative (a yearly budget, claims, their
approval, and spending against the budget), on SQLite and PostgreSQL.

Every figure below is computed by hand from ``packs/pharma/data/ph_rep*.csv``: claims
count against a budget once approved or paid; drafts and rejected claims do not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.core import clock
from crmforge.runtime import Instance
from crmforge.runtime.aggregates import distribution
from crmforge.security.accounts import principal_of

from .conftest import error_of, records, with_sample_org

#: name: (budget, claimed, remaining, budget used %)
BUDGETS = {
    "陈思远": ("36000.00", "2360.00", "33640.00", "6.60"),   # 860 + 1,500; the 420 draft not
    "杨静怡": ("20000.00", "300.00", "19700.00", "1.50"),
    "黄文杰": ("30000.00", "2600.00", "27400.00", "8.70"),   # the rejected 540 not
    "马俊峰": ("30000.00", "1200.00", "28800.00", "4.00"),
    "孙浩然": ("18000.00", "680.00", "17320.00", "3.80"),
    "周雨桐": ("20000.00", "0.00", "20000.00", "0.00"),
}
SHANGHAI = {"上海瑞和医院", "上海中山路医院", "静安区中心医院", "益丰大药房（南京西路店）",
            "家乐福古北店药品专柜", "港汇恒隆广场健康生活馆"}


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core, then pharma with its sample organisation; a sign-in for its users."""
    return with_sample_org(instance, client, "pharma")



def _by_name(client: FlaskClient, who: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records(client, who, "ph_rep")}


def test_budgets_claims_and_the_dashboard_figures(instance: Instance, client: FlaskClient,
                                                   admin: dict[str, str], org: Any) -> None:
    reps = _by_name(client, admin)
    assert {n: (r["expense_budget"], r["claimed"], r["remaining"], r["budget_used"])
            for n, r in reps.items()} == BUDGETS
    assert {n: r["kind"] for n, r in reps.items()} == {
        "陈思远": "hospital", "杨静怡": "pharmacy", "黄文杰": "hospital", "马俊峰": "commercial",
        "孙浩然": "retail", "周雨桐": "marketing"}
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        me = principal_of(conn, "admin")
    by_status = {g["value"]: (g["count"], Decimal(str(g["total"])).quantize(Decimal("0.01")))
                 for g in distribution(tenant, me, "ph_rep_claim", "status", "amount")}
    assert by_status == {"approved": (4, Decimal("3040.00")), "paid": (2, Decimal("4100.00")),
                         "draft": (1, Decimal("420.00")), "rejected": (1, Decimal("540.00"))}
    kinds = {g["value"]: g["count"] for g in distribution(tenant, me, "hospital", "kind")}
    assert kinds == {"hospital": 5, "pharmacy": 1, "clinic": 1, "supermarket": 1, "mall": 1}
    claimed = {g["value"]: Decimal(str(g["total"])).quantize(Decimal("0.01"))
               for g in distribution(tenant, me, "ph_rep", "name", "claimed")}
    assert claimed == {n: Decimal(b[1]) for n, b in BUDGETS.items()}
    # The dashboard draws them, for the manager as for the administrator.
    page = client.get("/dashboards/pharma_field_force",
                      headers={**org("dm_east"), "Accept-Language": "zh"})
    assert page.status_code == 200
    assert "销售费用预算使用率" in page.get_data(as_text=True)


def test_who_sees_which_profile_claim_and_terminal(client: FlaskClient, org: Any) -> None:
    sh1, dm, rt, bj = org("rep_sh1"), org("dm_east"), org("rep_rt"), org("rep_bj")
    assert set(_by_name(client, sh1)) == {"陈思远"}
    assert {r["amount"] for r in records(client, sh1, "ph_rep_claim")} == \
        {"860.00", "1500.00", "420.00"}
    # The district manager: the profiles and claims of the east region's reps.
    assert set(_by_name(client, dm)) == {"陈思远", "杨静怡", "黄文杰", "孙浩然"}
    assert len(records(client, dm, "ph_rep_claim")) == 7
    assert {r["amount"] for r in records(client, bj, "ph_rep_claim")} == {"1200.00"}
    # The retail rep works the supermarket and the mall; the territory sees them all.
    assert {r["name"] for r in records(client, rt, "hospital")} == SHANGHAI
    assert {r["name"] for r in records(client, sh1, "hospital")} == SHANGHAI
    # A rep reads their budget but cannot raise it.
    mine = _by_name(client, sh1)["陈思远"]
    r = client.patch(f"/api/v1/records/ph_rep/{mine['id']}", headers=sh1,
                     json={"expense_budget": "99000", "version": mine["version"]})
    assert r.status_code == 403, r.json


def test_a_claim_is_approved_against_the_budget(client: FlaskClient, org: Any) -> None:
    sh1, dm, fin = org("rep_sh1"), org("dm_east"), org("ph_fin")
    rep = _by_name(client, sh1)["陈思远"]
    today = clock.now().date().isoformat()
    r = client.post("/api/v1/records/ph_rep_claim", headers=sh1, json={
        "rep": rep["id"], "expense_type": "hospitality", "amount": "2500", "spent_on": today})
    assert r.status_code == 201, r.json
    claim = r.json
    r = client.post("/api/v1/approvals", headers=sh1,
                    json={"object": "ph_rep_claim", "record": claim["id"]})
    assert r.status_code == 201, r.json

    def task(who: dict[str, str]) -> list[dict[str, Any]]:
        r = client.get("/api/v1/approvals/tasks", headers=who)
        return [t for t in r.json["items"]
                if t["object"] == "ph_rep_claim" and t["record_id"] == claim["id"]]

    (step,) = task(dm)
    assert client.post(f"/api/v1/approvals/tasks/{step['id']}/approve", headers=dm,
                       json={"comment": "ok"}).status_code == 200
    (step,) = task(fin)  # above 2,000: finance approves too
    assert client.post(f"/api/v1/approvals/tasks/{step['id']}/approve", headers=fin,
                       json={"comment": "ok"}).status_code == 200
    after = _by_name(client, sh1)["陈思远"]
    assert (after["claimed"], after["remaining"], after["budget_used"]) == \
        ("4860.00", "31140.00", "13.50")
    # Approved, the claim no longer changes (finance may still mark it paid).
    done = client.get(f"/api/v1/records/ph_rep_claim/{claim['id']}", headers=sh1).json
    assert done["status"] == "approved"
    r = client.patch(f"/api/v1/records/ph_rep_claim/{claim['id']}", headers=fin,
                     json={"status": "paid", "version": done["version"]})
    assert r.status_code == 200, r.json


@pytest.mark.parametrize("lang,message", [
    ("zh", "超出该代表本年度剩余的费用额度"),
    ("en", "This exceeds the representative's remaining expense budget")])
def test_a_claim_above_the_remaining_budget_is_refused(client: FlaskClient, org: Any,
                                                       lang: str, message: str) -> None:
    bj = org("rep_bj")
    rep = _by_name(client, bj)["马俊峰"]
    today = clock.now().date().isoformat()
    body = {"rep": rep["id"], "expense_type": "travel", "amount": "28800.01",
            "spent_on": today}
    r = client.post("/api/v1/records/ph_rep_claim", json=body,
                    headers={**bj, "Accept-Language": lang})
    assert r.status_code == 422, r.json
    assert message in str(error_of(r))
    assert {r["amount"] for r in records(client, bj, "ph_rep_claim")} == {"1200.00"}
    # Exactly the remaining budget is allowed.
    r = client.post("/api/v1/records/ph_rep_claim", json={**body, "amount": "28800.00"},
                    headers=bj)
    assert r.status_code == 201, r.json
