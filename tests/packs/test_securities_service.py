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

from .conftest import find, records, with_sample_org

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
