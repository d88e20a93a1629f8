"""A small organisation for approval tests: a deal object, a seller, approvers, a manager."""

from __future__ import annotations

import copy
from typing import Any

from flask.testing import FlaskClient

from .conftest import sign_in
from .test_workflow_definitions import DEAL

PASSWORD = "Pass-word-1234"
APPROVERS = ("alice", "bob", "carol", "dave")


def build(client: FlaskClient, admin: dict[str, str], process: dict[str, Any] | None
          ) -> dict[str, dict[str, str]]:
    """Objects, roles, users and (optionally) a process; returns headers per username."""
    assert client.post("/api/v1/meta/objects", json=DEAL, headers=admin).status_code == 201
    for role, perms in (("seller", {"deal": {"operations": ["create", "read", "update", "submit"],
                                             "scope": "own"}}),
                        ("approver", {})):
        r = client.post("/api/v1/admin/roles", json={"name": role, "permissions": perms},
                        headers=admin)
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/departments", json={"name": "sales", "label": {"en": "Sales"}},
                    headers=admin)
    assert r.status_code == 201, r.json
    users = [("sam", "seller"), ("mia", "approver")] + [(u, "approver") for u in APPROVERS]
    for name, role in users:
        r = client.post("/api/v1/admin/users", json={
            "username": name, "password": PASSWORD, "department": "sales", "roles": [role],
            "email": f"{name}@example.test"}, headers=admin)
        assert r.status_code == 201, r.json
    r = client.patch("/api/v1/admin/departments/sales", json={"head": "mia"}, headers=admin)
    assert r.status_code == 200, r.json
    if process is not None:
        r = client.post("/api/v1/meta/processes", json=process, headers=admin)
        assert r.status_code == 201, r.json
    heads = {name: sign_in(client, username=name, password=PASSWORD) for name, _ in users}
    heads["admin"] = admin
    return heads


def process(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "deal_approval", "object": "deal",
                           "steps": [copy.deepcopy(s) for s in steps],
                           "on_approve": {"status": "'approved'"},
                           "on_reject": {"status": "'rejected'"}, "allow_changes": ["notes"]}
    doc.update(extra)
    return doc


def new_deal(client: FlaskClient, who: dict[str, str], **values: Any) -> dict[str, Any]:
    body = {"title": "Big deal", "amount": "5000", **values}
    r = client.post("/api/v1/records/deal", json=body, headers=who)
    assert r.status_code == 201, r.json
    return dict(r.json)


def submit(client: FlaskClient, who: dict[str, str], record: int) -> dict[str, Any]:
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": record}, headers=who)
    assert r.status_code == 201, r.json
    return dict(r.json)


def inbox(client: FlaskClient, who: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/approvals/tasks", headers=who)
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def act(client: FlaskClient, who: dict[str, str], action: str, expect: int = 200,
        **body: Any) -> dict[str, Any]:
    tasks = inbox(client, who)
    assert len(tasks) == 1, tasks
    r = client.post(f"/api/v1/approvals/tasks/{tasks[0]['id']}/{action}", json=body, headers=who)
    assert r.status_code == expect, r.json
    return dict(r.json)


def state(client: FlaskClient, who: dict[str, str], instance: int) -> str:
    r = client.get(f"/api/v1/approvals/{instance}", headers=who)
    assert r.status_code == 200, r.json
    return str(r.json["state"])


def status_of(client: FlaskClient, record: int, admin: dict[str, str]) -> Any:
    return client.get(f"/api/v1/records/deal/{record}", headers=admin).json["status"]
