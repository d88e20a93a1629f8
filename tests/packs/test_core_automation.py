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
