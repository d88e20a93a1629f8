"""Property: for random roles, scopes, field rules, departments, users and records, no API
response contains a record or a field the rules say that user may not see."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crmforge.web import create_app

from .conftest import sign_in

FIELDS = ["alpha", "beta", "gamma"]
SCOPES = ["none", "own", "department", "department_tree", "all"]
DEPTS = {"d0": None, "d1": "d0", "d2": "d1", "d3": "d0"}
PASSWORD = "Leak-pass-123"

role_st = st.fixed_dictionaries({
    "read": st.sampled_from([True, True, True, False]),
    "scope": st.sampled_from(SCOPES),
    "fields": st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(["hidden", "read"]),
                              max_size=3),
    "reports_to": st.integers(0, 2) | st.none(),
}, optional={"hierarchy": st.booleans()})  # absent: the default (on)
world_st = st.fixed_dictionaries({
    "roles": st.lists(role_st, min_size=1, max_size=3),
    # A user without a department reaches nothing through the department scopes or the
    # hierarchy, and their records lie in no department.
    "users": st.lists(st.tuples(st.sampled_from(sorted(DEPTS)) | st.none(),
                                st.sets(st.integers(0, 2), min_size=1, max_size=2)),
                      min_size=2, max_size=4),
    "records": st.lists(st.integers(0, 3), min_size=3, max_size=6),
})

_counter = itertools.count()


def _subtree(d: str | None) -> set[str]:
    if d is None:
        return set()
    out = {d}
    for _ in DEPTS:
        out |= {k for k, p in DEPTS.items() if p in out}
    return out


def _roles(world: dict[str, Any]) -> list[dict[str, Any]]:
    docs = []
    for i, r in enumerate(world["roles"]):
        parent = r["reports_to"]
        grant = {"operations": (["read", "create"] if r["read"] else ["create"]),
                 "scope": r["scope"], "fields": r["fields"]}
        # An explicit true with scope "none" is refused (it would promise a reach it lacks).
        if "hierarchy" in r and not (r["hierarchy"] and r["scope"] == "none"):
            grant["hierarchy"] = r["hierarchy"]
        docs.append({"name": f"r{i}",
                     "reports_to": f"r{parent}" if parent is not None and parent < i else None,
                     "permissions": {"thing": grant}})
    return docs


def _below(docs: list[dict[str, Any]], superiors: set[str], held: set[str]) -> set[str]:
    """Roles under any of ``superiors``, without the user's own roles (peers, not below)."""
    parents = {d["name"]: d["reports_to"] for d in docs}
    out = set()
    for name in parents:
        cur = parents[name]
        while cur is not None:
            if cur in superiors:
                out.add(name)
                break
            cur = parents[cur]
    return out - held


def _writable(docs: list[dict[str, Any]], held: set[str]) -> set[str]:
    """Fields a user may write on create: not named read or hidden by a creating role."""
    return {f for d in docs if d["name"] in held for f in FIELDS
            if d["permissions"]["thing"]["fields"].get(f, "edit") == "edit"}


def _expected(world: dict[str, Any], docs: list[dict[str, Any]], user: int,
              records: dict[int, tuple[int, str]], user_roles: dict[int, set[str]]
              ) -> tuple[set[int], set[str]]:
    dept, _ = world["users"][user]
    held = user_roles[user]
    reading = [d for d in docs if d["name"] in held and
               "read" in d["permissions"]["thing"]["operations"]]
    if not reading:
        return set(), set(FIELDS)
    scope = max((d["permissions"]["thing"]["scope"] for d in reading), key=SCOPES.index)
    # The hierarchy (decision 0013): reading roles with a scope and the switch on (default)
    # reach the records of their subordinates' holders, within the user's department tree.
    superiors = {d["name"] for d in reading if d["permissions"]["thing"].get("hierarchy", True)
                 and d["permissions"]["thing"]["scope"] != "none"}
    below = _below(docs, superiors, held)
    visible = set()
    for rid, (owner, odept) in records.items():
        if scope == "all" or (scope != "none" and (
                owner == user or (scope == "department" and dept is not None and odept == dept)
                or (scope == "department_tree" and odept in _subtree(dept))
                or (user_roles[owner] & below and odept in _subtree(dept)))):
            visible.add(rid)
    # Field access adds up over every role that reads or writes the object (0006-permissions).
    granting = [d for d in docs if d["name"] in held]
    shown = {f for f in FIELDS
             if any(d["permissions"]["thing"]["fields"].get(f, "read") != "hidden"
                    for d in granting)}
    return visible, set(FIELDS) - shown


@pytest.fixture
def app(instance):  # type: ignore[no-untyped-def]
    """Many sign-ins from one address: the sign-in rate limit is tested elsewhere."""
    return create_app(instance, {"TESTING": True,
                                 "CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS": "10000 per minute"})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=world_st)
# Worlds the search must always include: the role hierarchy deciding visibility, two roles
# whose field rules add up, and scopes that reach only as far as their own operations.
@example(world={"roles": [{"read": True, "scope": "own", "fields": {}, "reports_to": None},
                          {"read": True, "scope": "own", "fields": {}, "reports_to": 0}],
                "users": [("d0", {0}), ("d3", {1})], "records": [1, 1, 0]})
# The hierarchy bounded by the superior's department tree: the subordinate in d3 is outside
# the tree of d1, the one in d2 inside; a superior without a department reaches neither.
@example(world={"roles": [{"read": True, "scope": "department", "fields": {}, "reports_to": None},
                          {"read": True, "scope": "own", "fields": {}, "reports_to": 0}],
                "users": [("d1", {0}), ("d3", {1}), ("d2", {1}), (None, {0})],
                "records": [1, 2, 3, 0]})
# The switch off: the superior reaches only what its scope reaches.
@example(world={"roles": [{"read": True, "scope": "own", "fields": {}, "reports_to": None,
                           "hierarchy": False},
                          {"read": True, "scope": "own", "fields": {}, "reports_to": 0}],
                "users": [("d0", {0}), ("d1", {1})], "records": [1, 0]})
@example(world={"roles": [{"read": True, "scope": "all", "fields": {"alpha": "hidden"},
                           "reports_to": None},
                          {"read": True, "scope": "own", "fields": {"beta": "hidden"},
                           "reports_to": None}],
                "users": [("d0", {0, 1}), ("d1", {0})], "records": [0, 1, 1]})
# A create-only role's department scope must not widen what its holder reads.
@example(world={"roles": [{"read": True, "scope": "none",
                           "fields": {"alpha": "hidden", "beta": "hidden", "gamma": "hidden"},
                           "reports_to": None},
                          {"read": False, "scope": "department", "fields": {}, "reports_to": 0}],
                "users": [("d0", {0, 1}), ("d0", {0, 1})], "records": [0, 0, 0]})
def test_no_response_leaks(instance, app, world: dict[str, Any]) -> None:
    tenant = f"leak{next(_counter)}"
    instance.create_tenant(tenant, "Admin-pass-123")
    c = app.test_client()
    admin = sign_in(c, tenant, password="Admin-pass-123")
    for name, parent in DEPTS.items():
        assert c.post("/api/v1/admin/departments", headers=admin,
                      json={"name": name, "parent": parent}).status_code == 201
    assert c.post("/api/v1/meta/objects", headers=admin, json={"name": "thing", "fields": [
        {"name": f, "type": "text", "searchable": True} for f in FIELDS]}).status_code == 201
    docs = _roles(world)
    for d in docs:
        r = c.post("/api/v1/admin/roles", headers=admin, json=d)
        assert r.status_code == 201, r.json
    headers, user_roles = {}, {}
    for i, (dept, roles) in enumerate(world["users"]):
        names = sorted(f"r{r}" for r in roles if r < len(docs))
        r = c.post("/api/v1/admin/users", headers=admin, json={
            "username": f"u{i}", "password": PASSWORD, "department": dept, "roles": names})
        assert r.status_code == 201, r.json
        user_roles[i] = set(names)
        headers[i] = sign_in(c, tenant, f"u{i}", PASSWORD)
    records: dict[int, tuple[int, str]] = {}
    titled: set[int] = set()
    for owner in world["records"]:
        owner %= len(world["users"])
        writable = _writable(docs, user_roles[owner])
        if not user_roles[owner]:
            continue  # a user without roles cannot create anything
        # alpha is the object's title: global search finds it, by pinyin too.
        r = c.post("/api/v1/records/thing", headers=headers[owner],
                   json={f: "秘密 secret" if f == "alpha" else "secret" for f in writable})
        assert r.status_code == 201, r.json
        records[r.json["id"]] = (owner, world["users"][owner][0])
        if "alpha" in writable:
            titled.add(r.json["id"])
    for user in headers:
        visible, hidden = _expected(world, docs, user, records, user_roles)
        listing = c.get("/api/v1/records/thing?limit=100", headers=headers[user])
        if listing.status_code == 403:
            assert not any(user_roles[user] and "read" in d["permissions"]["thing"]["operations"]
                           for d in docs if d["name"] in user_roles[user])
            got: set[int] = set()
        else:
            items = listing.json["items"]
            got = {i["id"] for i in items}
            for item in items:
                # No hidden field leaks, and no readable field is withheld.
                assert set(item) & set(FIELDS) == set(FIELDS) - hidden, (user, item)
        assert got <= visible and (listing.status_code == 403 or got == visible)
        # Global search: the visible records with a title, none when the title is hidden.
        for q in ("secret", "mimi", "mms"):
            found = c.get("/api/v1/search", headers=headers[user],
                          query_string={"q": q, "limit": 100})
            assert found.status_code == 200, found.json
            ids = {i["id"] for g in found.json["groups"] for i in g["results"]}
            assert ids == (set() if "alpha" in hidden else visible & titled), (user, q, ids)
        for rid in records:
            r = c.get(f"/api/v1/records/thing/{rid}", headers=headers[user])
            assert r.status_code == (200 if rid in visible else 404)
            if r.status_code == 200:
                assert set(r.json) & set(FIELDS) == set(FIELDS) - hidden
                hist = c.get(f"/api/v1/records/thing/{rid}/history", headers=headers[user]).json
                assert not hidden & {e["field"] for e in hist["items"]}
