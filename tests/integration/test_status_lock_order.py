"""A record whose status locks it answers 403 for the locked fields even when the sent
values are also invalid (the lock is the reason the edit cannot happen); an invalid value
for a field the status leaves editable still gets its 422 beside the field."""

from __future__ import annotations

import copy

from flask.testing import FlaskClient

from .conftest import BOOTH, EXHIBITOR, error_of


def test_the_lock_is_reported_before_validation(client: FlaskClient,
                                                admin: dict[str, str]) -> None:
    doc = copy.deepcopy(BOOTH)
    doc["fields"].append({"name": "notes", "type": "text", "max_length": 5})
    doc["status_rules"] = {"field": "status", "states": {
        "contracted": {"operations": ["read"], "editable_fields": ["notes"]}}}
    assert client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin).status_code == 201
    r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/records/booth", headers=admin,
                    json={"number": "A-1", "area": "10", "status": "contracted"})
    assert r.status_code == 201, r.json
    rid, version = r.json["id"], r.json["version"]

    r = client.patch(f"/api/v1/records/booth/{rid}", headers=admin,
                     json={"area": "-5", "version": version})  # locked and below min 0
    assert r.status_code == 403
    assert "status 'contracted'" in error_of(r)["message"]
    r = client.patch(f"/api/v1/records/booth/{rid}", headers=admin,
                     json={"notes": "far too long", "version": version})  # editable, invalid
    assert r.status_code == 422 and "notes" in error_of(r)["fields"]
    r = client.patch(f"/api/v1/records/booth/{rid}", headers=admin,
                     json={"notes": "ok", "version": version})
    assert r.status_code == 200, r.json


def test_a_status_that_forbids_share_refuses_sharing_and_unsharing(
        client: FlaskClient, admin: dict[str, str]) -> None:
    """Sharing widens who reads a record, so a status without ``share`` refuses it (403,
    nothing stored) like it refuses delete and transfer; removing a share is refused too."""
    doc = copy.deepcopy(BOOTH)
    doc["status_rules"] = {"field": "status", "states": {
        "contracted": {"operations": ["read"], "editable_fields": ["status"]}}}
    assert client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin).status_code == 201
    assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    assert client.post("/api/v1/admin/users", headers=admin, json={
        "username": "kim", "password": "Kim-pass-12345"}).status_code == 201
    r = client.post("/api/v1/records/booth", headers=admin, json={"number": "A-1"})
    rid, version = r.json["id"], r.json["version"]
    shares = f"/api/v1/records/booth/{rid}/shares"
    r = client.post(shares, headers=admin, json={"user": "kim", "access": "read"})
    assert r.status_code == 201, r.json
    share_id = r.json["id"]
    r = client.patch(f"/api/v1/records/booth/{rid}", headers=admin,
                     json={"status": "contracted", "version": version})
    assert r.status_code == 200, r.json

    r = client.post(shares, headers=admin, json={"user": "kim", "access": "edit"})
    assert r.status_code == 403
    assert "does not allow share" in error_of(r)["message"]
    r = client.delete(f"{shares}/{share_id}", headers=admin)
    assert r.status_code == 403
    assert [s["id"] for s in client.get(shares, headers=admin).json["items"]] == [share_id]
    r = client.post(f"/api/v1/records/booth/{rid}/transfer", headers=admin, json={"owner": "kim"})
    assert r.status_code == 403  # as before: transfer is refused the same way
