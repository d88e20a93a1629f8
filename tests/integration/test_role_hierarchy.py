"""The role hierarchy's reach is explicit and bounded (decision 0013): a superior reaches the
records of holders of roles below theirs only for objects whose grant has ``hierarchy`` on
(the default), only for the operations of the roles granting it, and only when the record's
department lies within the superior's department tree; explain names the hierarchy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, error_of, sign_in

PASSWORD = "Hierarchy-pass-123"
#: Office A has a sub-office; office B is another office under the same head office.
DEPARTMENTS = [("hq", None), ("office_a", "hq"), ("office_a_east", "office_a"),
               ("office_b", "hq")]
CLIENT = {"name": "client", "label": {"zh": "客户", "en": "Client"},
          "fields": [{"name": "company", "type": "text", "required": True}]}
ROLES: list[dict[str, Any]] = [
    # The office manager of the brief: department tree scope, every operation.
    {"name": "manager", "permissions": {"client": {
        "operations": ["create", "read", "update", "delete", "transfer", "share"],
        "scope": "department_tree"}}},
    # A team lead sees their own records, and their reps' through the hierarchy.
    {"name": "lead", "reports_to": "manager", "permissions": {"client": {
        "operations": ["create", "read", "update", "transfer"], "scope": "own"}}},
    {"name": "rep", "reports_to": "lead", "permissions": {"client": {
        "operations": ["create", "read", "update"], "scope": "own"}}},
    # A supervisor who reads their scribes' records, and an editor role with no one below:
    # the hierarchy reaches only as far as the operations of the role it comes from.
    {"name": "supervisor", "permissions": {"client": {"operations": ["read"], "scope": "own"}}},
    {"name": "scribe", "reports_to": "supervisor", "permissions": {"client": {
        "operations": ["create", "read", "update"], "scope": "own"}}},
    {"name": "editor", "permissions": {"client": {"operations": ["update"], "scope": "own"}}},
]
USERS = [("mgr_a", "office_a", ["manager"]), ("lead_a", "office_a", ["lead"]),
         ("lead_nowhere", None, ["lead"]),
         ("rep_a", "office_a", ["rep"]), ("rep_a_east", "office_a_east", ["rep"]),
         ("rep_b", "office_b", ["rep"]),
         ("sup_a", "office_a", ["supervisor", "editor"]), ("scribe_a", "office_a", ["scribe"])]


@dataclass
class Org:
    client: FlaskClient
    admin: dict[str, str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # user -> the client record they own

    def get(self, user: str, owner: str) -> int:
        return int(self.client.get(f"/api/v1/records/client/{self.ids[owner]}",
                                   headers=self.headers[user]).status_code)

    def listed(self, user: str) -> set[str]:
        r = self.client.get("/api/v1/records/client?limit=100", headers=self.headers[user])
        assert r.status_code == 200, r.json
        owners = {rid: owner for owner, rid in self.ids.items()}
        return {owners[i["id"]] for i in r.json["items"]}

    def explain(self, user: str, owner: str, operation: str = "read") -> dict[str, Any]:
        r = self.client.get("/api/v1/admin/explain", headers=self.admin, query_string={
            "user": user, "object": "client", "operation": operation,
            "record": str(self.ids[owner])})
        assert r.status_code == 200, r.json
        return dict(r.json)


@pytest.fixture
def org(client: FlaskClient, admin: dict[str, str]) -> Org:
    o = Org(client, admin)
    for name, parent in DEPARTMENTS:
        assert client.post("/api/v1/admin/departments", headers=admin,
                           json={"name": name, "parent": parent}).status_code == 201
    assert client.post("/api/v1/meta/objects", json=CLIENT, headers=admin).status_code == 201
    for role in ROLES:
        r = client.post("/api/v1/admin/roles", json=role, headers=admin)
        assert r.status_code == 201, r.json
    for username, dept, roles in USERS:
        r = client.post("/api/v1/admin/users", headers=admin, json={
            "username": username, "password": PASSWORD, "department": dept, "roles": roles})
        assert r.status_code == 201, r.json
        o.headers[username] = sign_in(client, username=username, password=PASSWORD)
        if username.startswith(("rep", "lead", "scribe")):
            r = client.post("/api/v1/records/client", headers=o.headers[username],
                            json={"company": f"{username} Ltd"})
            assert r.status_code == 201, r.json
            o.ids[username] = r.json["id"]
    return o


def test_the_office_manager_does_not_see_another_office(org: Org) -> None:
    """rep reports to lead, lead to manager; the department tree scope still bounds what the
    manager sees: the sub-office's rep yes, the other office's rep no."""
    assert org.get("mgr_a", "rep_a_east") == 200
    assert org.get("mgr_a", "rep_b") == 404
    assert org.listed("mgr_a") == {"lead_a", "rep_a", "rep_a_east", "scribe_a"}
    r = org.client.patch(f"/api/v1/records/client/{org.ids['rep_b']}", headers=org.headers["mgr_a"],
                         json={"company": "taken over", "version": 1})
    assert r.status_code == 404
    r = org.client.delete(f"/api/v1/records/client/{org.ids['rep_b']}",
                          headers=org.headers["mgr_a"])
    assert r.status_code == 404


def test_an_own_scope_lead_reaches_subordinates_within_the_department_tree(org: Org) -> None:
    """Read, update and transfer: each through the roles granting it, each bounded."""
    c, h = org.client, org.headers["lead_a"]
    assert org.listed("lead_a") == {"lead_a", "rep_a", "rep_a_east"}
    assert org.get("lead_a", "rep_b") == 404
    assert org.get("lead_a", "lead_nowhere") == 404  # a peer, not below
    for owner, code in (("rep_a_east", 200), ("rep_b", 404)):
        r = c.patch(f"/api/v1/records/client/{org.ids[owner]}", headers=h,
                    json={"company": "renamed", "version": 1})
        assert r.status_code == code, (owner, r.json)
        r = c.post(f"/api/v1/records/client/{org.ids[owner]}/transfer", headers=h,
                   json={"owner": owner})
        assert r.status_code == code, (owner, r.json)
    # The lead's role does not grant delete: the hierarchy does not add operations.
    r = c.delete(f"/api/v1/records/client/{org.ids['rep_a']}", headers=h)
    assert r.status_code == 403


def test_a_superior_without_a_department_reaches_nothing_through_the_hierarchy(org: Org) -> None:
    assert org.listed("lead_nowhere") == {"lead_nowhere"}
    explained = org.explain("lead_nowhere", "rep_a")
    assert explained["allowed"] is False
    assert "role 'lead' is above role 'rep' held by the owner, but the role hierarchy " \
           "reaches only the user's department tree" in explained["reason"]


def test_hierarchy_false_removes_the_reach(org: Org) -> None:
    c = org.client
    lead = c.get("/api/v1/admin/roles/lead", headers=org.admin).json
    grant = {**lead["permissions"]["client"], "hierarchy": False}
    r = c.patch("/api/v1/admin/roles/lead", headers=org.admin,
                json={"permissions": {"client": grant}})
    assert r.status_code == 200, r.json
    assert r.json["permissions"]["client"]["hierarchy"] is False
    assert org.listed("lead_a") == {"lead_a"}
    assert org.get("lead_a", "rep_a") == 404
    explained = org.explain("lead_a", "rep_a")
    assert explained["allowed"] is False
    assert explained["reason"].endswith("; role 'lead' is above role 'rep' held by the owner, "
                                        "but its hierarchy access to client is switched off")
    # Only the lead's switch is off: the manager above still reaches the rep (by its tree).
    assert org.get("mgr_a", "rep_a") == 200


def test_the_hierarchy_reaches_only_as_far_as_its_roles_operations(org: Org) -> None:
    """The supervisor reads the scribe's record through the hierarchy; the editor role grants
    update but has no one below, so the supervisor may not change the scribe's record."""
    c, h = org.client, org.headers["sup_a"]
    assert org.listed("sup_a") == {"scribe_a"}
    r = c.patch(f"/api/v1/records/client/{org.ids['scribe_a']}", headers=h,
                json={"company": "edited", "version": 1})
    assert r.status_code == 403, r.json
    explained = org.explain("sup_a", "scribe_a", "update")
    assert explained["allowed"] is False and "for editing" in explained["reason"]


def test_explain_names_the_hierarchy(org: Org, instance: Instance) -> None:
    allowed = org.explain("lead_a", "rep_a_east")
    assert allowed == {"allowed": True, "level": "role", "reason": (
        "'read' granted by lead; the record is within reach through the role hierarchy: "
        "role 'lead' is above role 'rep' held by the owner, and the record's department is "
        "within the user's department tree")}
    refused = org.explain("lead_a", "rep_b", "update")
    assert refused["allowed"] is False and refused["level"] == "person"
    assert refused["reason"].endswith(
        "and not shared with them for editing; role 'lead' is above role 'rep' held by the "
        "owner, but the role hierarchy reaches only the user's department tree")
    # The manager's own scope decides inside the tree, and says so.
    assert org.explain("mgr_a", "rep_a_east")["level"] == "department"
    # The designer's explain page gives the reasons in Chinese too.
    page = browser_session(instance)
    zh = page.get("/admin/explain", query_string={
        "user": "lead_a", "object": "client", "operation": "read",
        "record": str(org.ids["rep_a_east"]), "lang": "zh"})
    assert "该记录经角色层级在可及范围内：角色“lead”在负责人所持角色“rep”之上" in zh.text
    zh = page.get("/admin/explain", query_string={
        "user": "lead_a", "object": "client", "operation": "read",
        "record": str(org.ids["rep_b"]), "lang": "zh"})
    assert "但角色层级只及于该用户所在部门及其下级部门" in zh.text


def test_the_role_document_checks_the_switch(org: Org) -> None:
    c, admin = org.client, org.admin
    r = c.post("/api/v1/admin/roles", headers=admin, json={
        "name": "odd", "permissions": {"client": {"operations": ["read"], "scope": "own",
                                                  "hierarchy": "yes"}}})
    assert r.status_code == 422 and "$.permissions.client.hierarchy" in error_of(r)["fields"]
    r = c.post("/api/v1/admin/roles", headers=admin, json={
        "name": "odd", "permissions": {"client": {"operations": ["read"], "hierarchy": True}}})
    assert r.status_code == 422
    assert "scope 'none'" in error_of(r)["fields"]["$.permissions.client.hierarchy"][0]
    r = c.post("/api/v1/admin/roles", headers=admin, json={
        "name": "odd", "reports_to": "lead", "permissions": {"client": {
            "operations": ["read"], "scope": "own", "hierarchy": False}}})
    assert r.status_code == 201, r.json
    assert r.json["permissions"]["client"]["hierarchy"] is False
