"""A tenant's metadata written out as a pack folder, so a partner can build a pack in the
designer and ship it. Ids and versions are left out (the installing tenant assigns its
own); the result loads with ``load_pack`` and installs on another tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import BadRequest, Conflict, NotFound
from ..metadata.packs import manifest_problems, raise_problems
from ..runtime.designer import Designer
from ..runtime.instance import Tenant
from .documents import comparable

#: Keys the platform sets, not the author.
_DROP = ("pack", "generated")


def export_pack(tenant: Tenant, out: str | Path, manifest: dict[str, Any],
                objects: Iterable[str] | None = None) -> Path:
    """Write the objects (default: all), the roles' permissions on them, their stored
    layouts, the dashboards and automation rules over them to ``out`` (a new or empty
    folder)."""
    raise_problems("pack.yaml", manifest_problems(manifest))
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise Conflict(f"{root} exists and is not an empty folder")
    designer = Designer(tenant)
    snap = designer.snapshot()
    names = list(objects) if objects is not None else list(snap.objects)
    for name in names:
        if snap.object(name) is None:
            raise NotFound(f"no object named '{name[:40]}'")
    if not names:
        raise BadRequest("the tenant has no objects to export")
    chosen = set(names)
    files: dict[str, Any] = {"pack.yaml": manifest}
    for name in names:
        files[f"objects/{name}.yaml"] = _clean(comparable(designer.object_doc(snap, name)))
        layout = designer.layout(snap, name)
        if not layout.get("generated"):
            files[f"layouts/{name}.yaml"] = _clean(comparable(layout))
    roles = {}
    for role in snap.data.get("roles", []):
        perms = {k: v for k, v in role.get("permissions", {}).items() if k in chosen}
        if perms:
            roles[role["name"]] = {**_clean(dict(role)), "permissions": perms}
    for name, doc in roles.items():
        if doc.get("reports_to") not in roles:
            doc.pop("reports_to", None)  # its superior is not part of the pack
        files[f"roles/{name}.yaml"] = doc
    for board in snap.data.get("dashboards", []):
        if all(c["object"] in chosen for c in board["charts"]):
            files[f"dashboards/{board['name']}.yaml"] = _clean(dict(board))
    for app in snap.data.get("apps", []):  # an app keeps the exported objects it lists
        listed = [n for n in app.get("objects", []) if n in chosen]
        if listed:
            files[f"apps/{app['name']}.yaml"] = {**_clean(dict(app)), "objects": listed}
    for auto in snap.data.get("automations", []):  # webhook secrets stay in the tenant
        made = {a["object"] for a in auto["actions"] if a["type"] == "create"}
        if {auto["object"], *made} <= chosen:
            doc = _clean(comparable(auto))
            doc["actions"] = [{k: v for k, v in a.items() if k != "secret"}
                              for a in doc["actions"]]
            files[f"automations/{auto['name']}.yaml"] = doc
    for rel, doc in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _DROP}
