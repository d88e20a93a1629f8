"""Resolved tokens are cached per tenant, and every change to credentials voids the cache at
once (security/credentials.py): revocation stays immediate, in every process."""

from __future__ import annotations

import ast
import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

import crmforge
from crmforge.core.ids import hash_token
from crmforge.runtime import Instance
from crmforge.security import credentials, org
from crmforge.security.tables import credentials_version, users
from crmforge.web import create_app

from .conftest import sign_in

PASSWORD = "Cache-pass-123"


def _user(client: FlaskClient, admin: dict[str, str], name: str, **body: Any) -> dict[str, str]:
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": name, "password": PASSWORD, **body})
    assert r.status_code == 201, r.json
    return sign_in(client, username=name, password=PASSWORD)


def _me(client: FlaskClient, headers: dict[str, str]) -> Any:
    return client.get("/api/v1/auth/me", headers=headers)


def _cached(instance: Instance, headers: dict[str, str]) -> bool:
    token = headers["Authorization"].removeprefix("Bearer ")
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        versions = tenant.credentials.versions(conn)
    assert versions is not None
    return tenant.credentials.get(hash_token(token), versions) is not None


def _statements(instance: Instance, call: Any) -> list[str]:
    """Statements this thread sends to the tenant's database during ``call``."""
    seen: list[str] = []
    me = threading.get_ident()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == me and not statement.startswith(
                "SELECT set_config('search_path'"):
            seen.append(statement)

    engine = instance.tenant("default").engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen


def test_a_known_token_costs_no_query_of_its_own(client, admin, instance) -> None:
    assert _me(client, admin).status_code == 200
    assert _cached(instance, admin)
    sent = _statements(instance, lambda: _me(client, admin))
    assert not any("sys_tokens" in s for s in sent), sent
    # One statement reads both versions (on PostgreSQL the one that begins the transaction,
    # unseen here); nothing else is needed to know who this is.
    assert sum("sys_credentials_version" in s for s in sent) <= 1, sent
    assert len(sent) <= 1, sent


def test_unknown_tokens_are_never_cached(client, admin, instance) -> None:
    assert _me(client, admin).status_code == 200
    fake = {"Authorization": "Bearer not-a-token"}
    for _ in range(2):
        assert _me(client, fake).status_code == 401
    assert len(instance.tenant("default").credentials) == 1  # the admin's only


@pytest.mark.parametrize("change", ["revoke", "revoke_all", "deactivate", "password",
                                    "admin_flag", "roles", "department", "ip_ranges"])
def test_every_credential_change_takes_effect_on_the_next_request(
        client, admin, instance, change) -> None:
    assert client.post("/api/v1/admin/roles", headers=admin,
                       json={"name": "clerk", "permissions": {}}).status_code == 201
    assert client.post("/api/v1/admin/departments", headers=admin,
                       json={"name": "north"}).status_code == 201
    kim = _user(client, admin, "kim")
    before = _me(client, kim)
    assert before.status_code == 200 and _cached(instance, kim)
    patch = {
        "deactivate": {"active": False}, "password": {"password": "Other-pass-456"},
        "admin_flag": {"is_admin": True}, "roles": {"roles": ["clerk"]},
        "department": {"department": "north"},
        "ip_ranges": {"ip_ranges": ["10.0.0.0/8"]},
    }
    if change == "revoke":
        assert client.post("/api/v1/auth/revoke", headers=kim).status_code == 204
    elif change == "revoke_all":
        assert client.post("/api/v1/auth/revoke-all", headers=kim).status_code == 200
    else:
        r = client.patch("/api/v1/admin/users/kim", headers=admin, json=patch[change])
        assert r.status_code == 200, r.json
    after = _me(client, kim)
    if change in ("revoke", "revoke_all", "deactivate", "password", "ip_ranges"):
        assert after.status_code == 401, after.json
    elif change == "admin_flag":
        assert after.json["is_admin"] is True
    elif change == "roles":
        assert after.json["roles"] == ["clerk"]
    else:  # the department decides which records a scope reaches
        tenant = instance.tenant("default")
        token = kim["Authorization"].removeprefix("Bearer ")
        with tenant.read() as conn:
            versions = tenant.credentials.versions(conn)
            assert versions is not None
            cached = tenant.credentials.get(hash_token(token), versions)
            north = org.department_id(conn, "north")
        assert cached is not None and cached.department_id == north


def test_a_revoked_api_key_stops_at_once(client, admin, instance) -> None:
    r = client.post("/api/v1/auth/api-keys", headers=admin, json={"name": "erp"})
    assert r.status_code == 201, r.json
    key = {"Authorization": "Bearer " + r.json["key"]}
    assert _me(client, key).status_code == 200  # the first use is recorded (a write)
    assert _me(client, key).status_code == 200 and _cached(instance, key)
    assert client.delete(f"/api/v1/auth/api-keys/{r.json['id']}",
                         headers=admin).status_code == 204
    assert _me(client, key).status_code == 401


def test_other_processes_see_the_change(instance, admin, client) -> None:
    """A second app on the same instance (another worker process has its own cache) keeps
    its cached answer only until the version moves."""
    other = create_app(Instance.open(instance.path), {"TESTING": True}).test_client()
    kim = _user(client, admin, "kim")
    assert _me(other, kim).status_code == 200
    assert _me(other, kim).status_code == 200  # from the other app's cache now
    assert client.patch("/api/v1/admin/users/kim", headers=admin,
                        json={"active": False}).status_code == 200
    assert _me(other, kim).status_code == 401


def test_a_change_behind_the_products_back_lasts_at_most_the_ttl(
        client, admin, instance, monkeypatch) -> None:
    """An SQL console does not raise the version: the entry's age still bounds it."""
    kim = _user(client, admin, "kim")
    assert _me(client, kim).status_code == 200
    with instance.tenant("default").write() as conn:
        conn.execute(users.update().where(users.c.username == "kim").values(active=False))
    assert _me(client, kim).status_code == 200  # cached: the version did not move
    monkeypatch.setattr(credentials, "TTL_S", -1.0)
    assert _me(client, kim).status_code == 401


def test_a_refusal_is_decided_by_the_database(client, admin, instance) -> None:
    """A cached entry that would refuse is dropped and the token resolved again."""
    kim = _user(client, admin, "kim")
    assert _me(client, kim).status_code == 200
    tenant = instance.tenant("default")
    token = kim["Authorization"].removeprefix("Bearer ")
    with tenant.read() as conn:
        versions = tenant.credentials.versions(conn)
        assert versions is not None
        entry = tenant.credentials.get(hash_token(token), versions)
    assert entry is not None
    # A stale entry claiming the token was revoked (it was not).
    tenant.credentials.put(hash_token(token), versions,
                           replace(entry, revoked_at=dt.datetime(2020, 1, 1)))
    assert _me(client, kim).status_code == 200


def test_a_tenant_older_than_the_counter_gets_it_at_sign_in(client, admin, instance) -> None:
    tenant = instance.tenant("default")
    with tenant.write() as conn:
        credentials_version.drop(conn)
    instance.close_tenant("default")
    assert _me(client, admin).status_code == 200  # resolved from the database each time
    assert not instance.tenant("default").credentials
    sign_in(client)
    with instance.tenant("default").read() as conn:
        assert conn.execute(sa.select(credentials_version.c.version)).scalar() == 1


# -- every write to credentials raises the version ---------------------------------------------
_WATCHED = {"users", "tokens", "user_roles"}
#: Writes that cannot void a cached resolution: sign-in bookkeeping (failed attempts and
#: lockouts are checked at sign-in only), a new token (never cached before it exists), a
#: session's last use (the cache entry is dropped by the caller), new users (one, or a
#: pack's sample organisation: nothing cached can name a user that did not exist).
_HARMLESS = {("accounts", "sign_in"), ("accounts", "touch"), ("accounts", "create_user"),
             ("accounts", "create_users"), ("accounts", "unlock"), ("api_keys", "create")}


def _writes_of(tree: ast.AST) -> list[tuple[str, set[str], set[str]]]:
    """(function, tables it writes, functions it calls) for each function of a module."""
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        written, called = set(), set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                if node.func.attr in ("insert", "update", "delete") \
                        and isinstance(target, ast.Name) and target.id in _WATCHED:
                    written.add(target.id)
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                    getattr(node.func, "id", "")
                called.add(name)
        out.append((fn.name, written, called))
    return out


def test_every_credential_write_raises_the_version() -> None:
    root = Path(crmforge.__file__).parent
    raising = {"credentials_changed", "revoke_all", "revoke_token", "revoke_credential"}
    offenders = []
    found = 0
    for path in root.rglob("*.py"):
        for name, written, called in _writes_of(ast.parse(path.read_text())):
            if not written:
                continue
            found += 1
            if (path.stem, name) in _HARMLESS or called & raising:
                continue
            offenders.append(f"{path.relative_to(root)}:{name} writes {sorted(written)}")
    assert found >= 8  # the scan does see the writes it guards
    assert not offenders, "call credentials_changed(conn) in: " + ", ".join(offenders)


def test_the_scan_sees_an_unguarded_write() -> None:
    code = "def sneaky(conn):\n    conn.execute(users.update().values(active=False))\n"
    assert _writes_of(ast.parse(code)) == [("sneaky", {"users"}, {"execute", "update",
                                                                    "values"})]

