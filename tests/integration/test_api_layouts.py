"""Layouts over REST: generated until stored, validated against the object, versioned,
and following field renames because they are stored by field id."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from .conftest import BOOTH, EXHIBITOR, error_of

URL = "/api/v1/meta/objects/booth/layout"


def _setup(client: FlaskClient, admin: dict[str, str]) -> None:
    for doc in (EXHIBITOR, BOOTH):
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201


LAYOUT: dict[str, Any] = {
    "form": {"sections": [
        {"label": {"zh": "基本", "en": "Basics"}, "columns": 2, "fields": ["number", "status"]},
        {"label": {"en": "Money"}, "columns": 1, "fields": ["area", "price", "total"]}]},
    "list": {"columns": ["number", "total", "created_at"], "sort": "-area"},
}


def test_default_layout_is_generated_from_the_fields(client: FlaskClient,
                                                     admin: dict[str, str]) -> None:
    _setup(client, admin)
    r = client.get(URL, headers=admin)
    assert r.status_code == 200
    body = r.json
    assert body["generated"] is True
    assert body["form"]["sections"][0]["fields"] == [f["name"] for f in BOOTH["fields"]]
    assert body["list"]["columns"][0] == "number"


def test_put_stores_a_new_version_and_follows_a_rename(client: FlaskClient,
                                                       admin: dict[str, str]) -> None:
    _setup(client, admin)
    before = client.get(URL, headers=admin).json["version"]
    r = client.put(URL, json=LAYOUT, headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["generated"] is False
    assert r.json["version"] == before + 1
    assert r.json["form"] == LAYOUT["form"]
    assert r.json["list"] == LAYOUT["list"]
    r = client.patch("/api/v1/meta/objects/booth/fields/area", json={"name": "size"},
                     headers=admin)
    assert r.status_code == 200, r.json
    got = client.get(URL, headers=admin).json
    assert got["form"]["sections"][1]["fields"] == ["size", "price", "total"]
    assert got["list"]["sort"] == "-size"
    # What GET answers can be sent back as it is.
    assert client.put(URL, json=got, headers=admin).status_code == 200


def test_bad_layouts_are_refused_with_paths(client: FlaskClient, admin: dict[str, str]) -> None:
    _setup(client, admin)
    bad = {"form": {"sections": [{"columns": 2, "fields": ["number", "nope", "number"]}]},
           "list": {"columns": ["ghost"]}, "roles": {"nobody": {"list": {"columns": ["number"]}}}}
    r = client.put(URL, json=bad, headers=admin)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert "$.form.sections[0].fields[1]" in fields
    assert "$.form.sections[0].fields[2]" in fields
    assert "$.list.columns[0]" in fields
    assert "$.roles.nobody" in fields
    r = client.put(URL, json={"form": {"sections": [{"columns": 9, "fields": []}]}}, headers=admin)
    assert r.status_code == 422
    assert client.get(URL, headers=admin).json["generated"] is True
    assert client.put("/api/v1/meta/objects/nothing/layout", json=LAYOUT,
                      headers=admin).status_code == 404


def test_only_administrators_change_layouts(client: FlaskClient, admin: dict[str, str]) -> None:
    _setup(client, admin)
    assert client.post("/api/v1/admin/roles", json={
        "name": "sales", "permissions": {"booth": {"operations": ["read"], "scope": "all"}}},
        headers=admin).status_code == 201
    assert client.post("/api/v1/admin/users", json={
        "username": "sam", "password": "Sam-pass-1234", "roles": ["sales"]},
        headers=admin).status_code == 201
    from .conftest import sign_in
    sam = sign_in(client, username="sam", password="Sam-pass-1234")
    assert client.get(URL, headers=sam).status_code == 200
    r = client.put(URL, json=LAYOUT, headers=sam)
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"
    per_role = {**LAYOUT, "roles": {"sales": {"list": {"columns": ["number"]}}}}
    assert client.put(URL, json=per_role, headers=admin).status_code == 200
    assert client.get(URL, headers=admin).json["roles"] == {"sales": {"list": {"columns": ["number"]}}}
    # Others read the layout their roles give them, not every role's (decision 0015).
    mine = client.get(URL, headers=sam).json
    assert mine["list"]["columns"] == ["number"] and "roles" not in mine


def test_openapi_documents_the_layout_endpoint(client: FlaskClient, admin: dict[str, str]) -> None:
    doc = client.get("/api/v1/openapi.json", headers=admin).json
    path = doc["paths"]["/api/v1/meta/objects/{object}/layout"]
    assert {"get", "put"} <= set(path)
    assert "LayoutDocument" in doc["components"]["schemas"]
