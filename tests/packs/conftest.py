"""Fixtures of the pack tests.

The HTTP fixtures of the integration suite (``app``, ``client``, ``admin``) on the
``instance`` of ``tests/conftest.py``, ``PACKS`` (the shipped pack folders) and
``install``, which installs packs in order as the administrator.

Below them, ``pack_world``: for the pharma and securities tests, one tenant per database
backend and test module with core and the module's ``PACK`` installed (installing core and
an industry pack takes a while), built the way ``tests/conftest.py`` builds ``instance``.
The tests of a module share that tenant and run in file order: they use records of their
own, or sample records no earlier test of the module changes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from crmforge.installer import Installer, state
from crmforge.installer.apply import Plan
from crmforge.runtime import Instance
from crmforge.security.accounts import principal_of
from crmforge.web import create_app

from ..conftest import BACKENDS, fresh_instance
from ..integration.conftest import admin, app, client, error_of, sign_in  # noqa: F401

PACKS = Path(__file__).resolve().parents[2] / "packs"


def install(instance: Instance, *names: str) -> tuple[Plan, ...]:
    """Install the named packs (from ``PACKS``) in order, as the administrator."""
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        principal = principal_of(conn, "admin")
    installer = Installer(tenant, principal)
    return tuple(installer.install(PACKS / name) for name in names)


def with_sample_org(instance: Instance, http: FlaskClient, pack: str) -> Any:
    """Core, then ``pack`` with its sample organisation (``pack install --sample-users``);
    returns a sign-in for its users with the one password the install showed."""
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        installer = Installer(tenant, principal_of(conn, "admin"))
    installer.install(PACKS / "core")
    plan = installer.install(PACKS / pack, sample_users=True)
    assert plan.sample_password
    password = plan.sample_password

    def who(name: str) -> dict[str, str]:
        return sign_in(http, username=name, password=password)
    return who


def records(http: FlaskClient, who: dict[str, str], obj: str) -> list[dict[str, Any]]:
    """Every record of ``obj`` that ``who`` may read (up to 200)."""
    r = http.get(f"/api/v1/records/{obj}?limit=200", headers=who)
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def staff(http: FlaskClient, as_admin: dict[str, str],
          departments: list[tuple[str, str | None]], users: list[tuple[str, str, list[str]]],
          heads: dict[str, str], password: str) -> dict[str, dict[str, str]]:
    """Departments, users with their roles and department heads, made by the admin;
    returns every user's signed-in headers (and the admin's under "admin")."""
    for name, parent in departments:
        r = http.post("/api/v1/admin/departments", headers=as_admin,
                      json={"name": name, "label": {"en": name.title()}, "parent": parent})
        assert r.status_code == 201, r.json
    for username, dept, roles in users:
        r = http.post("/api/v1/admin/users", headers=as_admin, json={
            "username": username, "password": password, "department": dept, "roles": roles})
        assert r.status_code == 201, r.json
    for dept, head in heads.items():
        r = http.patch(f"/api/v1/admin/departments/{dept}", json={"head": head}, headers=as_admin)
        assert r.status_code == 200, r.json
    out = {u: sign_in(http, username=u, password=password) for u, _, _ in users}
    out["admin"] = as_admin
    return out


# -- one installed tenant per module and backend (pharma, securities) ------------------------
WORLD_PASSWORD = "Pack-pass-1234"


@dataclass
class PackWorld:
    """One tenant with core and a pack installed, and a Flask client on it."""

    backend: str
    instance: Instance
    client: FlaskClient
    admin: dict[str, str]
    pack: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)  # "object:key" -> record id
    #: Records per object the install reported.
    installed: dict[str, int] = field(default_factory=dict)

    # -- HTTP helpers -----------------------------------------------------------------------
    def as_user(self, username: str) -> dict[str, str]:
        return self.admin if username == "admin" else self.headers[username]

    def get(self, who: str, url: str, **params: Any) -> Any:
        return self.client.get(url, headers=self.as_user(who), query_string=params)

    def post(self, who: str, url: str, body: Any = None, lang: str | None = None) -> Any:
        return self.client.post(url, json=body if body is not None else {},
                                headers=self.as_user(who),
                                query_string={"lang": lang} if lang else None)

    def patch(self, who: str, url: str, body: Any, lang: str | None = None) -> Any:
        return self.client.patch(url, json=body, headers=self.as_user(who),
                                 query_string={"lang": lang} if lang else None)

    def record(self, who: str, obj: str, rid: int) -> Any:
        return self.get(who, f"/api/v1/records/{obj}/{rid}")

    def create(self, who: str, obj: str, body: dict[str, Any], lang: str | None = None) -> Any:
        return self.post(who, f"/api/v1/records/{obj}", body, lang)

    def created(self, who: str, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.create(who, obj, body)
        assert r.status_code == 201, r.json
        return dict(r.json)

    def update(self, who: str, obj: str, rid: int, body: dict[str, Any],
               lang: str | None = None) -> Any:
        current = self.record("admin", obj, rid).json
        return self.patch(who, f"/api/v1/records/{obj}/{rid}",
                          {**body, "version": current["version"]}, lang)

    def items(self, who: str, obj: str, **params: Any) -> list[dict[str, Any]]:
        r = self.get(who, f"/api/v1/records/{obj}", limit=500, **params)
        assert r.status_code == 200, r.json
        assert r.json["next_cursor"] is None
        return list(r.json["items"])

    def titles(self, who: str, obj: str, field_name: str = "name") -> set[str]:
        return {item[field_name] for item in self.items(who, obj)}

    def key(self, obj: str, key: str) -> int:
        return self.keys[f"{obj}:{key}"]

    # -- organisation -----------------------------------------------------------------------
    def departments(self, tree: list[tuple[str, str | None]]) -> None:
        for name, parent in tree:
            r = self.client.post("/api/v1/admin/departments", headers=self.admin, json={
                "name": name, "label": {"zh": name, "en": name}, "parent": parent})
            assert r.status_code == 201, r.json

    def users(self, users: list[tuple[str, str, list[str]]]) -> None:
        for username, dept, roles in users:
            r = self.client.post("/api/v1/admin/users", headers=self.admin, json={
                "username": username, "password": WORLD_PASSWORD, "department": dept,
                "roles": roles})
            assert r.status_code == 201, r.json
            self.headers[username] = sign_in(self.client, username=username, password=WORLD_PASSWORD)

    def head(self, department: str, username: str) -> None:
        r = self.client.patch(f"/api/v1/admin/departments/{department}", headers=self.admin,
                              json={"head": username})
        assert r.status_code == 200, r.json

    def transfer(self, obj: str, rid: int, owner: str) -> None:
        r = self.post("admin", f"/api/v1/records/{obj}/{rid}/transfer", {"owner": owner})
        assert r.status_code == 200, r.json

    def share(self, obj: str, rid: int, user: str, access: str = "read") -> None:
        r = self.post("admin", f"/api/v1/records/{obj}/{rid}/shares",
                      {"user": user, "access": access})
        assert r.status_code == 201, r.json

    # -- approvals --------------------------------------------------------------------------
    def submit(self, who: str, obj: str, rid: int) -> dict[str, Any]:
        r = self.post(who, "/api/v1/approvals", {"object": obj, "record": rid})
        assert r.status_code == 201, r.json
        return dict(r.json)

    def tasks(self, who: str, obj: str, rid: int) -> list[dict[str, Any]]:
        r = self.get(who, "/api/v1/approvals/tasks")
        assert r.status_code == 200, r.json
        return [t for t in r.json["items"] if t["object"] == obj and t["record_id"] == rid]

    def act(self, who: str, obj: str, rid: int, action: str, comment: str = "ok"
            ) -> dict[str, Any]:
        mine = self.tasks(who, obj, rid)
        assert len(mine) == 1, (who, mine)
        r = self.post(who, f"/api/v1/approvals/tasks/{mine[0]['id']}/{action}",
                      {"comment": comment})
        assert r.status_code == 200, r.json
        return dict(r.json)


def pack_rows(pack: str) -> dict[str, list[dict[str, str]]]:
    """The sample rows of a pack folder, per object."""
    out = {}
    for file in sorted((PACKS / pack / "data").glob("*.csv")):
        with file.open(encoding="utf-8-sig", newline="") as fh:
            out[file.stem] = list(csv.DictReader(fh))
    return out


def pack_objects(pack: str) -> list[str]:
    """The names of a pack folder's objects, sorted."""
    return sorted(yaml.safe_load(p.read_text(encoding="utf-8"))["name"]
                  for p in (PACKS / pack / "objects").glob("*.yaml"))


def find(http: FlaskClient, who: dict[str, str], obj: str, **filters: Any) -> dict[str, Any]:
    """The one record the filters match (fails on none or several)."""
    r = http.get(f"/api/v1/records/{obj}", query_string={**filters, "limit": 5}, headers=who)
    assert r.status_code == 200, r.json
    assert len(r.json["items"]) == 1, (obj, filters, r.json["items"])
    return dict(r.json["items"][0])


def total(http: FlaskClient, who: dict[str, str], obj: str, **filters: Any) -> int:
    """How many records the filters match for ``who``."""
    r = http.get(f"/api/v1/records/{obj}", query_string={**filters, "total": "true", "limit": 1},
                   headers=who)
    assert r.status_code == 200, r.json
    return int(r.json["total"])


def refused(response: Any, field_name: str) -> list[str]:
    """The messages of a refused write (422) on one field."""
    assert response.status_code == 422, response.json
    err = error_of(response)
    assert field_name in err["fields"], err
    return list(err["fields"][field_name])


@pytest.fixture(scope="module", params=BACKENDS)
def pack_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[PackWorld]:
    """A fresh tenant with ``core`` and the module's ``PACK`` installed (as in production:
    the installer, acting as the administrator), and a signed-in admin client."""
    backend = str(request.param)
    pack = str(request.module.PACK)
    root = tmp_path_factory.mktemp(f"{pack}-{backend}")
    with fresh_instance(root, backend) as inst:
        tenant = inst.tenant("default")
        with tenant.read() as conn:
            admin = principal_of(conn, "admin")
        installer = Installer(tenant, admin)
        installer.install("core")
        plan = installer.install(PACKS / pack)
        assert plan.applied
        client = create_app(inst, {"TESTING": True}).test_client()
        world = PackWorld(backend, inst, client, sign_in(client), pack)
        with tenant.read() as conn:
            keys = state.installed(conn)[pack].data_keys
        world.keys = {k: int(v[1]) for k, v in keys.items()}
        world.installed = dict(plan.records)
        yield world
