"""Each pack ships one app (decision 0034): its main objects, in order, with zh and en
labels, no link or child-only objects; installing a pack adds it, upgrading merges it and
uninstalling deletes it, as for dashboards."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from crmforge.installer import Installer
from crmforge.installer.loader import load_pack
from crmforge.runtime import Designer, Instance
from crmforge.security.accounts import principal_of

from .conftest import PACKS, install

SHIPPED = ("core", "pharma", "securities", "exhibitions", "utilities")


@pytest.mark.parametrize("name", SHIPPED)
def test_each_pack_ships_one_app_of_its_own_objects(name: str) -> None:
    pack = load_pack(PACKS / name)
    apps = pack.docs("apps")
    assert len(apps) == 1
    app = next(iter(apps.values()))
    assert app["label"]["zh"] and app["label"]["en"]
    objects = pack.docs("objects")
    assert set(app["objects"]) <= set(objects) and len(set(app["objects"])) == len(app["objects"])
    assert len(app["objects"]) >= 8
    for obj in app["objects"]:  # no object that only joins others
        types = {f["type"] for f in objects[obj]["fields"]}
        assert not types <= {"lookup", "master_detail"}, obj


def test_install_upgrade_and_uninstall_carry_the_app(instance: Instance, tmp_path: Path) -> None:
    (plan,) = install(instance, "core")
    assert "set app sales" in plan.steps
    tenant = instance.tenant("default")
    designer = Designer(tenant)
    app = designer.app("sales")
    assert app["pack"] == "core" and app["objects"][:2] == ["account", "contact"]
    with tenant.read() as conn:
        admin = principal_of(conn, "admin")
    # The tenant moves an object; a newer pack version relabels the app: both are kept.
    designer.update_app(admin, "sales", {"objects": ["contact", *[
        n for n in app["objects"] if n != "contact"]]})
    newer = tmp_path / "core"
    shutil.copytree(PACKS / "core", newer)
    manifest = yaml.safe_load((newer / "pack.yaml").read_text(encoding="utf-8"))
    manifest["version"] = "9.0.0"
    (newer / "pack.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True),
                                     encoding="utf-8")
    doc = yaml.safe_load((newer / "apps" / "sales.yaml").read_text(encoding="utf-8"))
    doc["label"] = {"zh": "销售", "en": "Sales"}
    (newer / "apps" / "sales.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                               encoding="utf-8")
    installer = Installer(tenant, admin)
    plan = installer.upgrade(newer)
    assert plan.applied and "change app sales" in plan.steps, plan.steps
    after = designer.app("sales")
    assert after["label"] == {"zh": "销售", "en": "Sales"}
    assert after["objects"][0] == "contact"
    plan = installer.uninstall("core")
    assert "delete app sales" in plan.steps
    assert designer.apps() == []


@pytest.mark.parametrize("name", SHIPPED)
def test_each_pack_app_opens_on_one_of_its_dashboards(name: str) -> None:
    pack = load_pack(PACKS / name)
    (app,) = pack.docs("apps").values()
    assert app.get("dashboard") in pack.docs("dashboards"), app
