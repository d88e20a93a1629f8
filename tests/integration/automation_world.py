"""A small organisation for automation tests: deals, follow-up tasks, contacts with
birthdays, contracts, a seller who owns deals, a manager role, and helpers that let the
events job finish before a test looks at what the rules did."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import event_jobs, jobs
from crmforge.runtime.instance import Tenant

from .conftest import sign_in

PASSWORD = "Pass-word-1234"

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"zh": "商机", "en": "Deal"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "max_length": 200},
        {"name": "amount", "type": "currency"},
        {"name": "stage", "type": "picklist", "default": "'new'",
         "label": {"zh": "阶段", "en": "Stage"},
         "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                     {"value": "won", "label": {"zh": "赢单", "en": "Won"}},
                     {"value": "lost", "label": {"zh": "输单", "en": "Lost"}}]},
        {"name": "note", "type": "text", "max_length": 500},
        {"name": "secret", "type": "text", "max_length": 200},
        {"name": "touched", "type": "integer"},
        {"name": "manager", "type": "user"},
        {"name": "contact_email", "type": "email"},
    ],
}
TASK: dict[str, Any] = {
    "name": "task", "label": {"zh": "任务", "en": "Task"},
    "fields": [
        {"name": "subject", "type": "text", "required": True, "max_length": 300},
        {"name": "deal", "type": "lookup", "target": "deal"},
        {"name": "due", "type": "date"},
    ],
}
CONTACT: dict[str, Any] = {
    "name": "contact", "label": {"zh": "联系人", "en": "Contact"},
    "fields": [
        {"name": "full_name", "type": "text", "required": True, "max_length": 200},
        {"name": "birthday", "type": "date"},
        {"name": "email", "type": "email"},
    ],
}
CONTRACT: dict[str, Any] = {
    "name": "contract", "label": {"zh": "合同", "en": "Contract"},
    "fields": [
        {"name": "name", "type": "text", "required": True, "max_length": 200},
        {"name": "end_date", "type": "date"},
        {"name": "status", "type": "picklist", "default": "'signed'",
         "choices": [{"value": "signed", "label": {"en": "Signed"}},
                     {"value": "ended", "label": {"en": "Ended"}}]},
    ],
}


#: A rule that e-mails the owner and the deal's contact when the deal is won.
WON_MAIL: dict[str, Any] = {
    "name": "won_mail", "object": "deal", "when": "updated", "fields": ["stage"],
    "condition": "stage == 'won'",
    "actions": [{"type": "email", "to": {"owner": True, "field": "contact_email"},
                 "subject": {"zh": "赢单：{{ title }}", "en": "Won: {{ title }}"},
                 "body": {"en": "{{ title }} is {{ stage }}."}}]}


def build(client: FlaskClient, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    """The objects, a seller role that cannot read ``secret``, a manager role, users."""
    for doc in (DEAL, TASK, CONTACT, CONTRACT):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    every = ["create", "read", "update", "delete"]
    roles = {
        "seller": {"deal": {"operations": every, "scope": "own",
                            "fields": {"secret": "hidden"}},
                   "task": {"operations": every, "scope": "own"}},
        "manager": {"deal": {"operations": ["read"], "scope": "all"}},
    }
    for role, perms in roles.items():
        r = client.post("/api/v1/admin/roles", json={"name": role, "permissions": perms},
                        headers=admin)
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/departments", json={"name": "sales", "label": {"en": "Sales"}},
                    headers=admin)
    assert r.status_code == 201, r.json
    for name, role in (("sam", "seller"), ("sue", "seller"), ("max", "manager"),
                       ("meg", "manager")):
        r = client.post("/api/v1/admin/users", json={
            "username": name, "password": PASSWORD, "department": "sales", "roles": [role],
            "email": f"{name}@example.test"}, headers=admin)
        assert r.status_code == 201, r.json
    heads = {name: sign_in(client, username=name, password=PASSWORD)
             for name in ("sam", "sue", "max", "meg")}
    heads["admin"] = admin
    return heads


def tenant_of(client: FlaskClient) -> Tenant:
    return client.application.extensions["crmforge"].tenant("default")  # type: ignore[no-any-return]


def settle(client: FlaskClient) -> None:
    """Let the events jobs finish, then hand whatever is left to the consumers."""
    assert jobs.wait_local(60)
    for attempt in range(3):
        try:
            event_jobs.drain(tenant_of(client))
            break
        except sa.exc.IntegrityError:  # an events job made the cursor row at the same time
            if attempt == 2:
                raise
    assert jobs.wait_local(60)


def rule(client: FlaskClient, admin: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/meta/automations", json=doc, headers=admin)
    assert r.status_code == 201, r.json
    return dict(r.json)


def record(client: FlaskClient, who: dict[str, str], obj: str, **values: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/records/{obj}", json=values, headers=who)
    assert r.status_code == 201, r.json
    return dict(r.json)


def change(client: FlaskClient, who: dict[str, str], obj: str, rec: dict[str, Any],
           **values: Any) -> dict[str, Any]:
    current = client.get(f"/api/v1/records/{obj}/{rec['id']}", headers=who).json
    r = client.patch(f"/api/v1/records/{obj}/{rec['id']}",
                     json={**values, "version": current["version"]}, headers=who)
    assert r.status_code == 200, r.json
    return dict(r.json)


def get(client: FlaskClient, who: dict[str, str], obj: str, rid: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/records/{obj}/{rid}", headers=who)
    assert r.status_code == 200, r.json
    return dict(r.json)


def items(client: FlaskClient, who: dict[str, str], obj: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/records/{obj}?limit=200", headers=who)
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def notes(client: FlaskClient, who: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/notifications", headers=who)
    assert r.status_code == 200, r.json
    return [n for n in r.json["items"] if n["kind"] in ("automation", "email")]


def runs(client: FlaskClient, admin: dict[str, str], name: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/meta/automations/{name}/runs?limit=500", headers=admin)
    assert r.status_code == 200, r.json
    return list(r.json["items"])
