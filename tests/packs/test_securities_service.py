"""Securities 1.3 with its sample organisation: the automation rules that track sales,
care for investors and chase open complaints (销售跟踪、服务关怀自动化), on SQLite and
PostgreSQL. Date rules run by a scan of the day, record rules after the save."""

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

from .conftest import error_of, find, records, with_sample_org

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core, then securities with its sample organisation; a sign-in for its users."""
    return with_sample_org(instance, client, "securities")


def _today() -> dt.date:
    """Today in China, the zone of the pack's date rules."""
    return dt.datetime.now(SHANGHAI).date()


def _told(instance: Instance, username: str) -> list[str]:
    """The bodies of the automation notifications ``username`` has received."""
    with instance.tenant("default").read() as conn:
        uid = principal_of(conn, username).user_id
        return [b for (b,) in conn.execute(sa.select(notifications.c.body).where(
            notifications.c.user_id == uid, notifications.c.kind == "automation"))]


def _plans(client: FlaskClient, who: dict[str, str]) -> set[str]:
    return {a["subject"] for a in records(client, who, "activity")}


def _post(client: FlaskClient, who: dict[str, str], obj: str, **values: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/records/{obj}", headers=who, json=values)
    assert r.status_code == 201, r.json
    return dict(r.json)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def test_an_expiring_risk_assessment_reminds_the_broker_and_plans_a_return_visit(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    wang, li = org("broker_wang"), org("broker_li")
    expires = _today() + dt.timedelta(days=30)
    assessed = _years_before(expires, 2)
    if (expires.month, expires.day) == (2, 29):
        pytest.skip("no assessment expires exactly thirty days from a 29 February")
    due = _post(client, wang, "investor", name="钱晓东")
    moved_on = _post(client, wang, "investor", name="孙丽华")
    _post(client, wang, "risk_questionnaire", investor=due["id"],
          assessed_on=assessed.isoformat(), score=45)
    # An older assessment expiring matters not when a newer one is on file.
    _post(client, wang, "risk_questionnaire", investor=moved_on["id"],
          assessed_on=assessed.isoformat(), score=30)
    _post(client, wang, "risk_questionnaire", investor=moved_on["id"],
          assessed_on=_today().isoformat(), score=50)
    assert scan_date_rules(instance.tenant("default"), dt.datetime.now(dt.UTC)) >= 1
    told = _told(instance, "broker_wang")
    assert any("钱晓东" in b and expires.isoformat() in b for b in told), told
    assert not any("孙丽华" in b for b in told)
    assert "测评到期回访 Reassessment visit: 钱晓东" in _plans(client, wang)
    assert "测评到期回访 Reassessment visit: 孙丽华" not in _plans(client, wang)
    # The follow-up is the broker's own: another broker does not see it.
    assert "测评到期回访 Reassessment visit: 钱晓东" not in _plans(client, li)
    assert scan_date_rules(instance.tenant("default"), dt.datetime.now(dt.UTC)) == 0


def test_an_individual_investors_birthday_plans_a_care_call_every_year(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    wang = org("broker_wang")
    today = _today()
    if (today.month, today.day) == (2, 29):
        pytest.skip("a 29 February birthday is kept on 28 February")
    born = _years_before(today, 40)
    person = _post(client, wang, "investor", name="周慧敏")
    firm = _post(client, wang, "investor", name="浦江资本管理有限公司",
                 investor_type="institutional")
    # The broker does not see dates of birth; operations keeps them.
    for rec in (person, firm):
        r = client.patch(f"/api/v1/records/investor/{rec['id']}", headers=admin,
                         json={"birthday": born.isoformat(), "version": rec["version"]})
        assert r.status_code == 200, r.json
    assert scan_date_rules(instance.tenant("default"), dt.datetime.now(dt.UTC)) >= 1
    told = _told(instance, "broker_wang")
    assert any("周慧敏" in b and "生日" in b for b in told), told
    assert not any("浦江资本" in b for b in told)
    # Nobody learns the date of birth from the message.
    assert not any(born.isoformat() in b for b in told)
    assert "生日关怀 Birthday care: 周慧敏" in _plans(client, wang)
    assert "生日关怀 Birthday care: 浦江资本管理有限公司" not in _plans(client, wang)


def test_a_complaint_open_past_its_deadline_is_chased(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    cc = org("cc")
    zhang = find(client, admin, "investor", name="张伟")
    received = (_today() - dt.timedelta(days=16)).isoformat()  # due yesterday
    late = _post(client, cc, "sec_complaint", investor=zhang["id"], category="fees",
                 received_on=received, description="佣金扣费与约定费率不符")
    done = _post(client, cc, "sec_complaint", investor=zhang["id"], category="service",
                 received_on=received, description="营业部电话无人接听")
    r = client.patch(f"/api/v1/records/sec_complaint/{done['id']}", headers=cc, json={
        "status": "resolved", "resolution": "已更换总机线路并回电致歉",
        "version": done["version"]})
    assert r.status_code == 200, r.json
    assert late["due_on"] == (_today() - dt.timedelta(days=1)).isoformat()
    assert scan_date_rules(instance.tenant("default"), dt.datetime.now(dt.UTC)) >= 1
    for who in ("cc", "comp"):
        told = _told(instance, who)
        assert any(late["number"] in b for b in told), (who, told)
        assert not any(done["number"] in b for b in told)
    assert not any(late["number"] in b for b in _told(instance, "broker_wang"))


def test_a_confirmed_subscription_asks_for_a_return_visit_and_plans_an_after_sale_call(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    sun = org("broker_sun")
    draft = next(s for s in records(client, sun, "product_subscription")
                 if s["status"] == "draft")
    r = client.patch(f"/api/v1/records/product_subscription/{draft['id']}", headers=sun, json={
        "status": "confirmed", "disclosure_signed": True, "mismatch_confirmed": True,
        "version": draft["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    assert any(draft["number"] in b for b in _told(instance, "cc"))
    assert "售后跟踪 After-sale follow-up: 赵磊 / 新兴成长混合基金" in _plans(client, sun)
    assert not any(draft["number"] in b for b in _told(instance, "broker_wang"))
    # A change that does not confirm anything plans nothing more.
    r = client.patch(f"/api/v1/records/product_subscription/{draft['id']}", headers=sun,
                     json={"notes": "客户已收到确认短信", "version": r.json["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    assert len([b for b in _told(instance, "cc") if draft["number"] in b]) == 1


def _titles(client: FlaskClient, who: dict[str, str], obj: str, field: str) -> set[str]:
    return {r[field] for r in records(client, who, obj)}


def test_a_service_request_reaches_its_handler_and_is_answered_before_it_closes(
        instance: Instance, client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    wang, li, ops, cc = org("broker_wang"), org("broker_li"), org("ops"), org("cc")
    mgr_ljz, mgr_xjh = org("mgr_ljz"), org("mgr_xjh")
    liu = find(client, wang, "investor", name="刘芳")
    with instance.tenant("default").read() as conn:
        handler = int(principal_of(conn, "ops").user_id)
    raised = _today() - dt.timedelta(days=1)
    req = _post(client, wang, "sec_service_request", subject="科创板权限咨询", investor=liu["id"],
                category="permission", detail="客户询问科创板权限开通条件",
                raised_on=raised.isoformat(), handler=handler)
    due = (raised + dt.timedelta(days=3)).isoformat()
    assert (req["status"], req["due_on"]) == ("open", due)
    settle(client)
    assert any("科创板权限咨询" in b and due in b for b in _told(instance, "ops"))
    # The broker sees the requests of their own investors; the call centre and
    # operations see all; a branch manager sees the branch's.
    mine = "科创板权限咨询"
    assert {mine, "创业板交易权限开通"} <= _titles(client, wang, "sec_service_request", "subject")
    assert mine not in _titles(client, li, "sec_service_request", "subject")
    assert "开具年度资产证明" in _titles(client, li, "sec_service_request", "subject")
    assert len(records(client, ops, "sec_service_request")) == 5
    assert len(records(client, cc, "sec_service_request")) == 5
    assert mine in _titles(client, mgr_ljz, "sec_service_request", "subject")
    assert mine not in _titles(client, mgr_xjh, "sec_service_request", "subject")
    # The broker does not write the answer; the handler does, and must before closing.
    r = client.patch(f"/api/v1/records/sec_service_request/{req['id']}", headers=wang,
                     json={"answer": "已答复", "version": req["version"]})
    assert r.status_code in (400, 403, 422), r.json
    r = client.patch(f"/api/v1/records/sec_service_request/{req['id']}",
                     headers={**ops, "Accept-Language": "zh"},
                     json={"status": "closed", "version": req["version"]})
    assert r.status_code == 422 and "答复或关闭前请填写办理结果" in str(error_of(r))
    r = client.patch(f"/api/v1/records/sec_service_request/{req['id']}", headers=ops, json={
        "status": "closed", "answer": "已告知需 50 万元资产及两年交易经验，客户下周来柜台办理",
        "version": req["version"]})
    assert r.status_code == 200, r.json
    assert r.json["overdue"] is False
    r = client.patch(f"/api/v1/records/sec_service_request/{req['id']}", headers=ops,
                     json={"answer": "改了", "version": r.json["version"]})
    assert r.status_code == 403, r.json  # closed: it no longer changes
    # The sample request waiting past its due date is overdue.
    assert find(client, admin, "sec_service_request", subject="银证转账失败")["overdue"] is True


def test_knowledge_articles_are_read_by_every_securities_role_and_written_by_brokers_and_managers(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    wang, li, mgr = org("broker_wang"), org("broker_li"), org("mgr_xjh")
    titles = {"向稳健型客户介绍债券基金的三个要点", "老年客户回访沟通技巧",
              "一起适当性投诉的复盘", "高净值客户资产配置沙龙的组织经验"}
    for user in ("broker_wang", "broker_sun", "mgr_ljz", "comp", "ops", "cc"):
        assert _titles(client, org(user), "sec_knowledge", "title") == titles, user
    k = find(client, admin, "sec_knowledge", title="一起适当性投诉的复盘")
    assert set(k["tags"]) == {"suitability", "complaints"}
    art = _post(client, wang, "sec_knowledge", title="融资融券客户的风控提醒", category="service",
                tags=["margin"], body="维持担保比例低于 150% 时当日电话提醒客户补仓。")
    assert "融资融券客户的风控提醒" in _titles(client, li, "sec_knowledge", "title")
    # A broker does not edit an article, not even another's; a branch manager curates.
    r = client.patch(f"/api/v1/records/sec_knowledge/{art['id']}", headers=li,
                     json={"title": "改标题", "version": art["version"]})
    assert r.status_code in (403, 404), r.json
    r = client.patch(f"/api/v1/records/sec_knowledge/{art['id']}", headers=mgr,
                     json={"tags": ["margin", "high_net_worth"], "version": art["version"]})
    assert r.status_code == 200, r.json
    for user in ("comp", "ops", "cc"):
        r = client.post("/api/v1/records/sec_knowledge", headers=org(user), json={
            "title": "测试", "category": "market", "body": "正文"})
        assert r.status_code == 403, (user, r.json)
