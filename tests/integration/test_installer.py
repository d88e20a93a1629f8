"""Packs: load checks, install (all or nothing, dry run), dependencies, upgrade with the
tenant's own changes kept, uninstall to the recycle bin, and export. On both databases."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from crmforge.core.errors import Conflict, NotFound, ValidationFailed
from crmforge.core.filters import ListQuery
from crmforge.installer import Installer, export_pack, load_pack
from crmforge.metadata import store as meta_store
from crmforge.runtime import Instance
from crmforge.runtime.designer import Designer
from crmforge.runtime.records import RecordService
from crmforge.security.accounts import principal_of

ACCOUNT = {"name": "account", "label": {"zh": "客户", "en": "Account"}, "fields": [
    {"name": "name", "type": "text", "required": True, "label": {"en": "Name"}},
    {"name": "region", "type": "picklist", "label": {"en": "Region"},
     "choices": [{"value": "north", "label": {"en": "North"}},
                 {"value": "south", "label": {"en": "South"}}]},
    {"name": "parent", "type": "lookup", "target": "account"},
    {"name": "deals", "type": "rollup", "function": "count", "child": "deal"},
    {"name": "pipeline", "type": "rollup", "function": "sum", "child": "deal", "field": "amount"},
]}
DEAL = {"name": "deal", "label": {"en": "Deal"}, "fields": [
    {"name": "title", "type": "text", "required": True, "label": {"en": "Title"}},
    {"name": "account", "type": "master_detail", "target": "account"},
    {"name": "amount", "type": "currency", "label": {"en": "Amount"}},
    {"name": "region", "type": "formula", "result_type": "text", "expression": "account.region"},
]}
RULES = {"object": "deal", "validation_rules": [
    {"name": "positive", "condition": "is_blank(amount) or amount > 0", "field": "amount",
     "message": {"zh": "金额必须为正", "en": "Amount must be positive"}}]}
REP = {"name": "rep", "label": {"en": "Rep"}, "permissions": {
    "account": {"operations": ["read", "create"], "scope": "own"},
    "deal": {"operations": ["read", "create"], "scope": "own"}}}
BOARD = {"name": "sales", "label": {"en": "Sales"},
         "charts": [{"object": "account", "type": "pie", "field": "region"}]}
ACCOUNTS = "_key,name,region,parent\nacme,Acme,north,\nsub,Acme Sub,south,acme\n"
DEALS = "_key,title,account,amount\nd1,Big,acme,100.50\nd2,Small,sub,3\nd3,More,acme,10\n"


def write_pack(root: Path, *, name: str = "demo", version: str = "1.0.0",
               objects: list[dict[str, Any]] | None = None, rules: list[dict[str, Any]] | None = None,
               roles: list[dict[str, Any]] | None = None, boards: list[dict[str, Any]] | None = None,
               data: dict[str, str] | None = None, manifest: dict[str, Any] | None = None) -> Path:
    path = root / f"{name}-{version}"
    docs = {"objects": objects if objects is not None else [ACCOUNT, DEAL],
            "rules": rules if rules is not None else [RULES],
            "roles": roles if roles is not None else [REP],
            "dashboards": boards if boards is not None else [BOARD]}
    for folder, items in docs.items():
        (path / folder).mkdir(parents=True)
        for doc in items:
            key = doc.get("name") or doc["object"]
            (path / folder / f"{key}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    (path / "data").mkdir()
    for obj, text in (data if data is not None else {"account": ACCOUNTS, "deal": DEALS}).items():
        (path / "data" / f"{obj}.csv").write_text(text)
    head = {"name": name, "version": version, "label": {"zh": "演示", "en": "Demo"},
            "platform": ">=0.1,<1", **(manifest or {})}
    (path / "pack.yaml").write_text(yaml.safe_dump(head, allow_unicode=True))
    return path


@pytest.fixture
def installer(instance: Instance) -> Installer:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        admin = principal_of(conn, "admin")
    return Installer(tenant, admin)


def _records(inst: Installer, obj: str) -> list[dict[str, Any]]:
    return RecordService(inst.tenant).list(inst.principal, obj, _query())["items"]


def _query() -> ListQuery:
    return ListQuery(limit=100)


def _version(inst: Installer) -> int:
    with inst.tenant.read() as conn:
        return meta_store.current_version(conn)


def test_install_creates_objects_rules_roles_layouts_dashboards_and_records(
        installer: Installer, tmp_path: Path) -> None:
    plan = installer.install(write_pack(tmp_path))
    assert plan.applied and plan.records == {"account": 2, "deal": 3}
    kinds = [c["kind"] for m in plan.metadata for c in m["changes"]]
    assert kinds.count("create_table") == 2
    snap = Designer(installer.tenant).snapshot()
    assert snap.object("account").options.get("pack") == "demo"
    assert [r["name"] for r in snap.data["roles"]] == ["rep"]
    assert [d["name"] for d in snap.data["dashboards"]] == ["sales"]
    accounts = {a["name"]: a for a in _records(installer, "account")}
    assert accounts["Acme Sub"]["parent"] == accounts["Acme"]["id"]
    assert accounts["Acme"]["deals"] == "2" and accounts["Acme"]["pipeline"] == "110.50"
    deals = {d["title"]: d for d in _records(installer, "deal")}
    assert deals["Small"]["region"] == "south"
    assert installer.installed()[0]["name"] == "demo"
    # The pack's validation rule is live.
    with pytest.raises(ValidationFailed) as err:
        RecordService(installer.tenant).create(installer.principal, "deal", {
            "title": "x", "account": accounts["Acme"]["id"], "amount": "-1"})
    assert "positive" in str(err.value.fields) or "Amount must be positive" in str(err.value.fields)


def test_dry_run_reports_the_plan_and_changes_nothing(installer: Installer, tmp_path: Path) -> None:
    before = _version(installer)
    plan = installer.install(write_pack(tmp_path), dry_run=True)
    assert not plan.applied
    assert "create object account (5 fields)" in plan.steps and plan.records["deal"] == 3
    assert [m["summary"].split(":")[0] for m in plan.metadata] == ["install pack demo 1.0.0"]
    assert {c["table"] for m in plan.metadata for c in m["changes"]} == {"obj_account", "obj_deal"}
    assert _version(installer) == before
    assert Designer(installer.tenant).snapshot().object("account") is None
    assert installer.installed() == []
    assert installer.install(write_pack(tmp_path / "again")).applied  # and it still installs


def test_install_is_all_or_nothing(installer: Installer, tmp_path: Path) -> None:
    bad = DEALS + "d4,Negative,acme,-5\n"
    before = _version(installer)
    with pytest.raises(ValidationFailed) as err:
        installer.install(write_pack(tmp_path, data={"account": ACCOUNTS, "deal": bad}))
    assert "data/deal.csv" in err.value.message
    assert _version(installer) == before
    assert Designer(installer.tenant).snapshot().object("account") is None
    assert installer.installed() == []
    with installer.tenant.read() as conn:
        tables = sa.inspect(conn).get_table_names()
    assert not any(t.startswith("obj_") for t in tables)


def test_a_second_install_and_name_clashes_are_refused(installer: Installer, tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    with pytest.raises(Conflict, match="upgrade it instead"):
        installer.install(write_pack(tmp_path / "b"))
    other = write_pack(tmp_path / "c", name="other", roles=[], boards=[], data={}, rules=[])
    with pytest.raises(Conflict, match="already has account, deal"):
        installer.install(other)


@pytest.mark.parametrize(("change", "where"), [
    (lambda p: (p / "objects" / "deal.yaml").write_text("name: deal\nfields: [\n"),
     "objects/deal.yaml: line"),
    (lambda p: (p / "dashboards" / "sales.yaml").write_text(
        yaml.safe_dump({**BOARD, "charts": [{"object": "account", "type": "radar", "field": "x"}]})),
     "dashboards/sales.yaml: $.charts[0].type"),
    (lambda p: (p / "rules" / "deal.yaml").write_text(yaml.safe_dump({**RULES, "object": "ghost"})),
     "rules/deal.yaml: $.object"),
    (lambda p: (p / "data" / "account.csv").write_text(ACCOUNTS + "acme,Twice,north,\n"),
     "data/account.csv: line 4"),
    (lambda p: (p / "pack.yaml").write_text(yaml.safe_dump(
        {"name": "demo", "version": "one", "label": {"en": "x", "zh": "x"}, "platform": "~~"})),
     "pack.yaml: $.platform"),
    (lambda p: (p / "rules" / "deal.yaml").write_text(
        "object: deal\ntriggers:\n  - {name: t, when: before_save, on: [create], script: 'x = 1'}\n"),
     "rules/deal.yaml: $.triggers[0].True"),
])
def test_load_errors_name_the_file_and_the_path(tmp_path: Path, change: Any, where: str) -> None:
    path = write_pack(tmp_path)
    change(path)
    with pytest.raises(ValidationFailed) as err:
        load_pack(path)
    assert any(k.startswith(where) for k in err.value.fields), err.value.fields


def test_semantic_errors_of_documents_refuse_the_install(installer: Installer, tmp_path: Path) -> None:
    broken = copy.deepcopy(DEAL)
    broken["fields"][3]["expression"] = "account.nowhere"
    with pytest.raises(ValidationFailed):
        installer.install(write_pack(tmp_path, objects=[ACCOUNT, broken]))
    assert installer.installed() == []


def test_a_bad_layout_names_its_file(installer: Installer, tmp_path: Path) -> None:
    path = write_pack(tmp_path)
    (path / "layouts").mkdir()
    (path / "layouts" / "deal.yaml").write_text("object: deal\nlist: {columns: [title]}\n")
    (path / "layouts" / "account.yaml").write_text("object: account\nlist: {columns: [nope]}\n")
    with pytest.raises(ValidationFailed) as err:
        installer.install(path)
    assert err.value.message.startswith("layouts/account.yaml: ")
    assert installer.installed() == []


def test_sample_rows_may_name_rows_of_a_dependency(installer: Installer, tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    note = {"name": "note", "label": {"en": "Note"}, "fields": [
        {"name": "text", "type": "text"},
        {"name": "account", "type": "lookup", "target": "account"}]}
    addon = write_pack(tmp_path / "a", name="addon", objects=[note], rules=[], roles=[],
                       boards=[], data={"note": "_key,text,account\nn1,Call back,sub\n"},
                       manifest={"dependencies": {"demo": ">=1.0,<2"}})
    installer.install(addon)
    accounts = {a["id"]: a["name"] for a in _records(installer, "account")}
    [row] = _records(installer, "note")
    assert accounts[row["account"]] == "Acme Sub"


def test_the_object_that_never_validates_is_named(installer: Installer, tmp_path: Path) -> None:
    broken = copy.deepcopy(DEAL)
    broken["fields"][3]["expression"] = "nowhere + 1"
    with pytest.raises(ValidationFailed) as err:
        installer.install(write_pack(tmp_path, objects=[ACCOUNT, broken]))
    assert {k.split(":")[0] for k in err.value.fields} == {
        "objects/deal.yaml (with rules/deal.yaml)"}  # account validated once deal was tried
    assert "nowhere" in str(err.value.fields)


def test_dependencies_and_platform_range(installer: Installer, tmp_path: Path) -> None:
    addon = write_pack(tmp_path, name="addon", objects=[], rules=[], roles=[], boards=[], data={},
                       manifest={"dependencies": {"demo": ">=1.0,<2"}})
    with pytest.raises(ValidationFailed, match="needs pack 'demo'"):
        installer.install(addon)
    installer.install(write_pack(tmp_path))
    assert installer.install(addon).applied
    with pytest.raises(Conflict, match="needed by addon"):
        installer.uninstall("demo")
    future = write_pack(tmp_path / "f", name="future", objects=[], rules=[], roles=[], boards=[],
                        data={}, manifest={"platform": ">=9"})
    with pytest.raises(ValidationFailed, match="needs CRMForge >=9"):
        installer.install(future)


def _v2(tmp_path: Path, account_label: str = "Client") -> Path:
    account = copy.deepcopy(ACCOUNT)
    account["label"] = {"zh": "客户", "en": account_label}
    account["fields"].insert(2, {"name": "industry", "type": "text", "label": {"en": "Industry"}})
    account["fields"][1]["label"] = {"en": "Sales region"}
    rep = copy.deepcopy(REP)
    rep["permissions"]["account"]["scope"] = "department"
    return write_pack(tmp_path / "v2", version="1.1.0", objects=[account, DEAL], roles=[rep],
                      data={"account": ACCOUNTS + "new,Newco,north,\n", "deal": DEALS})


def test_upgrade_applies_the_packs_changes_and_keeps_the_tenants(
        installer: Installer, tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    designer = Designer(installer.tenant)
    # The tenant customises a field the pack leaves alone, and adds a field of its own.
    deal = designer.object_doc(designer.snapshot(), "deal")
    deal["fields"][2]["label"] = {"en": "Deal value"}
    designer.update_object(installer.principal, "deal", {"fields": deal["fields"]})
    designer.add_field(installer.principal, "account", {"name": "vip", "type": "boolean"})
    plan = installer.upgrade(_v2(tmp_path))
    assert plan.applied and plan.from_version == "1.0.0" and not plan.conflicts
    snap = designer.snapshot()
    account = snap.object("account")
    assert account.options["label"]["en"] == "Client"
    assert account.field("industry") is not None and account.field("vip") is not None
    assert account.field("region").options["label"] == {"en": "Sales region"}
    assert snap.object("deal").field("amount").options["label"] == {"en": "Deal value"}
    rep = next(r for r in snap.data["roles"] if r["name"] == "rep")
    assert rep["permissions"]["account"]["scope"] == "department"
    assert plan.records == {"account": 1}  # only the new sample row
    assert installer.installed()[0]["version"] == "1.1.0"


def test_conflicts_are_reported_not_decided(installer: Installer, tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    designer = Designer(installer.tenant)
    designer.update_object(installer.principal, "account", {"label": {"en": "Customer"}})
    before = _version(installer)
    preview = installer.upgrade(_v2(tmp_path), dry_run=True)
    assert [c["path"] for c in preview.conflicts] == ["label"]
    assert preview.conflicts[0]["pack"] == {"zh": "客户", "en": "Client"}
    with pytest.raises(Conflict, match="conflicts with the tenant's changes") as err:
        installer.upgrade(_v2(tmp_path / "x"))
    assert "object account label" in str(err.value.fields)
    assert _version(installer) == before and installer.installed()[0]["version"] == "1.0.0"
    # Keeping the tenant's value applies the rest and remembers the customization.
    installer.upgrade(_v2(tmp_path / "y"), on_conflict="tenant")
    snap = designer.snapshot()
    assert snap.object("account").options["label"] == {"en": "Customer"}
    assert snap.object("account").field("industry") is not None
    again = installer.upgrade(_v2(tmp_path / "z", account_label="Company"), dry_run=True)
    assert [c["path"] for c in again.conflicts] == ["label"]


def test_on_conflict_pack_takes_the_packs_value(installer: Installer, tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    Designer(installer.tenant).update_object(installer.principal, "account",
                                             {"label": {"en": "Customer"}})
    installer.upgrade(_v2(tmp_path), on_conflict="pack")
    label = Designer(installer.tenant).snapshot().object("account").options["label"]
    assert label == {"zh": "客户", "en": "Client"}


def test_uninstall_moves_objects_and_records_to_the_recycle_bin(
        installer: Installer, tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    plan = installer.uninstall("demo", dry_run=True)
    assert not plan.applied and Designer(installer.tenant).snapshot().object("account") is not None
    installer.uninstall("demo")
    designer = Designer(installer.tenant)
    snap = designer.snapshot()
    assert snap.object("account") is None and snap.object("deal") is None
    assert not snap.data.get("roles") and not snap.data.get("dashboards")
    assert installer.installed() == []
    binned = {o["name"] for o in designer.recycle_bin()["objects"]}
    assert binned == {"account", "deal"}
    designer.restore_object(installer.principal, "account")
    assert {a["name"] for a in _records(installer, "account")} == {"Acme", "Acme Sub"}
    with pytest.raises(NotFound):
        installer.uninstall("demo")


def test_export_of_a_tenant_installs_on_another(instance: Instance, installer: Installer,
                                                tmp_path: Path) -> None:
    installer.install(write_pack(tmp_path))
    out = export_pack(installer.tenant, tmp_path / "exported",
                      {"name": "mine", "version": "0.1.0", "label": {"zh": "我的", "en": "Mine"}})
    pack = load_pack(out)
    assert set(pack.docs("objects")) == {"account", "deal"} and "rep" in pack.docs("roles")
    other, _ = instance.create_tenant("other", "Admin-pass-123")
    with other.read() as conn:
        admin = principal_of(conn, "admin")
    Installer(other, admin).install(pack)
    theirs = Designer(other).snapshot()
    ours = Designer(installer.tenant).snapshot()
    assert [f.name for f in theirs.object("account").fields] == \
        [f.name for f in ours.object("account").fields]
    with pytest.raises(Conflict, match="not an empty folder"):
        export_pack(installer.tenant, out, {"name": "mine", "version": "0.1.0",
                                            "label": {"zh": "我", "en": "Mine"}})
