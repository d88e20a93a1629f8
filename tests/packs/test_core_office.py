"""Core 1.3 with its sample organisation, on SQLite and PostgreSQL: the office work of a
sales team. Sales goals for a person, a department and the company, reached by the won
orders counted towards them.

Every figure is computed by hand from ``packs/core/data/sales_goal*.csv`` and the sample
orders: so1 (康泰, approved) wins 722,000.00 (760,000 less 5%), so3 (北风, shipped)
55,000.00, so4 (联合, closed) 90,000.00 (100,000 less 10%); so2 (华信上海) is a draft
and wins nothing until it is approved (220,000.00)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.installer import Installer
from crmforge.runtime import Instance
from crmforge.security.accounts import principal_of

from .conftest import PACKS, error_of, records, sign_in

#: goal name: (level, target, reached, orders counted, progress %)
GOALS = {
    "2026 年下半年公司销售目标": ("company", "3000000.00", "867000.00", "3", "28.90"),
    "2026 年下半年华东华北销售区目标": ("department", "1500000.00", "777000.00", "3", "51.80"),
    "2026 年下半年孙丽华个人目标": ("person", "500000.00", "0.00", "1", "0.00"),
    "2026 年下半年周明轩个人目标": ("person", "800000.00", "777000.00", "2", "97.10"),
    "2026 年下半年吴晓东个人目标": ("person", "600000.00", "90000.00", "1", "15.00"),
}


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core with its sample organisation; a sign-in for its users."""
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        installer = Installer(tenant, principal_of(conn, "admin"))
    plan = installer.install(PACKS / "core", sample_users=True)
    password = plan.sample_password
    assert password

    def who(name: str) -> dict[str, str]:
        return sign_in(client, username=name, password=password)
    return who


def _goals(client: FlaskClient, who: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records(client, who, "sales_goal")}


def _figures(goal: dict[str, Any]) -> tuple[str, ...]:
    return (goal["level"], goal["target_amount"], goal["won_amount"],
            str(goal["order_count"]), goal["progress"])


def test_goals_are_reached_by_won_orders(client: FlaskClient, admin: dict[str, str],
                                         org: Any) -> None:
    goals = _goals(client, admin)
    assert {n: _figures(g) for n, g in goals.items()} == GOALS
    # The person of each goal is the sample user it belongs to.
    boss = _goals(client, org("boss"))
    assert set(boss) == set(GOALS)
    # The dashboard draws the progress chart for the executive.
    page = client.get("/dashboards/orders", headers={**org("boss"), "Accept-Language": "zh"})
    assert page.status_code == 200
    assert "工作目标完成率" in page.get_data(as_text=True)


def test_who_sees_which_goal(client: FlaskClient, org: Any) -> None:
    n1, n2, mgr, s1 = org("rep_n1"), org("rep_n2"), org("mgr_n"), org("rep_s1")
    assert set(_goals(client, n1)) == {"2026 年下半年孙丽华个人目标"}
    assert set(_goals(client, s1)) == {"2026 年下半年吴晓东个人目标"}
    assert set(_goals(client, mgr)) == {
        "2026 年下半年华东华北销售区目标", "2026 年下半年孙丽华个人目标",
        "2026 年下半年周明轩个人目标"}
    assert {r["won"] for r in records(client, n2, "sales_goal_order")} == \
        {"722000.00", "55000.00"}
    # A rep reads their goal but cannot lower it; the manager sets the region's targets.
    mine = _goals(client, n1)["2026 年下半年孙丽华个人目标"]
    r = client.patch(f"/api/v1/records/sales_goal/{mine['id']}", headers=n1,
                     json={"target_amount": "100000", "version": mine["version"]})
    assert r.status_code == 403, r.json
    r = client.patch(f"/api/v1/records/sales_goal/{mine['id']}", headers=mgr,
                     json={"target_amount": "440000", "version": mine["version"]})
    assert r.status_code == 200, r.json
    assert r.json["progress"] == "0.00"


def test_an_order_approved_moves_every_goal_it_counts_towards(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    mgr = org("mgr_n")
    (so2,) = [o for o in records(client, mgr, "sales_order") if o["status"] == "draft"]
    r = client.patch(f"/api/v1/records/sales_order/{so2['id']}", headers=mgr,
                     json={"status": "approved", "version": so2["version"]})
    assert r.status_code == 200, r.json
    goals = _goals(client, admin)
    # 孙丽华's 220,000 of 500,000; the region's 997,000 of 1,500,000 (66.47 rounds to 66.5);
    # the company goal does not count so2.
    assert _figures(goals["2026 年下半年孙丽华个人目标"])[2:] == ("220000.00", "1", "44.00")
    assert _figures(goals["2026 年下半年华东华北销售区目标"])[2:] == ("997000.00", "3", "66.50")
    assert _figures(goals["2026 年下半年公司销售目标"])[2:] == ("867000.00", "3", "28.90")
    # A period that ends before it starts is refused.
    r = client.post("/api/v1/records/sales_goal", headers=mgr, json={
        "name": "错误的目标", "level": "department", "period_start": "2027-01-01",
        "period_end": "2026-12-31", "target_amount": "100"})
    assert r.status_code == 422, r.json
    assert "结束日期不能早于开始日期" in str(error_of(r)) or \
        "The period cannot end before it starts" in str(error_of(r))


# -- expense claims ---------------------------------------------------------------------
#: subject: (total, expenses, without an invoice, status)
CLAIMS = {
    "11 月赴上海拜访华信制造集团差旅": ("2166.00", "3", "1", "draft"),       # 1,106 + 860 + 200
    "康泰医药二期方案交流招待": ("3692.50", "2", "0", "draft"),              # 3,280 + 412.50
    "广州联合能源项目验收出差": ("1799.00", "3", "2", "draft"),              # 149 + 1,350 + 300
    "东方电子现场服务交通费": ("186.00", "1", "1", "rejected"),
}


def _claims(client: FlaskClient, who: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {r["subject"]: r for r in records(client, who, "expense_claim")}


def _tasks(client: FlaskClient, who: dict[str, str], claim: int) -> list[dict[str, Any]]:
    r = client.get("/api/v1/approvals/tasks", headers=who)
    assert r.status_code == 200, r.json
    return [t for t in r.json["items"]
            if t["object"] == "expense_claim" and t["record_id"] == claim]


def _approve(client: FlaskClient, who: dict[str, str], claim: int) -> None:
    (task,) = _tasks(client, who, claim)
    r = client.post(f"/api/v1/approvals/tasks/{task['id']}/approve", headers=who,
                    json={"comment": "同意"})
    assert r.status_code == 200, r.json


def test_who_sees_which_claim(client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    claims = _claims(client, admin)
    assert {s: (c["total"], c["line_count"], c["missing_invoices"], c["status"])
            for s, c in claims.items()} == CLAIMS
    assert set(_claims(client, org("rep_n1"))) == {"11 月赴上海拜访华信制造集团差旅"}
    assert set(_claims(client, org("agent"))) == {"东方电子现场服务交通费"}
    assert set(_claims(client, org("mgr_n"))) == {"11 月赴上海拜访华信制造集团差旅",
                                                  "康泰医药二期方案交流招待"}
    assert set(_claims(client, org("fin"))) == set(CLAIMS)
    assert set(_claims(client, org("boss"))) == set(CLAIMS)
    assert {r["amount"] for r in records(client, org("rep_n1"), "expense_claim_line")} == \
        {"1106.00", "860.00", "200.00"}
    # Nobody approves their own claim by setting its status.
    mine = claims["11 月赴上海拜访华信制造集团差旅"]
    r = client.patch(f"/api/v1/records/expense_claim/{mine['id']}", headers=org("rep_n1"),
                     json={"status": "approved", "version": mine["version"]})
    assert r.status_code in (403, 422), r.json
    # Finance reads claims but creates none.
    r = client.post("/api/v1/records/expense_claim", headers=org("fin"),
                    json={"subject": "x"})
    assert r.status_code == 403, r.json


def test_a_large_claim_goes_to_the_manager_then_finance_and_is_locked(
        client: FlaskClient, org: Any) -> None:
    rep, mgr, fin = org("rep_n1"), org("mgr_n"), org("fin")
    claim = _claims(client, rep)["11 月赴上海拜访华信制造集团差旅"]
    r = client.post("/api/v1/records/expense_claim_line", headers=rep, json={
        "claim": claim["id"], "spent_on": "2026-11-11", "category": "hospitality",
        "description": "华信集团信息中心交流晚餐", "amount": "3000", "invoice_number": "31009876"})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/approvals", headers=rep,
                    json={"object": "expense_claim", "record": claim["id"]})
    assert r.status_code == 201, r.json
    assert _tasks(client, fin, claim["id"]) == []
    _approve(client, mgr, claim["id"])
    _approve(client, fin, claim["id"])  # 5,166 is above 5,000: finance approves too
    done = client.get(f"/api/v1/records/expense_claim/{claim['id']}", headers=rep).json
    assert (done["status"], done["total"]) == ("approved", "5166.00")
    # Approved, neither the claim nor its expenses change.
    r = client.patch(f"/api/v1/records/expense_claim/{claim['id']}", headers=rep,
                     json={"subject": "改", "version": done["version"]})
    assert r.status_code in (403, 422), r.json
    r = client.post("/api/v1/records/expense_claim_line", headers=rep, json={
        "claim": claim["id"], "spent_on": "2026-11-11", "category": "meals", "amount": "50"})
    assert r.status_code == 422, r.json
    line = records(client, rep, "expense_claim_line")[0]
    r = client.patch(f"/api/v1/records/expense_claim_line/{line['id']}",
                     headers={**rep, "Accept-Language": "zh"},
                     json={"amount": "9999", "version": line["version"]})
    assert r.status_code == 422, r.json
    assert "报销单已批准，不能再增改费用" in str(error_of(r))
    r = client.delete(f"/api/v1/records/expense_claim_line/{line['id']}", headers=rep)
    assert r.status_code == 403, r.json  # expenses are corrected, never deleted
    # Finance pays it, with the date.
    r = client.patch(f"/api/v1/records/expense_claim/{claim['id']}", headers=fin,
                     json={"status": "paid", "version": done["version"]})
    assert r.status_code == 422, r.json
    r = client.patch(f"/api/v1/records/expense_claim/{claim['id']}", headers=fin,
                     json={"status": "paid", "paid_on": "2026-11-30",
                           "version": done["version"]})
    assert r.status_code == 200, r.json
    r = client.patch(f"/api/v1/records/expense_claim/{claim['id']}", headers=fin,
                     json={"paid_on": "2026-12-01", "version": r.json["version"]})
    assert r.status_code in (403, 422), r.json


def test_a_small_claim_needs_the_manager_only(client: FlaskClient, org: Any) -> None:
    rep, mgr, fin = org("rep_n2"), org("mgr_n"), org("fin")
    claim = _claims(client, rep)["康泰医药二期方案交流招待"]
    r = client.post("/api/v1/approvals", headers=rep,
                    json={"object": "expense_claim", "record": claim["id"]})
    assert r.status_code == 201, r.json
    _approve(client, mgr, claim["id"])
    assert _tasks(client, fin, claim["id"]) == []
    done = client.get(f"/api/v1/records/expense_claim/{claim['id']}", headers=rep).json
    assert done["status"] == "approved"


# -- public notices and administrative regions ------------------------------------------
NOTICES = {"关于 2027 年元旦放假安排的通知", "新版报销制度自 12 月起执行",
           "新员工销售技能培训：商机推进与谈判", "客户投诉处理规范（2026 版）"}


def test_every_role_reads_the_notices_marketing_writes_them(
        client: FlaskClient, org: Any) -> None:
    for user in ("boss", "mgr_n", "rep_n1", "rep_s1", "agent", "mkt", "fin"):
        assert {n["title"] for n in records(client, org(user), "notice")} == NOTICES, user
    notices = {n["title"]: n for n in records(client, org("rep_n1"), "notice")}
    assert notices["新员工销售技能培训：商机推进与谈判"]["kind"] == "training"
    assert notices["新版报销制度自 12 月起执行"]["is_current"] is True  # no expiry
    assert notices["客户投诉处理规范（2026 版）"]["is_current"] is False  # expired 11-30
    body = {"title": "2027 年度销售政策宣讲", "kind": "training", "audience": ["sales"],
            "publish_on": "2026-12-10", "body": "宣讲会材料见附件。"}
    for user in ("rep_n1", "mgr_n", "agent", "fin"):
        r = client.post("/api/v1/records/notice", headers=org(user), json=body)
        assert r.status_code == 403, (user, r.json)
    r = client.post("/api/v1/records/notice", headers=org("mkt"),
                    json={**body, "expires_on": "2026-12-01"})
    assert r.status_code == 422, r.json
    r = client.post("/api/v1/records/notice", headers=org("mkt"), json=body)
    assert r.status_code == 201, r.json
    assert len(records(client, org("agent"), "notice")) == 5


def test_regions_form_a_hierarchy_and_place_accounts(client: FlaskClient, org: Any) -> None:
    rep = org("rep_s1")
    regions = {r["name"]: r for r in records(client, rep, "admin_region")}
    assert len(regions) == 16
    tianhe = regions["天河区"]
    assert (tianhe["code"], tianhe["level"]) == ("440106", "district")
    assert tianhe["parent"] == regions["广州市"]["id"]
    assert regions["广州市"]["parent"] == regions["广东省"]["id"]
    assert regions["广东省"]["parent"] is None
    assert regions["浦东新区"]["parent"] == regions["上海市"]["id"]  # a municipality's district
    accounts = {a["name"]: a for a in records(client, rep, "account")}
    assert accounts["联合商贸分销"]["admin_region"] == tianhe["id"]
    # Reps read the regions; only the administrator maintains them.
    r = client.post("/api/v1/records/admin_region", headers=rep,
                    json={"name": "越秀区", "code": "440104", "level": "district",
                          "parent": regions["广州市"]["id"]})
    assert r.status_code == 403, r.json


def test_a_region_has_a_parent_unless_it_is_a_province(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    regions = {r["name"]: r for r in records(client, admin, "admin_region")}
    for body in ({"name": "苏州市", "code": "320500", "level": "city"},
                 {"name": "江苏省", "code": "320000", "level": "province",
                  "parent": regions["上海市"]["id"]},
                 {"name": "越秀区", "code": "4401", "level": "district",
                  "parent": regions["广州市"]["id"]},
                 {"name": "天河", "code": "440106", "level": "district",
                  "parent": regions["广州市"]["id"]}):
        r = client.post("/api/v1/records/admin_region", headers=admin, json=body)
        assert r.status_code in (409, 422), (body, r.json)
    r = client.post("/api/v1/records/admin_region", headers=admin,
                    json={"name": "越秀区", "code": "440104", "level": "district",
                          "parent": regions["广州市"]["id"]})
    assert r.status_code == 201, r.json
