"""Renaming an object or a field follows through automation rules, as it does through
formulas, roll-ups and processes: the rule keeps running after the designer renames what
it names."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from .automation_world import build, get, items, record, rule, settle

RULE: dict[str, Any] = {
    "name": "big_deal", "object": "deal", "when": "updated", "fields": ["amount"],
    "condition": "amount > 1000",
    "actions": [
        {"type": "update", "set": {"note": "concat('big: ', title)", "touched": "1"}},
        {"type": "create", "object": "task",
         "values": {"subject": "concat('Call ', title)", "deal": "id"}},
        {"type": "notify", "to": {"owner": True},
         "message": {"zh": "大单 {{ title }}", "en": "Big deal {{ title }}"}},
    ],
}


def test_renames_follow_through_a_rule_and_it_keeps_running(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin)
    rule(client, admin, RULE)
    for path, body in (("/api/v1/meta/objects/deal/fields/amount", {"name": "value"}),
                       ("/api/v1/meta/objects/deal/fields/title", {"name": "headline"}),
                       ("/api/v1/meta/objects/task/fields/subject", {"name": "summary"}),
                       ("/api/v1/meta/objects/deal", {"name": "opportunity"})):
        r = client.patch(path, headers=admin, json=body)
        assert r.status_code == 200, r.json
    doc = client.get("/api/v1/meta/automations/big_deal", headers=admin).json
    assert doc["object"] == "opportunity" and doc["fields"] == ["value"]
    assert doc["condition"] == "value > 1000"
    update, create, notify = doc["actions"]
    assert update["set"] == {"note": "concat('big: ', headline)", "touched": "1"}
    assert create["values"] == {"summary": "concat('Call ', headline)", "deal": "id"}
    assert notify["message"] == {"zh": "大单 {{ headline }}", "en": "Big deal {{ headline }}"}
    deal = record(client, h["sam"], "opportunity", headline="Hospital", value="10")
    r = client.patch(f"/api/v1/records/opportunity/{deal['id']}", headers=h["sam"],
                     json={"value": "5000", "version": deal["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    assert get(client, h["sam"], "opportunity", deal["id"])["note"] == "big: Hospital"
    assert [t["summary"] for t in items(client, h["sam"], "task")] == ["Call Hospital"]
