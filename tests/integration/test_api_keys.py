"""API keys for integrations: named, shown once, stored hashed, optional expiry; a key acts
with its user's permissions, is not stopped by password lockout, is revoked at once, and
its use is recorded."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from crmforge.core import clock
from crmforge.security.tables import tokens

from .conftest import error_of, sign_in

KEYS = "/api/v1/auth/api-keys"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Tenant": "default"}


def _world(client, admin):  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/meta/objects", headers=admin, json={"name": "lead", "fields": [
        {"name": "title", "type": "text"}, {"name": "budget", "type": "decimal"}]}).status_code == 201
    assert client.post("/api/v1/admin/roles", headers=admin, json={"name": "web", "permissions": {
        "lead": {"operations": ["create", "read"], "scope": "own",
                 "fields": {"budget": "hidden"}}}}).status_code == 201
    assert client.post("/api/v1/admin/users", headers=admin, json={
        "username": "website", "password": "Website-pass-1", "roles": ["web"]}).status_code == 201
    return sign_in(client, username="website", password="Website-pass-1")


def test_a_key_is_shown_once_stored_hashed_and_acts_as_its_user(client, admin, instance):
    site = _world(client, admin)
    r = client.post(KEYS, headers=site, json={"name": "website form"})
    assert r.status_code == 201 and r.json["key"].startswith("crmk_")
    key, key_id = r.json["key"], r.json["id"]
    assert r.json["expires_at"] is None and r.json["revoked"] is False
    listed = client.get(KEYS, headers=site).json["items"]
    assert [k["name"] for k in listed] == ["website form"] and "key" not in listed[0]
    with instance.tenant("default").read() as conn:
        stored = conn.execute(sa.select(tokens.c.token_hash).where(tokens.c.kind == "key")).all()
    assert stored and all(key not in s.token_hash for s in stored)
    made = client.post("/api/v1/records/lead", headers=_bearer(key),
                       json={"title": "From the site"})
    assert made.status_code == 201 and "budget" not in made.json  # the user's field rules
    hidden = client.post("/api/v1/records/lead", headers=_bearer(key), json={"budget": "5"})
    assert hidden.status_code == 403  # ... and its permissions
    assert client.get("/api/v1/admin/users", headers=_bearer(key)).status_code == 403
    assert client.get(KEYS, headers=site).json["items"][0]["last_used_at"] is not None
    # revoked: refused at once
    assert client.delete(f"{KEYS}/{key_id}", headers=site).status_code == 204
    r = client.get("/api/v1/records/lead", headers=_bearer(key))
    assert r.status_code == 401 and "API key" in error_of(r)["message"]
    assert client.get(KEYS, headers=site).json["items"][0]["revoked"] is True


def test_password_lockout_does_not_stop_a_key_but_deactivation_does(client, admin):
    site = _world(client, admin)
    key = client.post(KEYS, headers=site, json={"name": "erp"}).json["key"]
    for _ in range(6):  # lock the account by failed password sign-ins
        client.post("/api/v1/auth/token", json={"username": "website", "password": "wrong-1"})
    assert client.post("/api/v1/auth/token", json={
        "username": "website", "password": "Website-pass-1"}).status_code == 401
    assert client.get("/api/v1/records/lead", headers=_bearer(key)).status_code == 200
    # revoke-all (what a password change does) ends tokens and sessions, not keys
    assert client.post("/api/v1/auth/revoke-all", headers=_bearer(key)).status_code == 200
    assert client.get("/api/v1/records/lead", headers=_bearer(key)).status_code == 200
    assert client.delete("/api/v1/admin/users/website", headers=admin).status_code in (200, 204)
    assert client.get("/api/v1/records/lead", headers=_bearer(key)).status_code == 401


def test_expiry_and_admins_keys_for_a_service_user(client, admin):
    _world(client, admin)
    soon = (clock.now() + dt.timedelta(hours=1)).isoformat()
    r = client.post(KEYS, headers=admin, json={"name": "nightly sync", "user": "website",
                                               "expires_at": soon})
    assert r.status_code == 201, r.json
    key = r.json["key"]
    assert client.get("/api/v1/records/lead", headers=_bearer(key)).status_code == 200
    assert [k["name"] for k in client.get(f"{KEYS}?user=website", headers=admin).json["items"]] \
        == ["nightly sync"]
    later = clock.now() + dt.timedelta(hours=2)
    clock.set_clock(lambda: later)
    try:
        r = client.get("/api/v1/records/lead", headers=_bearer(key))
        assert r.status_code == 401 and "expired" in error_of(r)["message"]
    finally:
        clock.set_clock(None)


def test_bad_key_requests_change_nothing(client, admin):
    site = _world(client, admin)
    for body, field in (({}, "name"), ({"name": " "}, "name"), ({"name": "x" * 101}, "name"),
                        ({"name": "k", "expires_at": "yesterday"}, "expires_at"),
                        ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at")):
        r = client.post(KEYS, headers=site, json=body)
        assert r.status_code == 422 and field in error_of(r)["fields"], (body, r.json)
    assert client.post(KEYS, headers=site, json={"name": "k", "user": "admin"}).status_code == 403
    assert client.get(f"{KEYS}?user=admin", headers=site).status_code == 403
    assert client.delete(f"{KEYS}/999999", headers=site).status_code == 404
    assert client.delete(f"{KEYS}/abc", headers=site).status_code == 404
    assert client.get(KEYS, headers=site).json["items"] == []
    r = client.get("/api/v1/records/lead", headers=_bearer("crmk_forged"))
    assert r.status_code == 401
