"""Triggers in the record service: before-save field changes and errors, after-save
records created with the acting user's permissions, budgets, nesting and rollback."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import error_of, sign_in

ACCT: dict[str, Any] = {"name": "acct", "fields": [
    {"name": "company", "type": "text", "required": True},
    {"name": "region", "type": "text"}]}

DEAL: dict[str, Any] = {"name": "deal", "fields": [
    {"name": "title", "type": "text", "required": True},
    {"name": "acct", "type": "lookup", "target": "acct"},
    {"name": "amount", "type": "decimal"},
    {"name": "vip", "type": "boolean"},
    {"name": "note", "type": "text"},
    {"name": "found", "type": "integer"}],
    "validation_rules": [
        {"name": "amount_sign", "condition": "is_blank(amount) or amount >= 0",
         "field": "amount", "message": {"en": "Amount may not be negative"}}]}

TASK: dict[str, Any] = {"name": "task", "fields": [
    {"name": "subject", "type": "text", "required": True},
    {"name": "deal", "type": "lookup", "target": "deal"}]}

PASSWORD = "Sam-pass-2024!"


@pytest.fixture
def h(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for doc in (ACCT, DEAL, TASK):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    return dict(admin)


def _triggers(client: Any, h: dict[str, str], *triggers: dict[str, Any]) -> None:
    r = client.patch("/api/v1/meta/objects/deal", json={"triggers": list(triggers)}, headers=h)
    assert r.status_code == 200, r.json


def _user(client: Any, h: dict[str, str], permissions: dict[str, Any]) -> dict[str, str]:
    r = client.post("/api/v1/admin/roles", headers=h,
                    json={"name": "seller", "permissions": permissions})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=h,
                    json={"username": "sam", "password": PASSWORD, "roles": ["seller"]})
    assert r.status_code == 201, r.json
    return sign_in(client, username="sam", password=PASSWORD)


def _count(client: Any, h: dict[str, str], obj: str) -> int:
    r = client.get(f"/api/v1/records/{obj}?total=true", headers=h)
    assert r.status_code == 200, r.json
    return int(r.json["total"])


def test_a_script_that_does_not_compile_is_refused_when_saved(client, h) -> None:
    r = client.patch("/api/v1/meta/objects/deal", headers=h, json={"triggers": [
        {"name": "broken", "when": "before_save", "script": "x = 1\nif x\n    pass"}]})
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert "line 2" in fields["$.triggers[0].script"][0]
    r = client.patch("/api/v1/meta/objects/deal", headers=h, json={"triggers": [
        {"name": "sneaky", "when": "after_save", "script": "import os"}]})
    assert r.status_code == 422
    assert "import" in error_of(r)["fields"]["$.triggers[0].script"][0]
    r = client.patch("/api/v1/meta/objects/deal", headers=h, json={"triggers": [
        {"name": "odd", "when": "whenever", "script": "pass"}]})
    assert r.status_code == 422


def test_before_save_sets_fields_and_sees_old_values(client, h) -> None:
    _triggers(client, h, {"name": "flag_vip", "when": "before_save", "script": (
        "set_field('vip', record.amount is not None and record.amount > 1000)\n"
        "if not is_new and old.amount != record.amount:\n"
        "    set_field('note', 'was ' + str(old.amount))\n")})
    r = client.post("/api/v1/records/deal", json={"title": "A", "amount": 5000}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["vip"] is True and r.json["note"] is None
    r = client.patch(f"/api/v1/records/deal/{r.json['id']}", headers=h,
                     json={"amount": 10, "version": r.json["version"]})
    assert r.status_code == 200, r.json
    assert r.json["vip"] is False and r.json["note"] == "was 5000.00"


def test_on_limits_a_trigger_to_creates(client, h) -> None:
    _triggers(client, h, {"name": "stamp", "when": "before_save", "on": ["create"],
                          "script": "set_field('note', 'new')"})
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.json["note"] == "new"
    r = client.patch(f"/api/v1/records/deal/{r.json['id']}", headers=h,
                     json={"note": "edited", "version": 1})
    assert r.status_code == 200 and r.json["note"] == "edited"


def test_field_errors_join_the_other_errors_of_the_write(client, h) -> None:
    _triggers(client, h, {"name": "no_bad_notes", "when": "before_save", "script": (
        "if record.note == 'bad':\n    add_error('note', 'no bad notes')\n")})
    r = client.post("/api/v1/records/deal", headers=h,
                    json={"title": "A", "note": "bad", "amount": -1})
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert fields["note"] == ["no bad notes"]
    assert fields["amount"] == ["Amount may not be negative"]
    assert _count(client, h, "deal") == 0


def test_a_trigger_sets_only_fields_the_user_may_write(client, h) -> None:
    _triggers(client, h, {"name": "flag_vip", "when": "before_save",
                          "script": "set_field('vip', True)"})
    sam = _user(client, h, {"deal": {"operations": ["create", "read", "update"],
                                     "scope": "all", "fields": {"vip": "read"}}})
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=sam)
    assert r.status_code == 422
    assert "read-only for you" in error_of(r)["fields"]["vip"][0]
    assert _count(client, h, "deal") == 0
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.status_code == 201 and r.json["vip"] is True


def test_after_save_creates_a_related_record(client, h) -> None:
    _triggers(client, h, {"name": "follow_up", "when": "after_save", "script": (
        "create('task', {'subject': 'call about ' + record.title, 'deal': record.id})")})
    r = client.post("/api/v1/records/deal", json={"title": "Big"}, headers=h)
    assert r.status_code == 201, r.json
    deal = r.json
    tasks = client.get("/api/v1/records/task", headers=h).json["items"]
    assert [(t["subject"], t["deal"]) for t in tasks] == [("call about Big", deal["id"])]
    history = client.get(f"/api/v1/records/task/{tasks[0]['id']}/history", headers=h).json["items"]
    assert history[0]["by"] == "admin"  # written as the acting user


def test_after_save_updates_another_record(client, h) -> None:
    acct = client.post("/api/v1/records/acct", json={"company": "ACME"}, headers=h).json
    _triggers(client, h, {"name": "region", "when": "after_save", "script": (
        "if record.acct is not None:\n"
        "    update('acct', record.acct, {'region': 'won ' + record.title})\n")})
    r = client.post("/api/v1/records/deal", json={"title": "D1", "acct": acct["id"]}, headers=h)
    assert r.status_code == 201, r.json
    got = client.get(f"/api/v1/records/acct/{acct['id']}", headers=h).json
    assert got["region"] == "won D1" and got["version"] == 2


def test_a_query_sees_only_what_the_acting_user_sees(client, h) -> None:
    client.post("/api/v1/records/acct", json={"company": "ACME"}, headers=h)
    _triggers(client, h, {"name": "lookup", "when": "before_save", "script": (
        "set_field('found', len(query('acct', company=record.title)))")})
    sam = _user(client, h, {"deal": {"operations": ["create", "read"], "scope": "all"},
                            "acct": {"operations": ["read"], "scope": "own"}})
    mine = client.post("/api/v1/records/deal", json={"title": "ACME"}, headers=sam)
    assert mine.status_code == 201, mine.json
    assert mine.json["found"] == 0  # the account is outside sam's scope
    theirs = client.post("/api/v1/records/deal", json={"title": "ACME"}, headers=h)
    assert theirs.json["found"] == 1


def test_a_create_the_user_may_not_do_refuses_the_write(client, h) -> None:
    _triggers(client, h, {"name": "follow_up", "when": "after_save", "script": (
        "try:\n    create('task', {'subject': 'x'})\nexcept ValueError:\n    pass\n")})
    sam = _user(client, h, {"deal": {"operations": ["create", "read"], "scope": "all"},
                            "task": {"operations": ["read"], "scope": "all"}})
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=sam)
    assert r.status_code == 422, r.json
    assert "trigger 'follow_up'" in error_of(r)["message"]
    assert _count(client, h, "deal") == 0 and _count(client, h, "task") == 0


def test_too_many_queries_refuse_the_write(client, h) -> None:
    _triggers(client, h, {"name": "greedy", "when": "before_save", "script": (
        "for i in range(50):\n    query('acct')\n")})
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.status_code == 422
    message = error_of(r)["message"]
    assert "trigger 'greedy'" in message and "too many queries" in message
    assert _count(client, h, "deal") == 0


def test_too_many_writes_refuse_the_write(client, h) -> None:
    _triggers(client, h, {"name": "spam", "when": "after_save", "script": (
        "for i in range(20):\n    create('task', {'subject': str(i)})\n")})
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.status_code == 422
    assert "too many records" in error_of(r)["message"]
    assert _count(client, h, "deal") == 0 and _count(client, h, "task") == 0


def test_an_endless_loop_is_stopped(client, h) -> None:
    _triggers(client, h, {"name": "forever", "when": "before_save",
                          "script": "while True:\n    pass\n"})
    started = time.monotonic()
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.status_code == 422
    assert "trigger 'forever'" in error_of(r)["message"]
    assert time.monotonic() - started < 10
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.status_code == 422  # a fresh worker takes over and stops it again


def test_triggers_starting_triggers_stop_at_the_nesting_limit(client, h) -> None:
    _triggers(client, h, {"name": "echo", "when": "after_save", "on": ["create"],
                          "script": "create('deal', {'title': record.title + '+'})"})
    r = client.post("/api/v1/records/deal", json={"title": "A"}, headers=h)
    assert r.status_code == 422
    message = error_of(r)["message"]
    assert "trigger 'echo'" in message and "levels deep" in message
    assert _count(client, h, "deal") == 0


def test_a_failing_trigger_rolls_back_everything(client, h) -> None:
    acct = client.post("/api/v1/records/acct", json={"company": "ACME"}, headers=h).json
    deal = client.post("/api/v1/records/deal", json={"title": "A", "acct": acct["id"]},
                       headers=h).json
    _triggers(client, h, {"name": "half_done", "when": "after_save", "script": (
        "create('task', {'subject': 'first', 'deal': record.id})\n"
        "update('acct', record.acct, {'region': 'changed'})\n"
        "raise ValueError('then it fails')\n")})
    r = client.patch(f"/api/v1/records/deal/{deal['id']}", headers=h,
                     json={"note": "x", "version": deal["version"]})
    assert r.status_code == 422
    message = error_of(r)["message"]
    assert "trigger 'half_done'" in message and "then it fails" in message and "line 3" in message
    assert _count(client, h, "task") == 0
    got = client.get(f"/api/v1/records/acct/{acct['id']}", headers=h).json
    assert got["region"] is None and got["version"] == 1
    again = client.get(f"/api/v1/records/deal/{deal['id']}", headers=h).json
    assert again["note"] is None and again["version"] == deal["version"]
