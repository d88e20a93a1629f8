"""Every pack in packs/, on both databases: it loads, installs into an empty tenant after its
dependencies with every sample row, carries zh and en labels, a stored layout per object,
a dashboard and an approval process; it upgrades from a previous version with a tenant
customization in conflict (reported, then kept), and uninstalls to the recycle bin."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from crmforge.core.errors import Conflict
from crmforge.core.filters import ListQuery
from crmforge.installer import Installer, load_pack
from crmforge.runtime import Instance
from crmforge.runtime.designer import Designer
from crmforge.runtime.records import RecordService
from crmforge.security.accounts import principal_of

from .conftest import PACKS

NAMES = sorted(p.name for p in PACKS.iterdir() if (p / "pack.yaml").is_file())


def _installer(instance: Instance) -> Installer:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        return Installer(tenant, principal_of(conn, "admin"))


def _with_dependencies(name: str) -> list[str]:
    """The pack and what it needs, dependencies first."""
    manifest = yaml.safe_load((PACKS / name / "pack.yaml").read_text())
    out: list[str] = []
    for dep in manifest.get("dependencies") or {}:
        out += [d for d in _with_dependencies(dep) if d not in out]
    return [*out, name]


def _count(installer: Installer, obj: str) -> int:
    q = ListQuery(limit=1, total=True)
    return int(RecordService(installer.tenant).list(installer.principal, obj, q)["total"])


@pytest.mark.parametrize("name", NAMES)
def test_every_pack_loads_with_labels_in_both_languages(name: str) -> None:
    pack = load_pack(PACKS / name)
    assert {"zh", "en"} <= set(pack.manifest["label"])
    for obj, doc in pack.docs("objects").items():
        assert {"zh", "en"} <= set(doc.get("label", {})), obj
        for f in doc["fields"]:
            assert {"zh", "en"} <= set(f.get("label", {})), f"{obj}.{f['name']}"
            for choice in f.get("choices", []):
                assert {"zh", "en"} <= set(choice.get("label", {})), f"{obj}.{f['name']}"
        assert obj in pack.docs("layouts"), f"{obj} has no layout"
    assert pack.docs("dashboards") and pack.docs("processes") and pack.docs("roles")


@pytest.mark.parametrize("name", NAMES)
def test_every_pack_installs_into_an_empty_tenant(instance: Instance, name: str) -> None:
    installer = _installer(instance)
    for pack_name in _with_dependencies(name):
        installer.install(PACKS / pack_name)
    pack = load_pack(PACKS / name)
    snap = Designer(installer.tenant).snapshot()
    stored_layouts = {e["doc"]["name"] for e in snap.data["objects"] if e.get("layout")}
    for obj in pack.docs("objects"):
        assert snap.object(obj) is not None
        assert obj in stored_layouts, f"{obj}: the layout is generated, not the pack's"
    for obj, rows in pack.data.items():
        assert _count(installer, obj) == len(rows), obj
    processes = {p["name"] for p in snap.data.get("processes", [])}
    assert set(pack.docs("processes")) <= processes
    assert {r["name"] for r in snap.data["roles"]} >= set(pack.docs("roles"))
    assert [p["name"] for p in installer.installed()] == _with_dependencies(name)


def _previous_version(name: str, root: Path) -> tuple[Path, str, str]:
    """The pack as an older version: one object with another label and an extra field that
    the current version drops. Returns the folder, the object and the extra field."""
    old = root / name
    shutil.copytree(PACKS / name, old)
    manifest = yaml.safe_load((old / "pack.yaml").read_text())
    manifest["version"] = "0.9.0"
    (old / "pack.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True))
    first = sorted((old / "objects").glob("*.yaml"))[0]
    doc = yaml.safe_load(first.read_text())
    doc["label"] = {**doc["label"], "en": doc["label"]["en"] + " (old)"}
    doc["fields"].append({"name": "legacy_note", "type": "text",
                          "label": {"zh": "旧备注", "en": "Legacy note"}})
    first.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return old, doc["name"], "legacy_note"


def _rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.DictReader(f))


@pytest.mark.parametrize("name", NAMES)
def test_upgrade_from_a_previous_version_keeps_the_tenants_change(
        instance: Instance, tmp_path: Path, name: str) -> None:
    installer = _installer(instance)
    for dep in _with_dependencies(name)[:-1]:
        installer.install(PACKS / dep)
    old, obj, extra = _previous_version(name, tmp_path)
    installer.install(old)
    designer = Designer(installer.tenant)
    designer.update_object(installer.principal, obj, {"label": {"zh": "租户", "en": "Ours"}})
    plan = installer.upgrade(PACKS / name, dry_run=True)
    assert [(c["document"], c["path"]) for c in plan.conflicts] == [(f"object {obj}", "label")]
    with pytest.raises(Conflict):
        installer.upgrade(PACKS / name)
    done = installer.upgrade(PACKS / name, on_conflict="tenant")
    assert done.from_version == "0.9.0"
    after = designer.snapshot().object(obj)
    assert after.options["label"] == {"zh": "租户", "en": "Ours"}  # the tenant's change kept
    assert after.field(extra) is None  # the pack's change applied
    entry = next(e for e in designer.snapshot().data["objects"] if e["doc"]["name"] == obj)
    assert extra in {r["field"]["name"] for r in entry["removed_fields"]}  # data kept
    data = PACKS / name / "data" / f"{obj}.csv"
    if data.is_file():  # no sample row twice
        assert _count(installer, obj) == _rows(data)


@pytest.mark.parametrize("name", NAMES)
def test_uninstall_moves_the_packs_objects_to_the_recycle_bin(instance: Instance,
                                                              name: str) -> None:
    installer = _installer(instance)
    chain = _with_dependencies(name)
    for pack_name in chain:
        installer.install(PACKS / pack_name)
    for pack_name in reversed(chain):
        installer.uninstall(pack_name)
    snap = Designer(installer.tenant).snapshot()
    assert not snap.objects and not snap.data.get("processes") and not snap.data.get("roles")
    binned = {o.obj.name for o in snap.removed_objects.values()}
    assert set(load_pack(PACKS / name).docs("objects")) <= binned
    assert installer.installed() == []
