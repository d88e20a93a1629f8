"""``/api/v1/admin/packs`` and ``crmforge pack``: install by name, dry run, upgrade,
uninstall, refusals; the command line as a real process."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import error_of, sign_in
from .test_cli import run
from .test_installer import write_pack


@pytest.fixture
def pack_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "packs"
    write_pack(folder).rename(folder / "demo")
    monkeypatch.setenv("CRMFORGE_PACK_PATH", str(folder))
    return folder


def test_install_upgrade_uninstall_over_http(client, admin, pack_path: Path) -> None:  # type: ignore[no-untyped-def]
    listed = client.get("/api/v1/admin/packs?available=true", headers=admin)
    assert listed.status_code == 200 and listed.json["items"] == []
    assert "demo" in {p["name"] for p in listed.json["available"]}
    plan = client.post("/api/v1/admin/packs?dry_run=true", headers=admin, json={"name": "demo"})
    assert plan.status_code == 200 and plan.json["applied"] is False
    assert client.get("/api/v1/meta/objects/account", headers=admin).status_code == 404
    done = client.post("/api/v1/admin/packs", headers=admin, json={"name": "demo"})
    assert done.status_code == 201 and done.json["records"] == {"account": 2, "deal": 3}
    assert client.get("/api/v1/records/deal", headers=admin).json["items"]
    again = client.post("/api/v1/admin/packs", headers=admin, json={"name": "demo"})
    assert again.status_code == 409
    same = client.post("/api/v1/admin/packs/demo/upgrade", headers=admin)
    assert same.status_code == 200 and same.json["from_version"] == "1.0.0"
    actions = {(i["action"], i["target"]) for i in
               client.get("/api/v1/admin/audit/admin", headers=admin).json["items"]}
    assert ("install pack", "demo 1.0.0") in actions
    gone = client.delete("/api/v1/admin/packs/demo", headers=admin)
    assert gone.status_code == 200 and gone.json["applied"] is True
    assert client.get("/api/v1/records/deal", headers=admin).status_code == 404


def test_packs_are_for_admins_and_by_name_only(client, admin, pack_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/admin/users", headers=admin, json={
        "username": "ann", "password": "Ann-pass-1234", "roles": []}).status_code == 201
    ann = sign_in(client, username="ann", password="Ann-pass-1234")
    assert client.post("/api/v1/admin/packs", headers=ann, json={"name": "demo"}).status_code == 403
    for bad in ({"name": str(pack_path / "demo")}, {"name": "../demo"}, {}, {"name": 3}):
        r = client.post("/api/v1/admin/packs", headers=admin, json=bad)
        assert r.status_code == 400, bad
    missing = client.post("/api/v1/admin/packs", headers=admin, json={"name": "nope"})
    assert missing.status_code == 404 and "no pack named" in error_of(missing)["message"]
    assert client.delete("/api/v1/admin/packs/demo", headers=admin).status_code == 404


def test_pack_command_line(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    assert run("init", "--instance", str(inst), "--admin-password", "Very-good-1").returncode == 0
    pack = write_pack(tmp_path / "src")
    dry = run("pack", "install", str(pack), "--instance", str(inst), "--tenant", "default",
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "create_table obj_account" in dry.stdout
    assert run("pack", "list", "--instance", str(inst)).stdout == ""
    done = run("pack", "install", str(pack), "--instance", str(inst), "--tenant", "default")
    assert done.returncode == 0 and "did: add 3 deal records" in done.stdout
    listed = run("pack", "list", "--instance", str(inst), "--tenant", "default")
    assert listed.stdout.startswith("demo\t1.0.0\tDemo")
    refused = run("pack", "uninstall", "nothing", "--instance", str(inst), "--tenant", "default")
    assert refused.returncode != 0 and "not installed" in refused.stderr
    broken = write_pack(tmp_path / "bad", name="bad")
    (broken / "objects" / "deal.yaml").write_text("name: [deal\n")
    bad = run("pack", "install", str(broken), "--instance", str(inst))
    assert bad.returncode != 0 and "objects/deal.yaml: line" in bad.stderr
    out = tmp_path / "exported"
    exported = run("pack", "export", "mine", "--instance", str(inst), "--out", str(out))
    assert exported.returncode == 0 and (out / "objects" / "deal.yaml").is_file()
