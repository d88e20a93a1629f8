"""Stored formulas over related records follow the related record's changes."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import sign_in

ACCT: dict[str, Any] = {"name": "acct", "fields": [
    {"name": "company", "type": "text", "required": True},
    {"name": "region", "type": "text"},
    {"name": "tier", "type": "text"}]}
PARENT = {"name": "parent", "type": "lookup", "target": "acct"}
CONTACT: dict[str, Any] = {"name": "contact", "fields": [
    {"name": "person", "type": "text", "required": True},
    {"name": "acct", "type": "lookup", "target": "acct"},
    {"name": "region", "type": "formula", "result_type": "text", "stored": True,
     "expression": "acct.region"},
    {"name": "top_region", "type": "formula", "result_type": "text", "stored": True,
     "expression": "if_blank(acct.parent.region, 'none')"},
    {"name": "label", "type": "formula", "result_type": "text", "stored": True,
     "expression": "concat(person, ' @ ', if_blank(region, '?'))"}]}


@pytest.fixture
def h(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/meta/objects", json=ACCT, headers=admin)
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/meta/objects/acct/fields", json=PARENT, headers=admin)
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/meta/objects", json=CONTACT, headers=admin)
    assert r.status_code == 201, r.json
    return dict(admin)


def _create(client: Any, h: dict[str, str], obj: str, **values: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/records/{obj}", json=values, headers=h)
    assert r.status_code == 201, r.json
    return dict(r.json)


def _patch(client: Any, h: dict[str, str], obj: str, rec: dict[str, Any],
           **values: Any) -> dict[str, Any]:
    current = client.get(f"/api/v1/records/{obj}/{rec['id']}", headers=h).json
    r = client.patch(f"/api/v1/records/{obj}/{rec['id']}", headers=h,
                     json={**values, "version": current["version"]})
    assert r.status_code == 200, r.json
    return dict(r.json)


def _get(client: Any, h: dict[str, str], obj: str, rec: dict[str, Any]) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/records/{obj}/{rec['id']}", headers=h).json)


def test_a_related_change_reaches_the_stored_formulas(client, h) -> None:
    acct = _create(client, h, "acct", company="ACME", region="north")
    c1 = _create(client, h, "contact", person="Ann", acct=acct["id"])
    c2 = _create(client, h, "contact", person="Bob", acct=acct["id"])
    other = _create(client, h, "contact", person="Cy")
    assert c1["region"] == "north" and c1["label"] == "Ann @ north"
    _patch(client, h, "acct", acct, region="south")
    for c in (c1, c2):
        got = _get(client, h, "contact", c)
        assert got["region"] == "south"
        assert got["label"].endswith("@ south")  # a formula over the recomputed one
        assert got["version"] == 1  # recomputed, not edited
    assert _get(client, h, "contact", other)["region"] is None
    items = client.get(f"/api/v1/records/contact/{c1['id']}/history",
                       headers=h).json["items"]
    assert [(e["action"], e["field"], e["old"], e["new"]) for e in items
            if e["action"] == "formula"] == [("formula", "region", "north", "south"),
                                             ("formula", "label", "Ann @ north", "Ann @ south")]
    _patch(client, h, "acct", acct, tier="gold")  # not an input: nothing to recompute
    items = client.get(f"/api/v1/records/contact/{c1['id']}/history",
                       headers=h).json["items"]
    assert len([e for e in items if e["action"] == "formula"]) == 2


def test_two_hops_and_a_changed_link_on_the_way(client, h) -> None:
    top = _create(client, h, "acct", company="Group", region="east")
    other_top = _create(client, h, "acct", company="Other", region="west")
    acct = _create(client, h, "acct", company="ACME", parent=top["id"])
    c = _create(client, h, "contact", person="Ann", acct=acct["id"])
    assert c["top_region"] == "east"
    _patch(client, h, "acct", top, region="far east")
    assert _get(client, h, "contact", c)["top_region"] == "far east"
    _patch(client, h, "acct", acct, parent=other_top["id"])
    assert _get(client, h, "contact", c)["top_region"] == "west"
    _patch(client, h, "acct", acct, parent=None)
    assert _get(client, h, "contact", c)["top_region"] == "none"


def test_stored_values_do_not_depend_on_who_wrote(client, h) -> None:
    r = client.post("/api/v1/admin/roles", headers=h, json={"name": "editor", "permissions": {
        "acct": {"operations": ["read", "update"], "scope": "all",
                 "fields": {"region": "hidden"}}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "ed", "password": "Ed-pass-2024!", "roles": ["editor"]})
    assert r.status_code == 201, r.json
    ed = sign_in(client, username="ed", password="Ed-pass-2024!")
    top = _create(client, h, "acct", company="Group", region="east")
    acct = _create(client, h, "acct", company="ACME")
    c = _create(client, h, "contact", person="Ann", acct=acct["id"])
    assert c["top_region"] == "none"
    # ed cannot read regions nor see contacts; the contact still gets the true value.
    _patch(client, ed, "acct", acct, parent=top["id"])
    assert _get(client, h, "contact", c)["top_region"] == "east"


def test_deleting_and_restoring_the_related_record(client, h) -> None:
    acct = _create(client, h, "acct", company="ACME", region="north")
    c = _create(client, h, "contact", person="Ann", acct=acct["id"])
    assert client.delete(f"/api/v1/records/acct/{acct['id']}", headers=h).status_code == 204
    assert _get(client, h, "contact", c)["region"] is None  # what a fresh write computes
    r = client.post(f"/api/v1/records/acct/{acct['id']}/restore", headers=h)
    assert r.status_code == 200, r.json
    assert _get(client, h, "contact", c)["region"] == "north"
