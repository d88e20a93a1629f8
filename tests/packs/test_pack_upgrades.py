"""Pack upgrades on real edits, for every shipped pack: version 1 is installed and
customized as a tenant administrator would (a field's label renamed, a field added, a list
layout changed, a role's grant changed); version 2 changes the same areas and some others.
The upgrade reports exactly the areas both changed, takes the pack's changes elsewhere, and
keeps the tenant's values when told to (the conflict report names each)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from crmforge.core.errors import Conflict
from crmforge.installer import Installer
from crmforge.runtime import Instance
from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

from .conftest import PACKS, install

SHIPPED = ("core", "pharma", "securities", "exhibitions", "utilities")
TENANT_LABEL = {"zh": "租户改的名称", "en": "Renamed by the tenant"}
PACK_LABEL = {"zh": "包改的名称", "en": "Renamed by the pack"}


def _yaml(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _subject(pack: Path) -> tuple[str, str, str, str]:
    """An object of the pack with a layout, two plain text fields, and a role granting it
    (object, field the tenant renames, field only the pack renames, role)."""
    roles = {p.stem: _yaml(p) for p in sorted((pack / "roles").glob("*.yaml"))}
    for path in sorted((pack / "objects").glob("*.yaml")):
        doc = _yaml(path)
        texts = [f["name"] for f in doc["fields"] if f["type"] == "text"]
        role = next((r for r, d in roles.items() if doc["name"] in d.get("permissions", {})), None)
        if len(texts) >= 2 and (pack / "layouts" / path.name).is_file() and role:
            return doc["name"], texts[0], texts[1], role
    raise AssertionError(f"no object to customize in {pack.name}")


@pytest.mark.parametrize("name", SHIPPED)
def test_an_upgrade_merges_the_packs_changes_with_the_tenants(
        instance: Instance, client: FlaskClient, admin: dict[str, str], tmp_path: Path,
        name: str) -> None:
    v1 = tmp_path / "v1" / name
    shutil.copytree(PACKS / name, v1)
    obj, renamed, pack_only, role = _subject(v1)
    if name != "core":
        install(instance, "core")
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        installer = Installer(tenant, principal_of(conn, "admin"))
    assert installer.install(v1).applied

    # The tenant administrator customizes the pack through the API.
    doc = client.get(f"/api/v1/meta/objects/{obj}", headers=admin).json
    for f in doc["fields"]:
        if f["name"] == renamed:
            f["label"] = TENANT_LABEL
    r = client.patch(f"/api/v1/meta/objects/{obj}", json={"fields": doc["fields"]}, headers=admin)
    assert r.status_code == 200, r.json
    r = client.post(f"/api/v1/meta/objects/{obj}/fields", headers=admin, json={
        "name": "tenant_note", "type": "text", "label": {"zh": "租户备注", "en": "Tenant note"}})
    assert r.status_code == 201, r.json
    layout = client.get(f"/api/v1/meta/objects/{obj}/layout", headers=admin).json
    tenant_columns = list(reversed(layout["list"]["columns"]))
    r = client.put(f"/api/v1/meta/objects/{obj}/layout", headers=admin,
                   json={**{k: v for k, v in layout.items() if k in ("form", "list", "roles")},
                         "list": {**layout["list"], "columns": tenant_columns}})
    assert r.status_code == 200, r.json
    role_doc = client.get(f"/api/v1/admin/roles/{role}", headers=admin).json
    shipped_scope = role_doc["permissions"][obj].get("scope")
    tenant_scope = "department" if shipped_scope == "all" else "all"  # a change, either way
    tenant_grant = {**role_doc["permissions"][obj], "scope": tenant_scope}
    r = client.patch(f"/api/v1/admin/roles/{role}", headers=admin, json={
        "permissions": {**role_doc["permissions"], obj: tenant_grant}})
    assert r.status_code == 200, r.json

    # Version 2 changes the same areas, and adds and renames what the tenant left alone.
    v2 = tmp_path / "v2" / name
    shutil.copytree(v1, v2)
    manifest = _yaml(v2 / "pack.yaml")
    manifest["version"] = "9.0.0"
    _write(v2 / "pack.yaml", manifest)
    obj_doc = _yaml(v2 / "objects" / f"{obj}.yaml")
    for f in obj_doc["fields"]:
        if f["name"] == renamed:
            f["label"] = PACK_LABEL
        elif f["name"] == pack_only:
            f["label"] = {"zh": "包的新标签", "en": "New label from the pack"}
    obj_doc["fields"].append({"name": "pack_extra", "type": "text",
                              "label": {"zh": "包的新字段", "en": "Field from the pack"}})
    _write(v2 / "objects" / f"{obj}.yaml", obj_doc)
    layout_doc = _yaml(v2 / "layouts" / f"{obj}.yaml")
    pack_columns = [*layout_doc["list"]["columns"][:1], "pack_extra"]
    layout_doc["list"]["columns"] = pack_columns
    _write(v2 / "layouts" / f"{obj}.yaml", layout_doc)
    role_file = _yaml(v2 / "roles" / f"{role}.yaml")
    grant = role_file["permissions"][obj]
    role_file["permissions"][obj] = {**grant, "scope": "none"} if isinstance(grant, dict) else grant
    _write(v2 / "roles" / f"{role}.yaml", role_file)

    preview = installer.upgrade(v2, dry_run=True)
    found = {(c["document"], c["path"]) for c in preview.conflicts}
    assert (f"object {obj}", f"fields.{renamed}") in found or \
        any(d == f"object {obj}" and p.startswith(f"fields.{renamed}") for d, p in found), found
    assert any("layout" in d and obj in d for d, _ in found), found
    assert any("role" in d and role in d for d, _ in found), found
    assert not any(p.startswith(f"fields.{pack_only}") for _, p in found), found
    with pytest.raises(Conflict):
        installer.upgrade(v2)
    assert installer.installed()[-1]["version"] != "9.0.0" or name == "core"

    plan = installer.upgrade(v2, on_conflict="tenant")
    assert plan.applied
    snap = Designer(tenant).snapshot()
    o = snap.object(obj)
    assert o is not None
    assert o.field(renamed).options["label"] == TENANT_LABEL  # kept
    assert o.field(pack_only).options["label"]["en"] == "New label from the pack"  # taken
    assert o.field("pack_extra") is not None and o.field("tenant_note") is not None
    layout = client.get(f"/api/v1/meta/objects/{obj}/layout", headers=admin).json
    assert layout["list"]["columns"] == tenant_columns
    role_now = client.get(f"/api/v1/admin/roles/{role}", headers=admin).json
    assert role_now["permissions"][obj]["scope"] == tenant_scope
    versions = {p["name"]: p["version"] for p in installer.installed()}
    assert versions[name] == "9.0.0"
