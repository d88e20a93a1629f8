"""Packs over HTTP (DESIGN §9: ``/api/v1/admin/packs``), for administrators.

The API installs packs by name from the instance's pack folders, never from a path the
client names: a request must not make the server read arbitrary folders.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from ...core.errors import BadRequest
from ...installer import CHOICES, Installer, available
from ...runtime import Instance
from ...security import engine as permissions
from ..context import current_principal, current_tenant
from .util import flag, json_body

bp = Blueprint("packs", __name__)


def _installer() -> Installer:
    p = current_principal()
    permissions.check_admin(p)
    inst: Instance = current_app.extensions["crmforge"]
    return Installer(current_tenant(), p, inst.path)


def _name(body: Any) -> str:
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise BadRequest("send {\"name\": \"<pack name>\"}; packs are installed by name")
    return name


@bp.get("/admin/packs")
def list_packs() -> dict[str, Any]:
    """Installed packs, and with ``?available=true`` the packs that can be installed."""
    installer = _installer()
    out: dict[str, Any] = {"items": installer.installed()}
    if flag("available"):
        out["available"] = [{"name": p.name, "version": p.version, "label": p.manifest["label"],
                             "description": p.manifest.get("description"),
                             "dependencies": p.manifest.get("dependencies") or {}}
                            for p in available(installer.instance_dir)]
    return out


@bp.post("/admin/packs")
def install_pack() -> tuple[dict[str, Any], int]:
    """Install a pack by name (``?dry_run=true``: the plan only); ``"sample_users": true``
    also makes its sample organisation, whose shared password the answer shows once."""
    installer = _installer()
    body = json_body()
    sample = body.get("sample_users", False) if isinstance(body, dict) else False
    if not isinstance(sample, bool):
        raise BadRequest("sample_users is true or false")
    plan = installer.install(_name(body), dry_run=flag("dry_run"), sample_users=sample)
    return plan.to_json(), 200 if not plan.applied else 201


@bp.post("/admin/packs/<name>/upgrade")
def upgrade_pack(name: str) -> dict[str, Any]:
    installer = _installer()
    choice = request.args.get("on_conflict", "report")
    if choice not in CHOICES:
        raise BadRequest(f"on_conflict is one of {', '.join(CHOICES)}")
    return installer.upgrade(_name({"name": name}), dry_run=flag("dry_run"),
                             on_conflict=choice).to_json()


@bp.delete("/admin/packs/<name>")
def uninstall_pack(name: str) -> dict[str, Any]:
    """Uninstall: the pack's objects and records go to the recycle bin."""
    return _installer().uninstall(_name({"name": name}), dry_run=flag("dry_run")).to_json()
