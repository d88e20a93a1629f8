"""The securities pack after core, on SQLite and PostgreSQL: every sample row installed with
stored layouts; brokers seeing only their own clients with identity and asset fields
hidden (as for most roles); the client reassignment approval end to end, followed by the
transfer it authorises; and the suitability check (C1-C5 against R1-R5, expired
assessments, professional-only products, mismatch confirmation) refusing bad
subscriptions in Chinese and English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crmforge.core import clock
from crmforge.runtime.designer import Designer

from .conftest import PACKS, PackWorld, pack_rows, refused

PACK = "securities"

DEPARTMENTS: list[tuple[str, str | None]] = [
    ("sec_hq", None), ("branch_ljz", "sec_hq"), ("branch_xjh", "sec_hq"),
    ("sec_compliance_dept", "sec_hq"), ("sec_ops_dept", "sec_hq"), ("call_center", "sec_hq")]
USERS = [
    ("broker_wang", "branch_ljz", ["sec_broker"]), ("broker_li", "branch_ljz", ["sec_broker"]),
    ("broker_sun", "branch_xjh", ["sec_broker"]),
    ("mgr_ljz", "branch_ljz", ["sec_branch_manager"]),
    ("mgr_xjh", "branch_xjh", ["sec_branch_manager"]),
    ("comp", "sec_compliance_dept", ["sec_compliance"]), ("ops", "sec_ops_dept", ["sec_operations"]),
    ("cc", "call_center", ["sec_call_center"]),
]
#: The servicing broker of each sample investor owns the investor and what hangs off it.
BROKER_OF = {"inv_zhang": "broker_wang", "inv_liu": "broker_wang", "inv_chen": "broker_li",
             "inv_hx": "broker_li", "inv_wu": "broker_sun", "inv_zhao": "broker_sun"}
WANG = {"张伟", "刘芳"}
LI = {"陈建国", "华信养老金管理有限公司"}
SUN = {"吴敏", "赵磊"}
IDENTITY = ("id_type", "id_number", "birthday", "address")
ASSETS = ("financial_assets", "annual_income", "cash_total", "total_assets", "market_value")

C1_ONLY_R1 = {"zh": "风险承受能力最低类别（C1）的投资者只能购买 R1 级产品",
              "en": "An investor of the lowest risk tolerance (C1) may only buy R1 products"}
MISMATCH = {"zh": "产品风险等级高于投资者风险承受能力，须投资者签署风险不匹配警示确认书",
            "en": "The product is riskier than the investor's tolerance; the investor must "
                  "confirm the mismatch warning"}
NO_ASSESSMENT = {"zh": "投资者没有有效的风险测评（缺失或已过期），请先重新测评",
                 "en": "The investor has no valid risk assessment (missing or expired); assess "
                       "them again first"}


@pytest.fixture(scope="module")
def sec(pack_world: PackWorld) -> PackWorld:
    """Branches as departments, users of every role, and each sample investor with its
    accounts, holdings, questionnaires and subscriptions owned by its broker."""
    w = pack_world
    w.departments(DEPARTMENTS)
    w.users(USERS)
    w.head("branch_ljz", "mgr_ljz")
    w.head("branch_xjh", "mgr_xjh")
    rows = pack_rows(PACK)
    account_owner = {r["_key"]: BROKER_OF[r["investor"]] for r in rows["sec_account"]}
    owners: dict[str, dict[str, str]] = {
        "investor": dict(BROKER_OF),
        "sec_account": account_owner,
        "holding": {r["_key"]: account_owner[r["sec_account"]] for r in rows["holding"]},
        "risk_questionnaire": {r["_key"]: BROKER_OF[r["investor"]]
                               for r in rows["risk_questionnaire"]},
        "product_subscription": {r["_key"]: BROKER_OF[r["investor"]]
                                 for r in rows["product_subscription"]},
        "client_assignment": {r["_key"]: "broker_sun" for r in rows["client_assignment"]},
        "return_visit": {r["_key"]: "cc" for r in rows["return_visit"]},
        "sec_complaint": {r["_key"]: "cc" for r in rows["sec_complaint"]},
    }
    for obj, by_key in owners.items():
        for key, owner in by_key.items():
            w.transfer(obj, w.key(obj, key), owner)
    for key in ("b_wang", "b_li", "b_sun"):  # each sample broker is one of the users
        user = w.get("admin", f"/api/v1/admin/users/broker_{key[2:]}").json
        r = w.update("admin", "sec_broker", w.key("sec_broker", key), {"broker_user": user["id"]})
        assert r.status_code == 200, r.json
    return w


def _today() -> str:
    return clock.now().date().isoformat()


def _subscribe(w: PackWorld, who: str, investor: str, product: str, amount: str = "50000",
               lang: str | None = None, **values: Any) -> Any:
    return w.create(who, "product_subscription", {
        "investor": w.key("investor", investor), "sec_product": w.key("sec_product", product),
        "amount": amount, **values}, lang=lang)


# -- 1. install ------------------------------------------------------------------------------
def test_every_sample_row_is_a_record_and_every_object_has_a_stored_layout(sec: PackWorld
                                                                           ) -> None:
    w = sec
    rows = pack_rows(PACK)
    objects = sorted(p.stem for p in (PACKS / PACK / "objects").glob("*.yaml"))
    assert len(objects) == 14
    assert set(rows) == set(objects)
    assert w.installed == {obj: len(r) for obj, r in rows.items()}
    for obj, obj_rows in rows.items():
        for row in obj_rows:
            assert w.record("admin", obj, w.key(obj, row["_key"])).status_code == 200, \
                (obj, row["_key"])
        layout = w.get("admin", f"/api/v1/meta/objects/{obj}/layout").json
        assert layout["generated"] is False, obj
        doc = w.get("admin", f"/api/v1/meta/objects/{obj}").json
        assert doc["pack"] == PACK and {"zh", "en"} <= set(doc["label"]), obj
        placed = {name for s in layout["form"]["sections"] for name in s["fields"]}
        assert placed == {f["name"] for f in doc["fields"]}, obj
        for f in doc["fields"]:
            assert {"zh", "en"} <= set(f["label"]), (obj, f["name"])
            for c in f.get("choices", []):
                assert {"zh", "en"} <= set(c["label"]), (obj, f["name"], c["value"])
    zhang = w.record("admin", "investor", w.key("investor", "inv_zhang")).json
    assert (zhang["risk_level"], zhang["last_assessed_on"], zhang["risk_expires_on"],
            zhang["risk_valid"]) == ("C3", "2026-03-15", "2028-03-15", True)
    assert (zhang["cash_total"], zhang["total_assets"], zhang["market_value"]) == \
        ("156500.35", "377287.35", "220787.00")
    wu = w.record("admin", "investor", w.key("investor", "inv_wu")).json
    assert (wu["risk_expires_on"], wu["risk_valid"]) == ("2025-05-10", False)
    q = w.record("admin", "risk_questionnaire", w.key("risk_questionnaire", "q_chen")).json
    assert (q["result_level"], q["expires_on"], q["expired"]) == ("C5", "2027-08-20", False)
    s2 = w.record("admin", "product_subscription",
                  w.key("product_subscription", "s2")).json
    assert (s2["investor_level"], s2["product_risk"], s2["risk_gap"]) == ("C3", "R4", 1)
    complaint = w.record("admin", "sec_complaint", w.key("sec_complaint", "tc1")).json
    assert (complaint["due_on"], complaint["overdue"]) == ("2026-11-05", True)
    procs = {p["name"]: p for p in w.get("admin", "/api/v1/meta/processes").json["items"]}
    assert procs["client_reassignment"]["object"] == "client_assignment"
    boards = {d["name"] for d in Designer(w.instance.tenant("default")).dashboards()}
    assert {"sec_clients", "sec_service"} <= boards
    roles = {r["name"] for r in w.get("admin", "/api/v1/admin/roles").json["items"]}
    assert {"sec_broker", "sec_branch_manager", "sec_compliance", "sec_operations",
            "sec_call_center"} <= roles


# -- 2. permissions --------------------------------------------------------------------------
def test_brokers_see_only_their_clients(sec: PackWorld) -> None:
    w = sec
    assert w.titles("broker_wang", "investor") == WANG
    assert w.titles("broker_li", "investor") == LI
    assert w.titles("broker_sun", "investor") == SUN
    assert w.titles("mgr_ljz", "investor") == WANG | LI
    assert w.titles("mgr_xjh", "investor") == SUN
    for who in ("comp", "ops", "cc"):
        assert w.titles(who, "investor") == WANG | LI | SUN, who
    chen, zhang = w.key("investor", "inv_chen"), w.key("investor", "inv_zhang")
    assert w.record("broker_wang", "investor", chen).status_code == 404
    assert w.record("mgr_xjh", "investor", zhang).status_code == 404
    assert w.titles("broker_wang", "sec_account", "account_no") == \
        {"31880001001", "31880001009", "31880002001"}
    assert w.titles("broker_sun", "holding", "security_code") == {"601318", "000001"}
    assert w.titles("broker_wang", "product_subscription", "number") == \
        {"SUB-000001", "SUB-000002", "SUB-000003"}
    # A broker's new client is theirs alone (and their branch manager's).
    mine = w.created("broker_li", "investor", {"name": "周婷", "mobile": "13911112222"})
    assert mine["investor_class"] == "ordinary" and mine["client_no"].startswith("KH")
    assert w.record("broker_wang", "investor", mine["id"]).status_code == 404
    assert w.record("mgr_ljz", "investor", mine["id"]).status_code == 200
    assert w.record("mgr_xjh", "investor", mine["id"]).status_code == 404
    # Brokers neither call back nor handle complaints; the call centre does, for everyone.
    assert w.get("broker_wang", "/api/v1/records/return_visit").status_code == 403
    assert w.get("broker_wang", "/api/v1/records/sec_complaint").status_code == 403
    visit = w.created("cc", "return_visit", {"investor": mine["id"], "visit_type":
                                             "account_opening", "result": "confirmed"})
    assert visit["visited_on"] == _today()


def test_identity_and_asset_fields_are_hidden_for_most_roles(sec: PackWorld) -> None:
    w = sec
    zhang = w.key("investor", "inv_zhang")
    for who in ("broker_wang", "cc"):
        seen = w.record(who, "investor", zhang).json
        assert (seen["name"], seen["mobile"], seen["risk_level"]) == ("张伟", "+8613800138001", "C3")
        for name in IDENTITY + ASSETS:
            assert name not in seen, (who, name)
        assert all(name not in item for item in w.items(who, "investor")
                   for name in IDENTITY + ASSETS)
    manager = w.record("mgr_ljz", "investor", zhang).json
    assert manager["total_assets"] == "377287.35" and manager["financial_assets"] == "800000.00"
    assert all(name not in manager for name in IDENTITY)
    for who in ("comp", "ops"):
        seen = w.record(who, "investor", zhang).json
        assert (seen["id_number"], seen["address"], seen["total_assets"]) == \
            ("310101198503150012", "上海市浦东新区世纪大道 100 号", "377287.35"), who
    account = w.record("broker_wang", "sec_account", w.key("sec_account", "a_zhang")).json
    assert account["account_no"] == "31880001001"
    assert all(n not in account for n in ("cash_balance", "market_value", "total_value"))
    assert w.record("mgr_ljz", "sec_account", w.key("sec_account", "a_zhang")).json[
        "cash_balance"] == "126500.35"
    holding = w.record("broker_wang", "holding", w.key("holding", "h1")).json
    assert holding["security_name"] == "贵州茅台"
    assert all(n not in holding for n in ("cost_price", "market_value", "profit"))
    # No filtering or sorting by what one may not see.
    assert w.get("broker_wang", "/api/v1/records/investor",
                 financial_assets__gt="0").status_code == 400
    assert w.get("broker_wang", "/api/v1/records/investor", sort="-total_assets").status_code \
        == 400
    # Risk tolerance and class are set by operations, not by the broker.
    assert w.update("broker_wang", "investor", zhang, {"email": "zw@example.cn"}).status_code \
        == 200
    assert w.update("broker_wang", "investor", zhang, {"risk_level": "C5"}).status_code == 403
    assert w.update("broker_wang", "investor", zhang,
                    {"investor_class": "professional"}).status_code == 403
    r = w.update("broker_wang", "investor", zhang, {"id_number": "x"})
    assert r.status_code == 403 and "id_number" not in str(r.json)


# -- 3. approvals ----------------------------------------------------------------------------
def test_reassignment_is_approved_by_the_branch_manager_and_compliance(sec: PackWorld) -> None:
    w = sec
    client = w.created("broker_wang", "investor", {"name": "孙悦", "mobile": "13922223333"})
    account = w.created("ops", "sec_account", {"account_no": "31880009001",
                                               "investor": client["id"], "cash_balance": "5000"})
    w.transfer("sec_account", account["id"], "broker_wang")  # opened for the broker's client
    request = w.created("broker_wang", "client_assignment", {
        "investor": client["id"], "from_broker": w.key("sec_broker", "b_wang"),
        "to_broker": w.key("sec_broker", "b_li"), "reason": "client_request",
        "notes": "客户希望由李娜服务"})
    assert request["status"] == "draft"
    run = w.submit("broker_wang", "client_assignment", request["id"])
    assert run["state"] == "running"
    assert w.tasks("comp", "client_assignment", request["id"]) == []
    assert w.tasks("mgr_xjh", "client_assignment", request["id"]) == []
    assert w.update("broker_wang", "client_assignment", request["id"],
                    {"reason": "rebalance"}).status_code == 403  # locked in approval
    w.act("mgr_ljz", "client_assignment", request["id"], "approve", "同意")
    done = w.act("comp", "client_assignment", request["id"], "approve", "已核实客户意愿")
    assert done["state"] == "approved"
    seen = w.record("broker_wang", "client_assignment", request["id"]).json
    assert (seen["status"], seen["approved_on"], seen["effective_date"]) == \
        ("approved", _today(), _today())
    assert w.update("mgr_ljz", "client_assignment", request["id"],
                    {"reason": "rebalance"}).status_code == 403  # approved as it was
    # The approval moved the client: the new broker serves and owns them.
    moved = w.record("broker_li", "investor", client["id"])
    assert moved.status_code == 200 and moved.json["name"] == "孙悦"
    assert moved.json["broker"] == w.key("sec_broker", "b_li")
    assert w.record("broker_wang", "investor", client["id"]).status_code == 404
    # The branch manager then moves the account it authorises.
    r = w.post("mgr_ljz", f"/api/v1/records/sec_account/{account['id']}/transfer",
               {"owner": "broker_li"})
    assert r.status_code == 200, r.json
    assert "31880009001" in w.titles("broker_li", "sec_account", "account_no")
    assert "31880009001" not in w.titles("broker_wang", "sec_account", "account_no")
    assert w.update("mgr_ljz", "client_assignment", request["id"],
                    {"status": "done"}).status_code == 200


def test_reassignment_rejected_by_the_branch_manager(sec: PackWorld) -> None:
    w = sec
    ca1 = w.key("client_assignment", "ca1")
    w.submit("broker_sun", "client_assignment", ca1)
    assert w.tasks("mgr_ljz", "client_assignment", ca1) == []  # another branch
    done = w.act("mgr_xjh", "client_assignment", ca1, "reject", "先完成离职交接清单")
    assert done["state"] == "rejected"
    assert w.record("broker_sun", "client_assignment", ca1).json["status"] == "rejected"
    assert w.tasks("comp", "client_assignment", ca1) == []
    assert w.titles("broker_sun", "investor") >= {"赵磊"}  # nothing moved
    # Requests themselves are checked.
    r = w.create("broker_sun", "client_assignment", {
        "investor": w.key("investor", "inv_zhao"), "to_broker": w.key("sec_broker", "b_sun"),
        "reason": "rebalance"}, lang="zh")
    assert refused(r, "to_broker") == ["新经纪人不在职"]
    r = w.create("broker_sun", "client_assignment", {
        "investor": w.key("investor", "inv_zhao"), "from_broker": w.key("sec_broker", "b_li"),
        "to_broker": w.key("sec_broker", "b_li"), "reason": "rebalance"})
    assert refused(r, "to_broker") == ["The new broker must differ from the current one"]


# -- 4. suitability and other rules ----------------------------------------------------------
def test_the_lowest_class_may_only_buy_r1(sec: PackWorld) -> None:
    w = sec
    who = "broker_wang"
    for confirmed in (False, True):
        r = _subscribe(w, who, "inv_liu", "p_bond", mismatch_confirmed=confirmed)
        assert C1_ONLY_R1["en"] in refused(r, "sec_product")
    r = _subscribe(w, who, "inv_liu", "p_bond", lang="zh")
    assert C1_ONLY_R1["zh"] in refused(r, "sec_product")
    r = _subscribe(w, who, "inv_liu", "p_mmf", amount="2000")
    assert r.status_code == 201, r.json
    assert (r.json["investor_level"], r.json["product_risk"], r.json["risk_gap"]) == \
        ("C1", "R1", 0)


def test_a_riskier_product_needs_the_mismatch_confirmation(sec: PackWorld) -> None:
    w = sec
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_equity", amount="20000")
    assert refused(r, "mismatch_confirmed") == [MISMATCH["en"]]
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_equity", amount="20000", lang="zh")
    assert refused(r, "mismatch_confirmed") == [MISMATCH["zh"]]
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_equity", amount="20000",
                   mismatch_confirmed=True)
    assert r.status_code == 201, r.json
    assert (r.json["investor_level"], r.json["product_risk"], r.json["risk_gap"]) == \
        ("C3", "R4", 1)
    # Within the tolerance no confirmation is asked; confirming needs the disclosure.
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_bond", status="confirmed")
    assert refused(r, "disclosure_signed") == [
        "The risk disclosure must be signed before the subscription is confirmed"]
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_bond", status="confirmed",
                   disclosure_signed=True)
    assert r.status_code == 201 and r.json["risk_gap"] == -1
    # A confirmed subscription is frozen but for its notes.
    assert w.update("broker_wang", "product_subscription", r.json["id"],
                    {"amount": "60000"}).status_code == 403
    # Professional-only products and minimum amounts.
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_priv", amount="2000000",
                   mismatch_confirmed=True, lang="zh")
    assert refused(r, "sec_product") == ["该产品仅向专业投资者销售"]
    r = _subscribe(w, "broker_wang", "inv_zhang", "p_amp", amount="5000")
    assert refused(r, "amount") == ["The amount is below the product's minimum investment"]
    # Professional investors are not matched.
    r = _subscribe(w, "broker_li", "inv_chen", "p_priv", amount="1500000")
    assert r.status_code == 201, r.json
    r = _subscribe(w, "broker_li", "inv_hx", "p_priv", amount="1500000")
    assert r.status_code == 201, r.json


def test_an_expired_assessment_blocks_until_the_investor_is_assessed_again(sec: PackWorld
                                                                           ) -> None:
    w = sec
    r = _subscribe(w, "broker_sun", "inv_wu", "p_mmf", amount="1000")
    assert refused(r, "investor") == [NO_ASSESSMENT["en"]]
    r = _subscribe(w, "broker_sun", "inv_wu", "p_mmf", amount="1000", lang="zh")
    assert refused(r, "investor") == [NO_ASSESSMENT["zh"]]
    q = w.created("broker_sun", "risk_questionnaire", {
        "investor": w.key("investor", "inv_wu"), "score": 30, "channel": "app"})
    assert (q["result_level"], q["assessed_on"], q["expired"]) == ("C2", _today(), False)
    wu = w.record("broker_sun", "investor", w.key("investor", "inv_wu")).json
    assert (wu["last_assessed_on"], wu["risk_valid"]) == (_today(), True)
    r = _subscribe(w, "broker_sun", "inv_wu", "p_mmf", amount="1000",
                   risk_questionnaire=q["id"])
    assert r.status_code == 201, r.json


def test_investor_complaint_visit_and_holding_rules(sec: PackWorld) -> None:
    w = sec
    r = w.create("ops", "investor", {"name": "钱多多", "investor_class": "professional",
                                     "financial_assets": "1000000", "experience_years": 5})
    assert refused(r, "investor_class") == [
        "An individual professional investor needs financial assets of at least 5,000,000, "
        "or 3,000,000 with 2 years of investing"]
    r = w.create("ops", "investor", {"name": "钱多多", "investor_class": "professional",
                                     "financial_assets": "1000000"}, lang="zh")
    assert refused(r, "investor_class") == [
        "个人专业投资者须金融资产不低于 500 万元，或不低于 300 万元且有 2 年以上投资经验"]
    pro = w.created("ops", "investor", {"name": "钱多多", "investor_class": "professional",
                                        "financial_assets": "3500000", "experience_years": 3})
    assert pro["investor_class"] == "professional"
    r = w.create("ops", "investor", {"name": "某资管公司", "investor_type": "institutional",
                                     "id_type": "id_card"})
    assert refused(r, "id_type") == ["An institutional investor is identified by its business licence"]
    r = w.create("cc", "sec_complaint", {"investor": w.key("investor", "inv_zhao"),
                                         "category": "fees", "description": "费率争议",
                                         "status": "resolved"}, lang="zh")
    assert refused(r, "resolution") == ["办结投诉须填写处理结果"]
    complaint = w.created("cc", "sec_complaint", {"investor": w.key("investor", "inv_zhao"),
                                                  "category": "fees", "description": "费率争议"})
    assert complaint["due_on"] == (clock.now().date() + timedelta(days=15)).isoformat()
    assert complaint["overdue"] is False
    r = w.create("cc", "return_visit", {"investor": w.key("investor", "inv_zhao"),
                                        "visit_type": "periodic", "result": "issue_found"})
    assert refused(r, "notes") == ["is required"]
    closed = w.created("ops", "sec_account", {"account_no": "31889999001",
                                              "investor": w.key("investor", "inv_zhao"),
                                              "status": "closed"})
    r = w.create("ops", "holding", {"sec_account": closed["id"], "security_code": "600000",
                                    "quantity": "100"}, lang="zh")
    assert refused(r, "sec_account") == ["已销户的账户不能有持仓"]
