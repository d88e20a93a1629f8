"""The core pack's automation rule: thirty days before a signed contract ends, its owner is
told and a renewal follow-up is planned, once."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.workflow.automation import scan_date_rules
from crmforge.workflow.tables import notifications

from .conftest import install


def test_contract_end_reminder(instance: Instance, client: FlaskClient,
                               admin: dict[str, str]) -> None:
    install(instance, "core")
    rule = client.get("/api/v1/meta/automations/contract_end_reminder", headers=admin).json
    assert rule["pack"] == "core" and rule["offset_days"] == -30
    account = client.get("/api/v1/records/account?limit=1", headers=admin).json["items"][0]
    ends = dt.date.today() + dt.timedelta(days=30)
    r = client.post("/api/v1/records/contract", headers=admin, json={
        "name": "Renewal test", "account": account["id"], "amount": "1000",
        "status": "signed", "end_date": ends.isoformat()})
    assert r.status_code == 201, r.json
    tenant = instance.tenant("default")
    now = dt.datetime.now(dt.UTC)
    fired = scan_date_rules(tenant, now)
    assert fired >= 1  # sample contracts may end on the same day
    assert scan_date_rules(tenant, now) == 0
    with tenant.read() as conn:
        bodies = [b for (b,) in conn.execute(sa.select(notifications.c.body).where(
            notifications.c.kind == "automation"))]
    assert any("Renewal test" in b and ends.isoformat() in b for b in bodies)
    r = client.get("/api/v1/records/activity?limit=200", headers=admin)
    assert "续约跟进 Renewal: Renewal test" in {a["subject"] for a in r.json["items"]}


def test_key_date_reminder_comes_back_every_year_for_key_accounts(
        instance: Instance, client: FlaskClient, admin: dict[str, str]) -> None:
    """Birthdays and anniversaries of key (A) accounts remind the owner every year on the
    reminder date; other accounts and other kinds of key dates do not."""
    install(instance, "core")
    rule = client.get("/api/v1/meta/automations/key_date_reminder", headers=admin).json
    assert rule["pack"] == "core" and rule["yearly"] is True
    shanghai = dt.timezone(dt.timedelta(hours=8))
    today = dt.datetime.now(shanghai).date()
    born = (today + dt.timedelta(days=7)).replace(year=1990) if not (
        today.month == 2 and today.day > 20) else dt.date(1990, 3, 10)

    def account(name: str, rating: str) -> int:
        r = client.post("/api/v1/records/account", headers=admin,
                        json={"name": name, "rating": rating})
        assert r.status_code == 201, r.json
        return int(r.json["id"])

    key, plain = account("重点客户甲", "a"), account("一般客户乙", "b")
    for title, acc, kind in (("甲总生日", key, "birthday"), ("乙总生日", plain, "birthday"),
                             ("甲续约", key, "renewal")):
        r = client.post("/api/v1/records/key_date", headers=admin, json={
            "title": title, "account": acc, "kind": kind, "happens_on": born.isoformat(),
            "remind_days_before": 7})
        assert r.status_code == 201, r.json
    if born != (today + dt.timedelta(days=7)).replace(year=1990):
        return  # late February: no reminder date falls on today in 1990's calendar
    tenant = instance.tenant("default")
    now = dt.datetime.now(dt.UTC)
    assert scan_date_rules(tenant, now) >= 1
    with tenant.read() as conn:
        bodies = [b for (b,) in conn.execute(sa.select(notifications.c.body).where(
            notifications.c.kind == "automation"))]
    assert any("甲总生日" in b for b in bodies)
    assert not any("乙总生日" in b or "甲续约" in b for b in bodies)
    subjects = {a["subject"] for a in client.get("/api/v1/records/activity?limit=200",
                                                 headers=admin).json["items"]}
    assert "问候 Greeting: 甲总生日" in subjects and "问候 Greeting: 乙总生日" not in subjects
