"""The bulk API: up to 1,000 records created, updated with versions or upserted by a unique
field in one request, all or none (every record tried, nothing kept if one is refused) or
record by record; every record through the record service, permissions included."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import error_of, sign_in

CONTACT = {"name": "contact", "fields": [
    {"name": "email", "type": "email", "unique": True, "required": True},
    {"name": "name", "type": "text", "required": True},
    {"name": "score", "type": "integer", "min": 0},
    {"name": "double", "type": "formula", "result_type": "integer", "stored": True,
     "expression": "if_blank(score, 0) * 2"}]}
URL = "/api/v1/records/contact/bulk"


@pytest.fixture
def h(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/meta/objects", headers=admin, json=CONTACT).status_code == 201
    return admin


def _all(client: Any, h: dict[str, str]) -> dict[str, Any]:
    items = client.get("/api/v1/records/contact?limit=500&sort=email", headers=h).json["items"]
    return {i["email"]: i for i in items}


def test_create_all_or_none(client, h) -> None:
    r = client.post(URL, headers=h, json={"records": [
        {"email": f"p{i}@x.test", "name": f"P{i}", "score": i} for i in range(3)]})
    assert r.status_code == 200 and r.json["applied"] is True
    assert [x["status"] for x in r.json["results"]] == ["created"] * 3
    stored = _all(client, h)
    assert stored["p2@x.test"]["double"] == 4  # formulas and history as for one record
    hist = client.get(f"/api/v1/records/contact/{stored['p2@x.test']['id']}/history",
                      headers=h).json["items"]
    assert {e["field"] for e in hist} >= {"email", "name", "score", "double"}
    # one refused record: every record is tried, every refusal reported, nothing kept
    r = client.post(URL, headers=h, json={"records": [
        {"email": "q0@x.test", "name": "Q0"}, {"email": "not-an-email", "name": "Bad"},
        {"email": "p0@x.test", "name": "Dup"}, {"email": "q3@x.test"}]})
    assert r.status_code == 200 and r.json["applied"] is False
    results = r.json["results"]
    assert [x["status"] for x in results] == ["rolled_back", "error", "error", "error"]
    assert results[0]["id"] is None
    assert "email" in results[1]["error"]["fields"] and "name" in results[3]["error"]["fields"]
    assert results[2]["error"]["code"] == "validation_failed"
    assert set(_all(client, h)) == {"p0@x.test", "p1@x.test", "p2@x.test"}


def test_record_by_record_keeps_what_succeeded(client, h) -> None:
    r = client.post(URL, headers=h, json={"all_or_none": False, "records": [
        {"email": "a@x.test", "name": "A"}, {"email": "b@x.test", "name": "B", "score": -1},
        {"email": "c@x.test", "name": "C"}]})
    assert r.json["applied"] is False
    assert [x["status"] for x in r.json["results"]] == ["created", "error", "created"]
    assert set(_all(client, h)) == {"a@x.test", "c@x.test"}


def test_updates_carry_versions_and_upserts_find_by_key(client, h) -> None:
    made = client.post(URL, headers=h, json={"records": [
        {"email": "u@x.test", "name": "U", "score": 1},
        {"email": "v@x.test", "name": "V", "score": 2}]}).json["results"]
    u, v = made[0]["id"], made[1]["id"]
    r = client.post(URL, headers=h, json={"mode": "update", "records": [
        {"id": u, "version": 1, "score": 10}, {"id": v, "version": 7, "score": 20}]})
    assert [x["status"] for x in r.json["results"]] == ["rolled_back", "error"]
    assert r.json["results"][1]["error"]["code"] == "conflict"  # stale version
    r = client.post(URL, headers=h, json={"mode": "update", "records": [
        {"id": u, "version": 1, "score": 10}, {"id": v, "version": 1, "score": 20},
        ]})
    assert r.json["applied"] is True
    assert _all(client, h)["v@x.test"]["double"] == 40
    r = client.post(URL, headers=h, json={"mode": "update", "records": [{"score": 3}]})
    assert r.json["results"][0]["error"]["fields"] == {"id": ["required"]}
    r = client.post(URL, headers=h, json={"mode": "upsert", "key": "email", "records": [
        {"email": "u@x.test", "name": "U2"}, {"email": "w@x.test", "name": "W"}]})
    assert [x["status"] for x in r.json["results"]] == ["updated", "created"]
    assert r.json["results"][0]["id"] == u
    stored = _all(client, h)
    assert stored["u@x.test"]["name"] == "U2" and stored["u@x.test"]["version"] == 3
    assert set(stored) == {"u@x.test", "v@x.test", "w@x.test"}


def test_upsert_over_a_record_the_caller_cannot_see_is_a_plain_unique_refusal(client, h):
    client.post(URL, headers=h, json={"records": [{"email": "hidden@x.test", "name": "H"}]})
    assert client.post("/api/v1/admin/roles", headers=h, json={
        "name": "rep", "permissions": {"contact": {"operations": ["read", "create", "update"],
                                                   "scope": "own"}}}).status_code == 201
    assert client.post("/api/v1/admin/users", headers=h, json={
        "username": "rita", "password": "Rita-pass-2024!", "roles": ["rep"]}).status_code == 201
    rita = sign_in(client, username="rita", password="Rita-pass-2024!")
    r = client.post(URL, headers=rita, json={"mode": "upsert", "key": "email", "records": [
        {"email": "hidden@x.test", "name": "Mine now"}]})
    result = r.json["results"][0]
    assert result["status"] == "error" and result["error"]["code"] == "validation_failed"
    single = client.post("/api/v1/records/contact", headers=rita,
                         json={"email": "hidden@x.test", "name": "Mine now"})
    assert result["error"]["message"] == error_of(single)["message"]  # the same answer
    assert _all(client, h)["hidden@x.test"]["name"] == "H"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "records"), ({"records": []}, "records"), ({"records": "x"}, "records"),
    ({"records": [{}] * 1001}, "records"), ({"records": [{}], "mode": "merge"}, "mode"),
    ({"records": [{}], "mode": "upsert"}, "key"),
    ({"records": [{}], "mode": "upsert", "key": "name"}, "key"),
    ({"records": [{}], "all_or_none": "yes"}, "all_or_none")])
def test_bad_requests_change_nothing(client, h, body, field) -> None:
    r = client.post(URL, headers=h, json=body)
    assert r.status_code == 400 and field in error_of(r)["fields"], r.json
    assert _all(client, h) == {}
