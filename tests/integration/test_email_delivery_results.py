"""Automation rules that reach linked records and learn what the mail server answered:
an ``each`` update over the records linking to the rule's record, and an ``email`` action
whose ``delivery`` writes the final outcome of each message back to its record, with a
real SMTP server refusing one address at RCPT."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.workflow import mail_outbox

from .automation_world import record, rule, settle
from .conftest import error_of
from .test_email_jobs import Box, smtp  # noqa: F401 (the fixture)

LIST = {"name": "mailing", "label": {"en": "Mailing"},
        "fields": [{"name": "title", "type": "text", "required": True, "max_length": 100},
                   {"name": "go", "type": "boolean"}]}
MEMBER = {"name": "member", "label": {"en": "Member"},
          "fields": [{"name": "mailing", "type": "lookup", "target": "mailing"},
                     {"name": "email", "type": "email"},
                     {"name": "state", "type": "picklist", "default": "'new'",
                      "choices": [{"value": v, "label": {"en": v.title()}}
                                  for v in ("new", "queued", "sent", "bounced")]},
                     {"name": "answer", "type": "text", "max_length": 250}]}
SEND_ALL = {"name": "send_all", "object": "mailing", "when": "updated", "fields": ["go"],
            "condition": "go", "actions": [
                {"type": "update", "set": {"state": "'queued'"},
                 "each": {"object": "member", "link": "mailing",
                          "condition": "state == 'new' and not is_blank(email)"}}]}
MAIL_ONE = {"name": "mail_one", "object": "member", "when": "updated", "fields": ["state"],
            "condition": "state == 'queued'", "actions": [
                {"type": "email", "to": {"field": "email"},
                 "subject": {"en": "Hello"}, "body": {"en": "Dear {{ email }}"},
                 "delivery": {"field": "state", "sent": "sent", "failed": "bounced",
                              "error_field": "answer"}}]}


def _members(client: FlaskClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = client.get("/api/v1/records/member?limit=200", headers=admin)
    assert r.status_code == 200, r.json
    return {str(m["email"] or m["id"]): m for m in r.json["items"]}


def test_each_update_and_delivery_results_reach_the_records(
        client: FlaskClient, admin: dict[str, str], instance: Instance,
        smtp: Box) -> None:  # noqa: F811 (the imported fixture)
    for doc in (LIST, MEMBER):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    rule(client, admin, SEND_ALL)
    rule(client, admin, MAIL_ONE)
    mailing = record(client, admin, "mailing", title="Spring")
    other = record(client, admin, "mailing", title="Other")
    for address in ("a@example.test", "gone@example.test", "c@example.test"):
        record(client, admin, "member", mailing=mailing["id"], email=address)
    record(client, admin, "member", mailing=mailing["id"])  # no address: left alone
    record(client, admin, "member", mailing=other["id"], email="x@example.test")
    smtp.refused.add("gone@example.test")
    r = client.patch(f"/api/v1/records/mailing/{mailing['id']}", headers=admin,
                     json={"go": True, "version": mailing["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    settle(client)
    assert sorted(to for tos, _ in smtp.messages for to in tos) == [
        "a@example.test", "c@example.test"]
    got = _members(client, admin)
    assert {k: v["state"] for k, v in got.items() if "@" in k} == {
        "a@example.test": "sent", "gone@example.test": "bounced", "c@example.test": "sent",
        "x@example.test": "new"}
    assert "550" in got["gone@example.test"]["answer"]
    assert got["a@example.test"]["answer"] is None
    assert [v["state"] for k, v in got.items() if "@" not in k] == ["new"]
    # History names the delivery result's writer.
    r = client.get(f"/api/v1/records/member/{got['gone@example.test']['id']}/history",
                   headers=admin)
    assert r.status_code == 200, r.json
    assert "email delivery: mail_one" in str(r.json)
    # Sending again sends nothing twice.
    r = client.get(f"/api/v1/records/mailing/{mailing['id']}", headers=admin)
    r = client.patch(f"/api/v1/records/mailing/{mailing['id']}", headers=admin,
                     json={"go": False, "version": r.json["version"]})
    assert r.status_code == 200, r.json
    r = client.patch(f"/api/v1/records/mailing/{mailing['id']}", headers=admin,
                     json={"go": True, "version": r.json["version"]})
    assert r.status_code == 200, r.json
    settle(client)
    settle(client)
    assert len(smtp.messages) == 2
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        rows = conn.execute(sa.select(mail_outbox.email_outbox.c.to_address,
                                      mail_outbox.email_outbox.c.status)).all()
    assert sorted(tuple(r) for r in rows) == [
        ("a@example.test", "sent"), ("c@example.test", "sent"),
        ("gone@example.test", "failed")]


def test_each_and_delivery_are_checked_when_saved(
        client: FlaskClient, admin: dict[str, str]) -> None:
    for doc in (LIST, MEMBER):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    bad_each = {**SEND_ALL, "actions": [
        {"type": "update", "set": {"nothing": "1"},
         "each": {"object": "member", "link": "email", "condition": "state + 1"}}]}
    r = client.post("/api/v1/meta/automations", json=bad_each, headers=admin)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert "'email' is not a field of 'member' that links to 'mailing'" in str(
        fields["$.actions[0].each.link"])
    bad_each["actions"][0]["each"]["link"] = "mailing"
    r = client.post("/api/v1/meta/automations", json=bad_each, headers=admin)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert "$.actions[0].each.condition" in fields
    assert "'member' has no field 'nothing'" in str(fields["$.actions[0].set.nothing"])
    bad_delivery = {**MAIL_ONE, "actions": [
        {**MAIL_ONE["actions"][0],
         "delivery": {"field": "state", "sent": "delivered", "error_field": "email"}}]}
    r = client.post("/api/v1/meta/automations", json=bad_delivery, headers=admin)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert "'delivered' is not a choice of 'state'" in str(fields["$.actions[0].delivery.sent"])
    assert "not text" in str(fields["$.actions[0].delivery.error_field"])
