"""Process definitions as versioned metadata: /api/v1/meta/processes."""

from __future__ import annotations

import copy
from typing import Any

from flask.testing import FlaskClient

from crmforge.workflow.bpmn import compile_process
from crmforge.workflow.importer import import_bpmn

from .conftest import error_of, sign_in

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"en": "Deal"},
    "fields": [
        {"name": "title", "type": "text", "required": True},
        {"name": "amount", "type": "decimal", "scale": 2},
        {"name": "status", "type": "picklist", "default": "'draft'",
         "choices": [{"value": v, "label": {"en": v}} for v in
                     ("draft", "approved", "rejected")]},
        {"name": "reviewer", "type": "user"},
        {"name": "notes", "type": "textarea"},
    ],
}

PROCESS: dict[str, Any] = {
    "name": "deal_approval", "object": "deal", "label": {"en": "Deal approval"},
    "entry_criteria": "amount > 0",
    "steps": [
        {"name": "review", "mode": "single", "approvers": {"field": "reviewer"}},
        {"name": "board", "mode": "all", "pass_rate": 60, "criteria": "amount >= 1000",
         "approvers": {"users": ["admin"]},
         "timeout": {"remind_after_hours": 4, "escalate_after_hours": 24}},
    ],
    "on_approve": {"status": "'approved'"}, "on_reject": {"status": "'rejected'"},
    "allow_changes": ["notes"], "forbid_changed_record": True,
}


def setup(client: FlaskClient, admin: dict[str, str]) -> None:
    r = client.post("/api/v1/meta/objects", json=DEAL, headers=admin)
    assert r.status_code == 201, r.json


def test_create_read_update_delete(client: FlaskClient, admin: dict[str, str]) -> None:
    setup(client, admin)
    r = client.post("/api/v1/meta/processes", json=PROCESS, headers=admin)
    assert r.status_code == 201, r.json
    assert r.json["version"] == 1 and r.json["steps"][0]["mode"] == "single"
    assert client.get("/api/v1/meta/processes", headers=admin).json["items"][0]["name"] == \
        "deal_approval"
    r = client.patch("/api/v1/meta/processes/deal_approval", json={"entry_criteria": None},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["version"] == 2 and "entry_criteria" not in r.json
    r = client.get("/api/v1/meta/processes/deal_approval/bpmn", headers=admin)
    assert r.status_code == 200 and b"multiInstanceLoopCharacteristics" in r.data
    assert client.delete("/api/v1/meta/processes/deal_approval", headers=admin).status_code == 204
    assert client.get("/api/v1/meta/processes/deal_approval", headers=admin).status_code == 404
    history = client.get("/api/v1/meta/history", headers=admin)
    if history.status_code == 200:  # metadata history names the process changes
        assert any("process deal_approval" in h["summary"] for h in history.json["items"])


def test_bad_documents_name_the_json_path(client: FlaskClient, admin: dict[str, str]) -> None:
    setup(client, admin)
    bad = copy.deepcopy(PROCESS)
    bad["object"] = "nothing"
    r = client.post("/api/v1/meta/processes", json=bad, headers=admin)
    assert r.status_code == 422 and "$.object" in error_of(r)["fields"]
    bad = copy.deepcopy(PROCESS)
    bad["steps"][0]["approvers"] = {"field": "title"}
    bad["steps"][1]["criteria"] = "amount >= 'x'"
    bad["steps"][1]["approvers"]["users"] = ["ghost"]
    bad["on_approve"] = {"nope": "1"}
    bad["entry_criteria"] = "unknown_field > 1"
    bad["allow_changes"] = ["missing"]
    r = client.post("/api/v1/meta/processes", json=bad, headers=admin)
    assert r.status_code == 422, r.json
    fields = error_of(r)["fields"]
    assert "$.steps[0].approvers.field" in fields
    assert "$.on_approve.nope" in fields and "$.allow_changes[0]" in fields
    r = client.post("/api/v1/meta/processes", json={**PROCESS, "on_approve": {}, "allow_changes": [],
                                                      "entry_criteria": "unknown_field > 1",
                                                      "steps": bad["steps"][1:]},
                    headers=admin)
    fields = error_of(r)["fields"]
    assert "$.entry_criteria" in fields and "$.steps[0].criteria" in fields
    assert "$.steps[0].approvers.users[0]" in fields
    r = client.post("/api/v1/meta/processes", json={**PROCESS, "steps": [
        {"name": "x", "mode": "most", "approvers": {}}]}, headers=admin)
    assert r.status_code == 422 and any(k.startswith("$.steps[0]") for k in error_of(r)["fields"])
    assert client.get("/api/v1/meta/processes", headers=admin).json["items"] == []


def test_admin_only(client: FlaskClient, admin: dict[str, str]) -> None:
    setup(client, admin)
    client.post("/api/v1/admin/users", json={"username": "bob", "password": "Bob-pass-1234"},
                headers=admin)
    bob = sign_in(client, username="bob", password="Bob-pass-1234")
    assert client.get("/api/v1/meta/processes", headers=bob).status_code == 403
    r = client.post("/api/v1/meta/processes", json=PROCESS, headers=bob)
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"


def test_export_import_round_trip(client: FlaskClient, admin: dict[str, str]) -> None:
    setup(client, admin)
    created = client.post("/api/v1/meta/processes", json=PROCESS, headers=admin).json
    xml = client.get("/api/v1/meta/processes/deal_approval/bpmn", headers=admin).data
    again = import_bpmn(xml, "deal_copy", "deal")
    expected = {k: v for k, v in created.items() if k not in ("version", "name")}
    assert {k: v for k, v in again.items() if k != "name"} == expected
    assert compile_process({**again, "name": "deal_approval"}) == compile_process(created)
    r = client.post("/api/v1/meta/processes/import",
                    json={"name": "deal_copy", "object": "deal", "bpmn": xml.decode()},
                    headers=admin)
    assert r.status_code == 201, r.json
    assert r.json["steps"] == created["steps"]


def test_openapi_documents_approvals(client: FlaskClient, admin: dict[str, str]) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json", headers=admin).json
    validate(doc)
    for path in ("/api/v1/meta/processes", "/api/v1/approvals", "/api/v1/approvals/tasks",
                 "/api/v1/approvals/tasks/{task}/{action}", "/api/v1/approvals/{instance}",
                 "/api/v1/approvals/{instance}/withdraw", "/api/v1/notifications"):
        assert path in doc["paths"], path
    assert "ProcessDocument" in doc["components"]["schemas"]
