"""The permission matrix (DESIGN §5): several users across a department tree and a role
hierarchy, every operation on every record, checked against an independent oracle for
get, list, count, search, export, update, delete and history."""

from __future__ import annotations

import csv
import io

import pytest

from . import permissions_world as pw
from .conftest import error_of


@pytest.fixture
def world(client, admin) -> pw.World:  # type: ignore[no-untyped-def]
    return pw.build(client, admin)


USERNAMES = [u for u, _, _ in pw.USERS]


@pytest.mark.parametrize("user", USERNAMES)
def test_get_list_count_search_export_match_the_oracle(world: pw.World, user: str) -> None:
    c, h = world.client, world.as_user(user)
    expected = {rid for rid in world.records if pw.can_read(world, user, rid)}
    for rid in world.records:
        r = c.get(f"/api/v1/records/account/{rid}", headers=h)
        assert r.status_code == (200 if rid in expected else 404), (user, rid, r.json)
    listed = c.get("/api/v1/records/account?total=true&limit=100", headers=h)
    if "read" not in pw.ops(user):
        assert listed.status_code == 403
        return
    assert {i["id"] for i in listed.json["items"]} == expected
    assert listed.json["total"] == len(expected)
    searched = c.get("/api/v1/records/account?q=rep&limit=100", headers=h).json["items"]
    assert {i["id"] for i in searched} == {
        rid for rid in expected if world.records[rid]["owner"].startswith("rep")}
    exported = c.get("/api/v1/records/account/export?headers=names", headers=h)
    if "export" in pw.ops(user):
        text = exported.get_data(as_text=True).lstrip("\ufeff")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {int(r["id"]) for r in rows} == expected
        for hidden in pw.hidden_fields(user):
            assert all(hidden not in r for r in rows)
    else:
        assert exported.status_code == 403


@pytest.mark.parametrize("user", USERNAMES)
def test_update_delete_history_match_the_oracle(world: pw.World, user: str) -> None:
    c, h = world.client, world.as_user(user)
    for rid in world.records:
        readable = pw.can_read(world, user, rid)
        current = c.get(f"/api/v1/records/account/{rid}", headers=world.admin).json
        r = c.patch(f"/api/v1/records/account/{rid}", headers=h,
                    json={"company": current["company"] + "!", "version": current["version"]})
        if pw.can_update(world, user, rid):
            assert r.status_code == 200, (user, rid, r.json)
        else:
            expected = {403} if readable and "update" in pw.ops(user) else {403, 404}
            if not readable:
                expected = {404} if "update" in pw.ops(user) else {403}
            assert r.status_code in expected, (user, rid, r.status_code, r.json)
            after = c.get(f"/api/v1/records/account/{rid}", headers=world.admin).json
            assert after == current  # a refused write changes nothing
        hist = c.get(f"/api/v1/records/account/{rid}/history", headers=h)
        assert hist.status_code == (200 if readable else 404)
        if readable:
            fields = {e["field"] for e in hist.json["items"]}
            assert not fields & pw.hidden_fields(user)
    for rid in list(world.records):
        allowed = pw.can_delete(world, user, rid)
        r = c.delete(f"/api/v1/records/account/{rid}", headers=h)
        assert (r.status_code == 204) == allowed, (user, rid, r.status_code)
        if allowed:
            assert c.post(f"/api/v1/records/account/{rid}/restore",
                          headers=world.admin).status_code == 200


@pytest.mark.parametrize("user", USERNAMES)
def test_transfer_matches_the_oracle(world: pw.World, user: str) -> None:
    """Transfer reaches as far as the scope of the roles granting it, whatever the user's
    update scope (a coordinator hands accounts over without editing them)."""
    c, h = world.client, world.as_user(user)
    for rid, rec in world.records.items():
        before = c.get(f"/api/v1/records/account/{rid}", headers=world.admin).json
        r = c.post(f"/api/v1/records/account/{rid}/transfer", headers=h,
                   json={"owner": rec["owner"]})  # to the same owner: the check is what counts
        if pw.can_transfer(world, user, rid):
            assert r.status_code == 200, (user, rid, r.json)
        else:
            if "transfer" not in pw.ops(user):
                expected = 403  # the operation level answers before any record is looked at
            else:
                expected = 403 if pw.can_read(world, user, rid) else 404
            assert r.status_code == expected, (user, rid, r.status_code)
            after = c.get(f"/api/v1/records/account/{rid}", headers=world.admin).json
            assert after == before


@pytest.mark.parametrize("user", ["rep_n1", "agent_s"])
def test_hidden_fields_never_appear(world: pw.World, user: str) -> None:
    c, h = world.client, world.as_user(user)
    items = c.get("/api/v1/records/account?limit=100", headers=h).json["items"]
    assert items and all("cost" not in i for i in items)
    r = c.get("/api/v1/records/account?cost__gt=1", headers=h)
    unknown = c.get("/api/v1/records/account?nothing__gt=1", headers=h)
    assert r.status_code == unknown.status_code == 400
    assert "cost" in error_of(r)["message"]  # it names what the caller sent, nothing more
    assert c.get("/api/v1/records/account?sort=cost", headers=h).status_code == 400
    assert c.get("/api/v1/records/account?fields=cost", headers=h).status_code == 400
    doc = c.get("/api/v1/openapi.json", headers=h).json
    assert "cost" not in doc["components"]["schemas"]["AccountRecord"]["properties"]
    assert "cost__gt" not in {p.get("name") for p in
                              doc["paths"]["/api/v1/records/account"]["get"]["parameters"]}


def test_writes_to_hidden_or_read_only_fields_are_403_and_change_nothing(world: pw.World) -> None:
    c, h = world.client, world.as_user("rep_n1")
    rid = next(r for r, rec in world.records.items()
               if rec["owner"] == "rep_n1" and rec["stage"] == "open")
    before = c.get(f"/api/v1/records/account/{rid}", headers=world.admin).json
    r = c.patch(f"/api/v1/records/account/{rid}", headers=h, json={"cost": "1", "version": 1})
    assert r.status_code == 403 and "cost" not in str(r.json)
    r = c.patch(f"/api/v1/records/account/{rid}", headers=h,
                json={"rating": "b", "notes": "x", "version": 1})
    assert r.status_code == 403 and "rating" in error_of(r)["fields"]
    r = c.post("/api/v1/records/account", headers=h, json={"company": "X", "cost": "5"})
    assert r.status_code == 403
    assert c.get(f"/api/v1/records/account/{rid}", headers=world.admin).json == before
    total = c.get("/api/v1/records/account?total=true", headers=world.admin).json["total"]
    assert total == len(world.records)


def test_status_level_allows_only_editable_fields(world: pw.World) -> None:
    c = world.client
    closed = next(r for r, rec in world.records.items() if rec["stage"] == "closed")
    mgr = world.as_user("mgr_north")
    rec = c.get(f"/api/v1/records/account/{closed}", headers=mgr).json
    r = c.patch(f"/api/v1/records/account/{closed}", headers=mgr,
                json={"company": "changed", "version": rec["version"]})
    assert r.status_code == 403 and "closed" in error_of(r)["message"]
    r = c.patch(f"/api/v1/records/account/{closed}", headers=mgr,
                json={"notes": "payment received", "version": rec["version"]})
    assert r.status_code == 200
    assert c.delete(f"/api/v1/records/account/{closed}", headers=mgr).status_code == 403
    # Even the administrator cannot delete a closed account: status rules bind everyone.
    assert c.delete(f"/api/v1/records/account/{closed}", headers=world.admin).status_code == 403


def test_mass_assignment_of_system_fields_is_refused(world: pw.World) -> None:
    c, h = world.client, world.as_user("rep_n1")
    rid = next(r for r, rec in world.records.items()
               if rec["owner"] == "rep_n1" and rec["stage"] == "open")
    boss = world.user_ids["boss"]
    for payload in ({"owner_id": boss}, {"department_id": 1}, {"created_by": boss},
                    {"id": 999}, {"deleted_at": None}):
        r = c.patch(f"/api/v1/records/account/{rid}", headers=h, json={**payload, "version": 1})
        assert r.status_code == 422, payload
        assert error_of(r)["fields"][next(iter(payload))] == ["is set by the system"]
    assert c.get(f"/api/v1/records/account/{rid}", headers=h).json["version"] == 1


def test_privilege_escalation_through_admin_endpoints_is_refused(world: pw.World) -> None:
    c, h = world.client, world.as_user("mgr_north")
    assert c.patch("/api/v1/admin/users/mgr_north", headers=h,
                   json={"roles": ["exec"]}).status_code == 403
    assert c.patch("/api/v1/admin/users/mgr_north", headers=h,
                   json={"department": "hq"}).status_code == 403
    assert c.patch("/api/v1/admin/users/mgr_north", headers=h,
                   json={"is_admin": True}).status_code == 403
    assert c.patch("/api/v1/admin/roles/manager", headers=h, json={"permissions": {
        "account": {"operations": ["read"], "scope": "all"}}}).status_code == 403
    assert c.post("/api/v1/meta/objects", headers=h,
                  json={"name": "x", "fields": [{"name": "a", "type": "text"}]}).status_code == 403
    me = c.get("/api/v1/admin/users/mgr_north", headers=world.admin).json
    assert me["roles"] == ["manager"] and me["department"] == "north" and not me["is_admin"]


def test_guessing_ids_reveals_nothing(world: pw.World) -> None:
    c, h = world.client, world.as_user("rep_s1")
    other = next(r for r, rec in world.records.items() if rec["owner"] == "boss")
    missing = max(world.records) + 1000
    a = c.get(f"/api/v1/records/account/{other}", headers=h)
    b = c.get(f"/api/v1/records/account/{missing}", headers=h)
    assert a.status_code == b.status_code == 404
    assert error_of(a)["message"].replace(str(other), "N") == \
        error_of(b)["message"].replace(str(missing), "N")


def test_shares_transfer_and_explain(world: pw.World) -> None:
    c = world.client
    rid = next(r for r, rec in world.records.items() if rec["owner"] == "rep_s1"
               and (r, "rep_n2") not in world.shares)
    n2 = world.as_user("rep_n2")
    assert c.get(f"/api/v1/records/account/{rid}", headers=n2).status_code == 404
    explained = c.get(f"/api/v1/admin/explain?user=rep_n2&object=account&record={rid}"
                      "&operation=read", headers=world.admin).json
    assert explained["allowed"] is False and explained["level"] in ("person", "department")
    r = c.post(f"/api/v1/records/account/{rid}/shares", headers=world.admin,
               json={"department": "north", "access": "read"})
    assert r.status_code == 201
    assert c.get(f"/api/v1/records/account/{rid}", headers=n2).status_code == 200
    explained = c.get(f"/api/v1/admin/explain?user=rep_n2&object=account&record={rid}"
                      "&operation=read", headers=world.admin).json
    assert explained["allowed"] is True
    # A read share does not let rep_n2 edit.
    assert c.patch(f"/api/v1/records/account/{rid}", headers=n2,
                   json={"notes": "x", "version": 1}).status_code == 403
    # Transfer to rep_n1: the record follows its new owner's department.
    r = c.post(f"/api/v1/records/account/{rid}/transfer", headers=world.admin,
               json={"owner": "rep_n1"})
    assert r.status_code == 200 and r.json["owner_id"] == world.user_ids["rep_n1"]
    assert c.get(f"/api/v1/records/account/{rid}", headers=world.as_user("rep_n1")).status_code == 200
    op = c.get("/api/v1/admin/explain?user=agent_s&object=account&operation=delete",
               headers=world.admin).json
    assert op == {"allowed": False, "level": "operation",
                  "reason": "none of the user's roles (agent) grants 'delete' on account"}


def test_access_is_audited(world: pw.World) -> None:
    c = world.client
    c.get("/api/v1/records/account?limit=100", headers=world.as_user("agent_s"))
    c.get("/api/v1/records/account/export", headers=world.as_user("agent_s"))
    log = c.get("/api/v1/admin/audit/access?user=agent_s", headers=world.admin).json["items"]
    assert [e["action"] for e in log[:2]] == ["export", "list"]
    assert log[1]["records"] and all(pw.can_read(world, "agent_s", r) for r in log[1]["records"])
    admin_log = c.get("/api/v1/admin/audit/admin", headers=world.admin).json["items"]
    assert any(e["action"] == "create user" and e["target"] == "agent_s" for e in admin_log)
    assert all("password" not in (e["details"] or {}) for e in admin_log)


def test_admin_user_changes_validate_and_revoke(world: pw.World) -> None:
    c = world.client
    r = c.patch("/api/v1/admin/users/rep_n1", headers=world.admin,
                json={"login_hours": {"start": "25:00", "end": "08:00"}})
    assert r.status_code == 422
    r = c.post("/api/v1/admin/roles", headers=world.admin, json={
        "name": "night", "login_hours": {"start": "08:00", "end": "18:00",
                                         "timezone": "Mars/Olympus"}})
    assert r.status_code == 422 and "$.login_hours.timezone" in error_of(r)["fields"]
    token = world.as_user("rep_n1")
    assert c.get("/api/v1/records/account", headers=token).status_code == 200
    assert c.patch("/api/v1/admin/users/rep_n1", headers=world.admin,
                   json={"password": "Brand-new-pass-9"}).status_code == 200
    assert c.get("/api/v1/records/account", headers=token).status_code == 401


def _listed(world: pw.World, user: str) -> set[int]:
    r = world.client.get("/api/v1/records/account?limit=100", headers=world.as_user(user))
    assert r.status_code == 200, r.json
    return {i["id"] for i in r.json["items"]}


def _expected(world: pw.World, user: str) -> set[int]:
    return {rid for rid in world.records if pw.can_read(world, user, rid)}


@pytest.mark.parametrize("user", ["rep_n1", "agent_s", "mgr_north", "trainee_s"])
def test_shares_made_and_removed_between_requests_match_the_oracle(
        world: pw.World, user: str) -> None:
    """Whether a reader has shares is kept across requests (security/branches.py): a
    share made after a reader's list must show on their very next list and read, whether
    to the user or to a department above theirs, and a removed one must go."""
    c = world.client
    assert _listed(world, user) == _expected(world, user)  # the answer "no shares" kept
    outside = sorted(rid for rid in world.records if not pw.can_read(world, user, rid))
    to_user, to_department = outside[0], outside[-1]
    made = c.post(f"/api/v1/records/account/{to_user}/shares", headers=world.admin,
                  json={"user": user, "access": "read"})
    assert made.status_code == 201, made.json
    world.shares.append((to_user, user))
    assert _listed(world, user) == _expected(world, user) and to_user in _expected(world, user)
    assert c.get(f"/api/v1/records/account/{to_user}",
                 headers=world.as_user(user)).status_code == 200
    # To the head office: every department below it, so every user of the world.
    by_dept = c.post(f"/api/v1/records/account/{to_department}/shares", headers=world.admin,
                     json={"department": "hq", "access": "read"})
    assert by_dept.status_code == 201, by_dept.json
    world.shares.extend((to_department, u) for u, _, _ in pw.USERS)
    for other in ("rep_n1", "agent_s", "mgr_north", "trainee_s"):
        assert _listed(world, other) == _expected(world, other), other
    removed = c.delete(f"/api/v1/records/account/{to_user}/shares/{made.json['id']}",
                       headers=world.admin)
    assert removed.status_code in (200, 204), removed.get_data(as_text=True)
    world.shares.remove((to_user, user))
    assert _listed(world, user) == _expected(world, user) and to_user not in _listed(world, user)
    assert c.get(f"/api/v1/records/account/{to_user}",
                 headers=world.as_user(user)).status_code == 404
