"""A pack's sample organisation (``sample/organisation.yaml``, ``installer.sample_org``):
made only when asked for, its users sign in with the one password the plan shows, and the
access story holds: each broker sees their own clients, the branch manager their branch;
each rep of core, pharma, exhibitions and utilities their customers, their manager the
department's. All five organisations fit in one tenant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from flask.testing import FlaskClient

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.installer import Installer
from crmforge.installer.loader import load_pack
from crmforge.runtime import Instance
from crmforge.security.accounts import principal_of
from crmforge.security.tables import users

from .conftest import PACKS, install
from .conftest import sign_in as sign_in_api

PackUsers = Callable[[str], dict[str, str]]

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


def _item(client: FlaskClient, who: dict[str, str], obj: str, field: str, value: str
          ) -> dict[str, object]:
    r = client.get(f"/api/v1/records/{obj}?limit=200", headers=who)
    assert r.status_code == 200, r.json
    found = [i for i in r.json["items"] if i[field] == value]
    assert len(found) == 1, (obj, value, found)
    return dict(found[0])


def _with_sample(instance: Instance, client: FlaskClient, pack: str) -> PackUsers:
    """Install core (without its sample users, unless ``pack`` is core) and ``pack`` with
    its sample users; returns a sign-in for them with the password the plan showed."""
    installer = _installer(instance)
    if pack != "core":
        installer.install(PACKS / "core")
    plan = installer.install(PACKS / pack, sample_users=True)
    assert plan.applied and plan.sample_users and plan.sample_password
    password = plan.sample_password

    def who(name: str) -> dict[str, str]:
        return sign_in_api(client, username=name, password=password)
    return who


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
        instance: Instance, client: FlaskClient, tmp_path: Path) -> None:
    import shutil

    install(instance, "core")
    installer = _installer(instance)
    bare = tmp_path / "pharma"  # a pack without sample/organisation.yaml
    shutil.copytree(PACKS / "pharma", bare, ignore=shutil.ignore_patterns("sample"))
    with pytest.raises(ValidationFailed) as none:
        installer.install(bare, sample_users=True)
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


# -- core ------------------------------------------------------------------------------------
N1 = {"华信制造集团", "华信制造（上海）有限公司", "蓝天物流"}
N2 = {"康泰医药有限公司", "Northwind Traders"}
S1 = {"东方证券服务中心", "国电能源科技", "联合商贸分销"}


def test_core_sample_organisation(instance: Instance, client: FlaskClient) -> None:
    who = _with_sample(instance, client, "core")
    rep_n1, rep_s1, mgr_n = who("rep_n1"), who("rep_s1"), who("mgr_n")
    assert _names(client, rep_n1, "account") == N1
    assert _names(client, rep_s1, "account") == S1
    assert _names(client, mgr_n, "account") == N1 | N2  # the region's reps
    # What hangs off an account is its rep's too.
    assert _names(client, rep_n1, "opportunity") == {"华信 MES 升级项目", "华信上海工厂设备联网"}
    assert _names(client, rep_n1, "contact") == {"王建国", "李敏", "赵磊", "何涛"}
    assert _names(client, rep_s1, "contract") == {"联合商贸网关采购"}
    assert _names(client, mgr_n, "contract") == {"康泰追溯系统合同", "Northwind licences"}
    assert _names(client, rep_n1, "lead") == {"郑浩"}
    # The service desk sees every account without revenue or rating, and its requests.
    agent = who("agent")
    assert _names(client, agent, "account") == N1 | N2 | S1
    huaxin = _item(client, agent, "account", "name", "华信制造集团")
    assert "annual_revenue" not in huaxin and "rating" not in huaxin
    assert "annual_revenue" in _item(client, rep_n1, "account", "name", "华信制造集团")
    assert _names(client, agent, "service_request", "subject") == {
        "追溯系统扫码枪无法连接", "申请增加 10 个移动用户", "报表导出乱码", "培训需求"}
    assert client.get("/api/v1/records/service_request", headers=rep_n1).status_code == 403


# -- pharma ----------------------------------------------------------------------------------
# The supermarket and the mall are the retail rep's, in the Shanghai territory too.
SH = {"上海瑞和医院", "上海中山路医院", "静安区中心医院", "益丰大药房（南京西路店）",
      "家乐福古北店药品专柜", "港汇恒隆广场健康生活馆"}
HZ = {"浙江省第一人民医院", "西溪社区卫生服务中心"}


def test_pharma_sample_organisation(instance: Instance, client: FlaskClient) -> None:
    who = _with_sample(instance, client, "pharma")
    sh1, sh2, hz, dm = who("rep_sh1"), who("rep_sh2"), who("rep_hz"), who("dm_east")
    # Terminals and doctors: the territory's (both Shanghai reps), the region's for the manager.
    assert _names(client, sh1, "hospital") == SH
    assert _names(client, sh2, "hospital") == SH
    assert _names(client, hz, "hospital") == HZ
    assert _names(client, dm, "hospital") == SH | HZ  # not Beijing
    assert _names(client, hz, "doctor") == {"徐建华", "孙伟"}
    # Events are the rep's own; the district manager sees the region's.
    assert _names(client, sh1, "academic_event") == {"瑞和医院心内科高血压管理科室会"}
    assert _names(client, sh2, "academic_event") == set()
    assert _names(client, dm, "academic_event") == {"瑞和医院心内科高血压管理科室会",
                                                    "杭州靶向治疗城市会"}
    # Costs: hidden from reps, seen by commercial operations.
    assert "unit_cost" not in _item(client, sh1, "drug", "name", "心安宁")
    assert "unit_cost" in _item(client, who("ph_ops"), "drug", "name", "心安宁")


# -- exhibitions -----------------------------------------------------------------------------
SELLER1 = {"华信制造集团", "康泰医药", "星辰电子", "优创机器人"}
SELLER2 = {"海洋湾产业园", "蓝天物流"}


def _count(client: FlaskClient, who: dict[str, str], obj: str) -> int:
    r = client.get(f"/api/v1/records/{obj}?limit=200", headers=who)
    assert r.status_code == 200, r.json
    return len(r.json["items"])


def test_exhibitions_sample_organisation(instance: Instance, client: FlaskClient) -> None:
    who = _with_sample(instance, client, "exhibitions")
    s1, s2, mgr, svc = who("seller1"), who("seller2"), who("mgr_east"), who("svc")
    # Exhibitors (two editions of 华信) and their contracts are the seller's own; the east
    # manager sees the team's, not the overseas seller's.
    assert _names(client, s1, "exhibitor") == SELLER1 and _count(client, s1, "exhibitor") == 5
    assert _names(client, s2, "exhibitor") == SELLER2
    assert _names(client, mgr, "exhibitor") == SELLER1 | SELLER2
    assert _names(client, who("seller3"), "exhibitor") == {"Sea Link Trading"}
    assert (_count(client, s1, "booth_contract"), _count(client, s2, "booth_contract"),
            _count(client, mgr, "booth_contract")) == (5, 3, 8)
    assert _count(client, s1, "booth_payment") == 3
    # Show services see every exhibitor without money (sellers without the credit
    # limit their manager sets), and no contracts at all.
    assert _count(client, svc, "exhibitor") == 9
    assert "credit_limit" not in _item(client, svc, "exhibitor", "name", "蓝天物流")
    assert "credit_limit" not in _item(client, s2, "exhibitor", "name", "蓝天物流")
    assert "credit_limit" in _item(client, mgr, "exhibitor", "name", "蓝天物流")
    assert client.get("/api/v1/records/booth_contract", headers=svc).status_code == 403
    assert _count(client, svc, "expo_service_order") == 4


# -- utilities -------------------------------------------------------------------------------
LIANQIAN = {"张伟", "李秀英", "海湾购物广场", "软件园三期（潜在）"}
TONGAN = {"鹭岛钢构有限公司", "翔安绿野农业合作社"}


def test_utilities_sample_organisation(instance: Instance, client: FlaskClient) -> None:
    who = _with_sample(instance, client, "utilities")
    reader1, reader2, mgr, cs1 = who("reader1"), who("reader2"), who("mgr"), who("cs1")
    # Customers: readers and team heads their office's, the hotline every one.
    assert _names(client, reader1, "power_customer") == LIANQIAN
    assert _names(client, reader2, "power_customer") == TONGAN
    assert _names(client, mgr, "power_customer") == LIANQIAN
    assert _names(client, cs1, "power_customer") == LIANQIAN | TONGAN
    # Readers see no phone numbers or arrears; nobody but the director sees ID numbers.
    li = _item(client, reader1, "power_customer", "name", "李秀英")
    assert not {"mobile", "arrears", "id_number"} & set(li)
    assert "id_number" not in _item(client, cs1, "power_customer", "name", "李秀英")
    assert "id_number" in _item(client, who("power_dir"), "power_customer", "name", "李秀英")
    # Readings are the reader's own; repair tickets the office's.
    assert (_count(client, reader1, "meter_reading"), _count(client, reader2, "meter_reading")
            ) == (5, 3)
    assert _names(client, cs1, "repair_ticket", "summary") == {
        "家中全部无电", "电表显示异常不走字", "夜间电压偏低灯光闪烁"}
    assert _names(client, who("eng2"), "repair_ticket", "summary") == {
        "10kV 进线开关跳闸", "大棚线路被风刮断"}


# -- all five in one tenant ------------------------------------------------------------------
ALL = ("core", "pharma", "securities", "exhibitions", "utilities")


def test_every_pack_with_its_sample_users_in_one_tenant(instance: Instance,
                                                        client: FlaskClient) -> None:
    files = {p: yaml.safe_load((PACKS / p / "sample" / "organisation.yaml").read_text(
        encoding="utf-8")) for p in ALL}
    departments = [d["name"] for doc in files.values() for d in doc["departments"]]
    assert len(departments) == len(set(departments))  # no pack borrows another's
    installer = _installer(instance)
    plans = {p: installer.install(PACKS / p, sample_users=True) for p in ALL}
    made = [u for plan in plans.values() for u in plan.sample_users]
    assert len(made) == len(set(made))
    assert _usernames(instance) == {"admin", *made}
    for p, plan in plans.items():
        assert plan.applied and plan.sample_password
        assert plan.sample_users == [u["username"] for u in files[p]["users"]]
        first = plan.sample_users[0]
        headers = sign_in_api(client, username=first, password=plan.sample_password)
        me = client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200 and me.json["username"] == first, me.json
    admin = sign_in_api(client)
    listed = {d["name"] for d in client.get("/api/v1/admin/departments",
                                            headers=admin).json["items"]}
    assert set(departments) <= listed
