"""A pack's sample organisation (``sample/organisation.yaml``, ``installer.sample_org``):
made only when asked for, its users sign in with the one password the plan shows, and the
access story holds: each broker sees their own clients, the branch manager their branch."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.installer import Installer
from crmforge.installer.loader import load_pack
from crmforge.runtime import Instance
from crmforge.security.accounts import principal_of
from crmforge.security.tables import users

from .conftest import PACKS, install
from .conftest import sign_in as sign_in_api

WANG = {"张伟", "刘芳"}
LI = {"陈建国", "华信养老金管理有限公司"}
SUN = {"吴敏", "赵磊"}


def _installer(instance: Instance) -> Installer:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        return Installer(tenant, principal_of(conn, "admin"))


def _names(client: FlaskClient, who: dict[str, str], obj: str, field: str = "name") -> set[str]:
    r = client.get(f"/api/v1/records/{obj}?limit=200", headers=who)
    assert r.status_code == 200, r.json
    return {i[field] for i in r.json["items"]}


def _usernames(instance: Instance) -> set[str]:
    with instance.tenant("default").read() as conn:
        return set(conn.execute(sa.select(users.c.username)).scalars())


def test_no_sample_users_unless_asked(instance: Instance) -> None:
    install(instance, "core", "securities")
    assert _usernames(instance) == {"admin"}


def test_the_sample_organisation_shows_who_sees_what(instance: Instance,
                                                     client: FlaskClient) -> None:
    install(instance, "core")
    plan = _installer(instance).install(PACKS / "securities", sample_users=True)
    assert plan.applied and len(plan.sample_users) == 8 and plan.sample_password
    shown = plan.to_json()
    assert shown["sample_users"][0] == "broker_wang" and shown["sample_password"]
    password = plan.sample_password

    def who(name: str) -> dict[str, str]:
        return sign_in_api(client, username=name, password=password)

    assert _names(client, who("broker_wang"), "investor") == WANG
    assert _names(client, who("broker_li"), "investor") == LI
    assert _names(client, who("broker_sun"), "investor") == SUN
    assert _names(client, who("mgr_ljz"), "investor") == WANG | LI  # the branch's clients
    assert _names(client, who("mgr_xjh"), "investor") == SUN
    accounts = _names(client, who("broker_li"), "sec_account", "account_no")
    assert accounts and not accounts & _names(client, who("broker_wang"), "sec_account",
                                              "account_no")
    admin = sign_in_api(client)
    depts = {d["name"]: d for d in client.get("/api/v1/admin/departments",
                                              headers=admin).json["items"]}
    assert depts["branch_ljz"]["parent"] == "sec_hq"
    brokers = client.get("/api/v1/records/sec_broker?limit=10", headers=admin).json["items"]
    wang = client.get("/api/v1/admin/users/broker_wang", headers=admin).json
    assert any(b["broker_user"] == wang["id"] for b in brokers)
    assert wang["display_name"] == "王磊" and wang["roles"] == ["sec_broker"]


def test_sample_users_are_refused_when_names_are_taken_or_the_pack_has_none(
        instance: Instance, client: FlaskClient) -> None:
    install(instance, "core")
    installer = _installer(instance)
    with pytest.raises(ValidationFailed) as none:
        installer.install(PACKS / "pharma", sample_users=True)
    assert "sample_users" in none.value.fields
    admin = sign_in_api(client)
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "broker_li", "password": "Someone-else-123", "roles": []})
    assert r.status_code == 201, r.json
    with pytest.raises(Conflict) as taken:
        installer.install(PACKS / "securities", sample_users=True)
    assert taken.value.fields["sample_users"] == ["broker_li"]
    assert "securities" not in {p["name"] for p in installer.installed()}  # all or nothing
    assert _usernames(instance) == {"admin", "broker_li"}


def test_a_broken_organisation_file_is_named_with_its_path(tmp_path: Path) -> None:
    import shutil

    pack = tmp_path / "securities"
    shutil.copytree(PACKS / "securities", pack)
    org = pack / "sample" / "organisation.yaml"
    org.write_text(org.read_text(encoding="utf-8").replace(
        "inv_zhang: broker_wang,", "inv_nobody: broker_wang,").replace(
        "department: branch_xjh, roles: [sec_broker]", "department: branch_zzz, roles: [sec_broker]"),
        encoding="utf-8")
    with pytest.raises(ValidationFailed) as bad:
        load_pack(pack)
    fields = bad.value.fields
    assert "sample/organisation.yaml: $.owners.investor.inv_nobody" in fields
    assert "sample/organisation.yaml: $.users[2].department" in fields
