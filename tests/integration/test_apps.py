"""Apps (decision 0034): the document's validation (each refusal under its JSON path), the
admin API, and object renames and removals keeping apps valid."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from .conftest import error_of, sign_in

THING: dict[str, Any] = {"name": "thing", "label": {"zh": "物品", "en": "Thing"},
                         "fields": [{"name": "title", "type": "text"}]}
PLACE: dict[str, Any] = {"name": "place", "label": {"zh": "地点", "en": "Place"},
                         "fields": [{"name": "title", "type": "text"}]}
#: Only points at two others: a link object, left out of menus.
THING_PLACE: dict[str, Any] = {
    "name": "thing_place", "fields": [
        {"name": "thing", "type": "lookup", "target": "thing"},
        {"name": "place", "type": "lookup", "target": "place"}]}
APP: dict[str, Any] = {"name": "stock", "label": {"zh": "库存", "en": "Stock"},
                       "objects": ["place", "thing"], "icon": "box"}


@pytest.fixture
def objects(client: FlaskClient, admin: dict[str, str]) -> None:
    for doc in (THING, PLACE, THING_PLACE):
        r = client.post("/api/v1/meta/objects", headers=admin, json=doc)
        assert r.status_code == 201, r.json


def test_crud(client: FlaskClient, admin: dict[str, str], objects: None) -> None:
    assert client.get("/api/v1/meta/apps", headers=admin).json == {"items": []}
    r = client.post("/api/v1/meta/apps", headers=admin, json=APP)
    assert r.status_code == 201, r.json
    assert r.json == APP
    assert client.get("/api/v1/meta/apps/stock", headers=admin).json == APP
    r = client.patch("/api/v1/meta/apps/stock", headers=admin,
                     json={"objects": ["thing", "place"], "icon": None})
    assert r.status_code == 200, r.json
    assert r.json["objects"] == ["thing", "place"] and "icon" not in r.json
    assert [a["name"] for a in client.get("/api/v1/meta/apps", headers=admin).json["items"]] \
        == ["stock"]
    versions = client.get("/api/v1/meta/versions", headers=admin).json["items"]
    assert versions[0]["summary"] == "change app stock"
    assert client.delete("/api/v1/meta/apps/stock", headers=admin).status_code == 204
    assert client.get("/api/v1/meta/apps/stock", headers=admin).status_code == 404
    assert client.delete("/api/v1/meta/apps/stock", headers=admin).status_code == 404
    assert client.patch("/api/v1/meta/apps/stock", headers=admin, json={}).status_code == 404


@pytest.mark.parametrize(("doc", "path", "fragment"), [
    ({**APP, "name": "Bad Name"}, "$.name", "does not match"),
    ({**APP, "label": {"zh": "库存"}}, "$.label.en", "is required"),
    ({**APP, "label": {"zh": " ", "en": "Stock"}}, "$.label.zh", "is required"),
    ({**APP, "objects": ["place", "nothing"]}, "$.objects[1]", "no object named 'nothing'"),
    ({**APP, "objects": ["place", "thing", "place"]}, "$.objects[2]", "listed twice"),
    ({**APP, "objects": ["thing_place"]}, "$.objects[0]", "only links other objects"),
    ({**APP, "objects": []}, "$.objects", "at least one object"),
    ({**APP, "objects": "thing"}, "$.objects", "is not of type 'array'"),
    ({**APP, "colour": "red"}, "$", "Additional properties"),
    ({"name": "stock", "objects": ["thing"]}, "$", "'label' is a required property"),
])
def test_refusals(client: FlaskClient, admin: dict[str, str], objects: None,
                  doc: dict[str, Any], path: str, fragment: str) -> None:
    r = client.post("/api/v1/meta/apps", headers=admin, json=doc)
    assert r.status_code == 422, r.json
    err = error_of(r)
    assert path in err["fields"], err
    assert any(fragment in m for m in err["fields"][path]), err
    assert client.get("/api/v1/meta/apps", headers=admin).json == {"items": []}


def test_every_problem_at_once(client: FlaskClient, admin: dict[str, str],
                               objects: None) -> None:
    r = client.post("/api/v1/meta/apps", headers=admin, json={
        **APP, "label": {"en": "Stock"}, "objects": ["nothing", "thing", "thing"]})
    assert r.status_code == 422
    assert set(error_of(r)["fields"]) == {"$.label.zh", "$.objects[0]", "$.objects[2]"}


def test_names_and_bad_bodies(client: FlaskClient, admin: dict[str, str],
                              objects: None) -> None:
    assert client.post("/api/v1/meta/apps", headers=admin, json=APP).status_code == 201
    r = client.post("/api/v1/meta/apps", headers=admin, json=APP)
    assert r.status_code == 422 and "already exists" in error_of(r)["fields"]["$.name"][0]
    r = client.patch("/api/v1/meta/apps/stock", headers=admin, json={"name": "other"})
    assert r.status_code == 422 and "$.name" in error_of(r)["fields"]
    r = client.patch("/api/v1/meta/apps/stock", headers=admin, json=["thing"])
    assert r.status_code == 400
    r = client.post("/api/v1/meta/apps", headers=admin, json=["thing"])
    assert r.status_code == 422
    r = client.post("/api/v1/meta/apps", headers=admin, data="{", content_type="application/json")
    assert r.status_code == 400


def test_only_admins(client: FlaskClient, admin: dict[str, str], objects: None) -> None:
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "ann", "password": "a long password 1", "roles": []})
    assert r.status_code == 201, r.json
    ann = sign_in(client, username="ann", password="a long password 1")
    assert client.get("/api/v1/meta/apps", headers=ann).status_code == 403
    assert client.post("/api/v1/meta/apps", headers=ann, json=APP).status_code == 403
    assert client.get("/api/v1/meta/apps", headers={"X-Tenant": "default"}).status_code == 401


def test_rename_and_removal_keep_apps_valid(client: FlaskClient, admin: dict[str, str],
                                            objects: None) -> None:
    assert client.post("/api/v1/meta/apps", headers=admin, json=APP).status_code == 201
    r = client.patch("/api/v1/meta/objects/thing", headers=admin, json={"name": "item"})
    assert r.status_code == 200, r.json
    assert client.get("/api/v1/meta/apps/stock", headers=admin).json["objects"] == \
        ["place", "item"]
    assert client.delete("/api/v1/meta/objects/thing_place", headers=admin).status_code == 204
    r = client.delete("/api/v1/meta/objects/item", headers=admin)
    assert r.status_code == 204, r.json
    app = client.get("/api/v1/meta/apps/stock", headers=admin).json
    assert app["objects"] == ["place"]
    # The app stays valid: saving it again as it is works.
    r = client.patch("/api/v1/meta/apps/stock", headers=admin, json={"label": app["label"]})
    assert r.status_code == 200, r.json
