"""A small organisation for permission tests, built through the admin API, and an
independent oracle of what each user may see and change (DESIGN §5), written without the
engine's code so the two can disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient

from .conftest import sign_in

PASSWORD = "World-pass-123"

DEPARTMENTS = [("hq", None), ("sales", "hq"), ("north", "sales"), ("south", "sales"),
               ("service", "hq")]

ACCOUNT = {
    "name": "account", "label": {"zh": "客户", "en": "Account"},
    "fields": [
        {"name": "company", "type": "text", "required": True, "searchable": True},
        {"name": "cost", "type": "currency"},
        {"name": "rating", "type": "picklist", "choices": [{"value": "a"}, {"value": "b"}]},
        {"name": "stage", "type": "picklist", "default": "'open'",
         "choices": [{"value": "open"}, {"value": "closed"}]},
        {"name": "notes", "type": "textarea"},
    ],
    "status_rules": {"field": "stage", "states": {
        "closed": {"operations": ["read", "export"], "editable_fields": ["notes"]}}},
}

ALL_OPS = ["create", "read", "update", "delete", "export", "share", "transfer"]

ROLES: list[dict[str, Any]] = [
    {"name": "exec", "permissions": {"account": {"operations": ALL_OPS, "scope": "all"}}},
    {"name": "manager", "reports_to": "exec", "permissions": {"account": {
        "operations": ALL_OPS, "scope": "department_tree"}}},
    {"name": "rep", "reports_to": "manager", "permissions": {"account": {
        "operations": ["create", "read", "update", "export"], "scope": "own",
        "fields": {"cost": "hidden", "rating": "read"}}}},
    {"name": "agent", "permissions": {"account": {
        "operations": ["read", "export"], "scope": "department", "fields": {"cost": "hidden"}}}},
    # Below the reps: a rep reaches a trainee's accounts through the hierarchy, but only in
    # the rep's own department tree (decision 0013).
    {"name": "trainee", "reports_to": "rep", "permissions": {"account": {
        "operations": ["create", "read", "update"], "scope": "own"}}},
    # Hands accounts over without editing them: transfer reaches as far as its own scope.
    {"name": "coordinator", "permissions": {"account": {
        "operations": ["read", "transfer"], "scope": "department"}}},
]

USERS = [("boss", "hq", ["exec"]), ("mgr_north", "north", ["manager"]),
         ("rep_n1", "north", ["rep"]), ("rep_n2", "north", ["rep"]), ("rep_s1", "south", ["rep"]),
         ("agent_s", "south", ["agent"]), ("nobody", "hq", []),
         # Reads the department (agent) but may change only their own records (rep).
         ("rep_agent_s", "south", ["rep", "agent"]), ("coord_s", "south", ["coordinator"]),
         ("trainee_s", "south", ["trainee"])]


@dataclass
class World:
    client: FlaskClient
    admin: dict[str, str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> owner, dept, stage
    shares: list[tuple[int, str]] = field(default_factory=list)  # (record, username) read

    def as_user(self, username: str) -> dict[str, str]:
        return self.headers[username]


def build(client: FlaskClient, admin: dict[str, str]) -> World:
    w = World(client, admin)
    for name, parent in DEPARTMENTS:
        r = client.post("/api/v1/admin/departments", headers=admin,
                        json={"name": name, "label": {"en": name.title()}, "parent": parent})
        assert r.status_code == 201, r.json
    assert client.post("/api/v1/meta/objects", json=ACCOUNT, headers=admin).status_code == 201
    for role in ROLES:
        r = client.post("/api/v1/admin/roles", json=role, headers=admin)
        assert r.status_code == 201, r.json
    for username, dept, roles in USERS:
        r = client.post("/api/v1/admin/users", headers=admin, json={
            "username": username, "password": PASSWORD, "department": dept, "roles": roles})
        assert r.status_code == 201, r.json
        w.user_ids[username] = r.json["id"]
        w.headers[username] = sign_in(client, username=username, password=PASSWORD)
    for username, dept, _ in USERS:
        if "create" not in ops(username):
            continue
        for i in range(2):
            r = client.post("/api/v1/records/account", headers=w.headers[username], json={
                "company": f"{username}-{i}", "notes": "n", **(
                    {"cost": "10.00", "rating": "a"} if username in ("boss", "mgr_north") else {})})
            assert r.status_code == 201, r.json
            w.records[r.json["id"]] = {"owner": username, "dept": dept, "stage": "open"}
    # One closed account per department owner group, changed by the admin.
    closed = next(rid for rid, rec in w.records.items() if rec["owner"] == "rep_n1")
    r = client.patch(f"/api/v1/records/account/{closed}", headers=admin,
                     json={"stage": "closed", "version": 1})
    assert r.status_code == 200, r.json
    w.records[closed]["stage"] = "closed"
    # rep_s1 shares one of their accounts with rep_n2 (reps may not share: the admin does).
    shared = next(rid for rid, rec in w.records.items() if rec["owner"] == "rep_s1")
    r = client.post(f"/api/v1/records/account/{shared}/shares", headers=admin,
                    json={"user": "rep_n2", "access": "read"})
    assert r.status_code == 201, r.json
    w.shares.append((shared, "rep_n2"))
    return w


# -- the oracle ---------------------------------------------------------------------------
PARENT = dict(DEPARTMENTS)
ROLE_DOCS = {r["name"]: r for r in ROLES}
USER = {u: (d, set(r)) for u, d, r in USERS}
SCOPE_ORDER = ["none", "own", "department", "department_tree", "all"]


def _subtree(dept: str) -> set[str]:
    out = {dept}
    changed = True
    while changed:
        changed = False
        for d, p in PARENT.items():
            if p in out and d not in out:
                out.add(d)
                changed = True
    return out


def _below(roles: set[str], held: set[str]) -> set[str]:
    """Roles under any of ``roles``, without the roles the user holds (peers, not below)."""
    out: set[str] = set()
    for name, doc in ROLE_DOCS.items():
        cur = doc.get("reports_to")
        while cur is not None:
            if cur in roles:
                out.add(name)
                break
            cur = ROLE_DOCS[cur].get("reports_to")
    return out - held


def ops(user: str) -> set[str]:
    return {op for r in USER[user][1] for op in ROLE_DOCS[r]["permissions"]["account"]["operations"]}


def _scope(user: str, write: bool, op: str | None = None) -> str:
    """The widest scope of the user's roles that grant the kind of operation asked for."""
    wanted = {op} if op else {"update", "delete"} if write else {"read"}
    scopes = [ROLE_DOCS[r]["permissions"]["account"]["scope"] for r in USER[user][1]
              if wanted & set(ROLE_DOCS[r]["permissions"]["account"]["operations"])]
    return max(scopes, key=SCOPE_ORDER.index) if scopes else "none"


def _in_scope(w: World, user: str, rid: int, write: bool = False, op: str | None = None) -> bool:
    rec = w.records[rid]
    dept, roles = USER[user]
    scope = _scope(user, write, op)
    if scope == "all":
        return True
    if scope == "none":
        return False
    if rec["owner"] == user:
        return True
    if scope == "department" and rec["dept"] == dept:
        return True
    if scope == "department_tree" and rec["dept"] in _subtree(dept):
        return True
    # The hierarchy: roles granting the operation asked for, with a scope and the switch on,
    # reach their subordinates' records within the user's department tree (decision 0013).
    wanted = {op} if op else {"update", "delete"} if write else {"read"}
    reaching = {r for r in roles if wanted & set(ROLE_DOCS[r]["permissions"]["account"]["operations"])
                and ROLE_DOCS[r]["permissions"]["account"].get("hierarchy", True)
                and ROLE_DOCS[r]["permissions"]["account"]["scope"] != "none"}
    return bool(USER[rec["owner"]][1] & _below(reaching, roles)) and rec["dept"] in _subtree(dept)


def can_read(w: World, user: str, rid: int) -> bool:
    if "read" not in ops(user):
        return False
    return _in_scope(w, user, rid) or (rid, user) in w.shares


def can_update(w: World, user: str, rid: int) -> bool:
    return "update" in ops(user) and _in_scope(w, user, rid, True) and w.records[rid]["stage"] != "closed"


def can_transfer(w: World, user: str, rid: int) -> bool:
    return "transfer" in ops(user) and _in_scope(w, user, rid, op="transfer") \
        and w.records[rid]["stage"] != "closed"


def can_delete(w: World, user: str, rid: int) -> bool:
    return "delete" in ops(user) and _in_scope(w, user, rid, True) and w.records[rid]["stage"] != "closed"


def hidden_fields(user: str) -> set[str]:
    names = {"company", "cost", "rating", "stage", "notes"}
    visible: set[str] = set()
    for r in USER[user][1]:
        grant = ROLE_DOCS[r]["permissions"]["account"]
        visible |= {n for n in names if grant.get("fields", {}).get(n, "read") != "hidden"}
    return names - visible
