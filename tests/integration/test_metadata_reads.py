"""Metadata reads follow the reader's permissions (decision 0015): a non-administrator gets
the documents of objects they may read or create only, with the fields they may read and
no expressions, defaults, conditions, rules or scripts; what they may not see answers
exactly like what does not exist. Administrators keep whole documents, and the pages a
reader uses still work."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, error_of, sign_in

PASSWORD = "Rep-pass-12345"
VAULT: dict[str, Any] = {"name": "vault", "fields": [{"name": "code", "type": "text"}]}
DEAL: dict[str, Any] = {
    "name": "deal", "label": {"en": "Deal"}, "title_field": "cost",
    "fields": [
        {"name": "title", "type": "text", "required": True},
        {"name": "amount", "type": "decimal", "default": "cost * 2",
         "visible_if": "cost > 0", "readonly_if": "cost > 100", "required_if": "cost > 5"},
        {"name": "cost", "type": "decimal"},
        {"name": "margin", "type": "formula", "result_type": "decimal", "expression": "amount - cost"},
        {"name": "region", "type": "picklist", "choices": [{"value": "north"}, {"value": "south"}]},
        {"name": "city", "type": "picklist", "controlling_field": "region",
         "choices": [{"value": "oslo", "depends_on": ["north"]},
                     {"value": "rome", "depends_on": ["south"]}]},
        {"name": "safe", "type": "lookup", "target": "vault"},
        {"name": "stage", "type": "picklist", "choices": [{"value": "open"}, {"value": "won"}]},
    ],
    "validation_rules": [{"name": "cheap", "condition": "cost < 1000000",
                          "message": {"en": "too dear"}, "field": "title"}],
    "status_rules": {"field": "stage", "states": {"won": {"operations": ["read"],
                                                          "editable_fields": ["cost"]}}},
    "triggers": [{"name": "stamp", "when": "before_save", "script": "set_field('cost', record.cost)"}],
}
TASK: dict[str, Any] = {"name": "task", "fields": [{"name": "note", "type": "text"}]}
HIDDEN = {"cost": "hidden", "region": "hidden"}
#: What the reader must never learn from a document: hidden field names and the other
#: object, which its role does not reach.
SECRET_WORDS = ("cost", "region", "vault", "north", "cheap", "stamp", "too dear")


@pytest.fixture
def heads(client: FlaskClient, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    for doc in (VAULT, DEAL, TASK):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    for role in ({"name": "rep", "permissions": {
                     "deal": {"operations": ["read", "create", "update"], "scope": "all",
                              "fields": HIDDEN},
                     "task": {"operations": ["create"], "scope": "none"}}},
                 {"name": "boss", "permissions": {"vault": {"operations": ["read"]}}}):
        assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.put("/api/v1/meta/objects/deal/layout", headers=admin, json={
        "form": {"sections": [{"label": {"en": "Main"}, "columns": 2,
                               "fields": ["title", "amount", "cost", "region", "city"]}]},
        "list": {"columns": ["title", "cost", "amount"], "sort": "-cost,title"},
        "roles": {"boss": {"list": {"columns": ["cost"]}}}})
    assert r.status_code == 200, r.json
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "rep", "password": PASSWORD, "roles": ["rep"]})
    assert r.status_code == 201, r.json
    return {"admin": admin, "rep": sign_in(client, username="rep", password=PASSWORD)}


def _no_secrets(body: Any) -> None:
    text = json.dumps(body)
    for word in SECRET_WORDS:
        assert word not in text, (word, text)


def test_a_reader_lists_only_objects_they_may_read_or_create(client, heads) -> None:
    r = client.get("/api/v1/meta/objects", headers=heads["rep"])
    assert r.status_code == 200
    assert [d["name"] for d in r.json["items"]] == ["deal", "task"]  # task: create only
    _no_secrets(r.json)
    admin = client.get("/api/v1/meta/objects", headers=heads["admin"]).json
    assert [d["name"] for d in admin["items"]] == ["deal", "task", "vault"]


def test_a_reader_gets_only_readable_fields_without_expressions_or_rules(client, heads) -> None:
    doc = client.get("/api/v1/meta/objects/deal", headers=heads["rep"]).json
    _no_secrets(doc)
    # margin = amount - cost: derived from the hidden cost, hidden with it
    assert [f["name"] for f in doc["fields"]] == ["title", "amount", "city", "safe", "stage"]
    assert not {"validation_rules", "status_rules", "triggers", "title_field"} & set(doc)
    for f in doc["fields"]:
        assert not {"expression", "default", "visible_if", "required_if", "readonly_if",
                    "controlling_field", "target"} & set(f), f
    by_name = {f["name"]: f for f in doc["fields"]}
    assert "margin" not in by_name
    assert by_name["city"]["choices"] == [{"value": "oslo"}, {"value": "rome"}]
    assert doc["version"] == client.get("/api/v1/meta/objects", headers=heads["rep"]).json["version"]
    listed = client.get("/api/v1/meta/objects/deal/fields", headers=heads["rep"]).json["items"]
    assert listed == doc["fields"]
    assert client.get("/api/v1/meta/objects/deal/fields/amount",
                      headers=heads["rep"]).json == by_name["amount"]


def test_what_a_reader_may_not_see_answers_like_what_does_not_exist(client, heads) -> None:
    rep = heads["rep"]
    for hidden, missing in (("/api/v1/meta/objects/vault", "/api/v1/meta/objects/nothing"),
                            ("/api/v1/meta/objects/vault/fields", "/api/v1/meta/objects/nothing/fields"),
                            ("/api/v1/meta/objects/vault/layout", "/api/v1/meta/objects/nothing/layout"),
                            ("/api/v1/meta/objects/deal/fields/cost",
                             "/api/v1/meta/objects/deal/fields/nothing")):
        a, b = client.get(hidden, headers=rep), client.get(missing, headers=rep)
        assert a.status_code == b.status_code == 404, (hidden, a.json)
        assert error_of(a)["message"].replace("vault", "X").replace("cost", "X") == \
            error_of(b)["message"].replace("nothing", "X")


def test_a_reader_gets_their_own_layout_without_hidden_fields(client, heads) -> None:
    layout = client.get("/api/v1/meta/objects/deal/layout", headers=heads["rep"]).json
    _no_secrets(layout)
    assert "roles" not in layout and "boss" not in json.dumps(layout)
    assert layout["form"]["sections"][0]["fields"] == ["title", "amount", "city"]
    assert layout["list"] == {"columns": ["title", "amount"], "sort": "title"}
    whole = client.get("/api/v1/meta/objects/deal/layout", headers=heads["admin"]).json
    assert whole["roles"]["boss"]["list"]["columns"] == ["cost"]
    assert whole["list"]["columns"] == ["title", "cost", "amount"]


def test_administrators_keep_whole_documents(client, heads) -> None:
    doc = client.get("/api/v1/meta/objects/deal", headers=heads["admin"]).json
    assert doc["triggers"][0]["script"] == DEAL["triggers"][0]["script"]
    assert doc["validation_rules"][0]["condition"] == "cost < 1000000"
    assert {f["name"]: f for f in doc["fields"]}["amount"]["default"] == "cost * 2"
    assert client.get("/api/v1/meta/objects/vault", headers=heads["admin"]).status_code == 200


def test_the_readers_pages_still_work(client, heads, instance: Instance) -> None:
    r = client.post("/api/v1/records/deal", headers=heads["admin"],
                    json={"title": "Big one", "cost": "7", "region": "north", "city": "oslo"})
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    page = browser_session(instance, "rep", PASSWORD)
    for url in ("/records/deal", "/records/deal/new", f"/records/deal/{rid}", "/records/task/new"):
        r = page.get(url)
        assert r.status_code == 200, (url, r.status_code)
        assert "cost" not in r.text.lower().replace("costs", ""), url
