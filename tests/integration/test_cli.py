"""The command line of DESIGN §9, run as a real process; ``serve`` answers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "crmforge.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items()  # English: the language these tests read
         if k not in ("CRMFORGE_DATABASE_URL", "LC_ALL", "LC_MESSAGES", "LANG")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**e, **(env or {})})


def test_init_creates_instance_tenant_and_admin(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    r = run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    assert r.returncode == 0, r.stderr
    assert (inst / "control.db").exists() and (inst / "tenants" / "default.db").exists()
    config = json.loads((inst / "crmforge.json").read_text())
    assert len(config["secret_key"]) == 64
    assert oct((inst / "crmforge.json").stat().st_mode)[-3:] == "600"
    again = run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    assert again.returncode != 0 and "already holds" in again.stderr


@pytest.mark.parametrize("password", ["short1", "onlyletters", "  spaced-1  "])
def test_init_refuses_weak_passwords_and_creates_nothing(tmp_path: Path, password: str) -> None:
    inst = tmp_path / "inst"
    r = run("init", "--instance", str(inst), "--admin-password", password)
    assert r.returncode == 2 and r.stderr.startswith("error: the password")
    assert not inst.exists()


def test_init_requires_a_password(tmp_path: Path) -> None:
    r = run("init", "--instance", str(tmp_path / "inst"))
    assert r.returncode != 0 and "--admin-password" in r.stderr


def test_tenant_create_and_bad_names(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    ok = run("tenant", "create", "acme-cn", "--instance", str(inst))
    assert ok.returncode == 0 and "admin password (shown once):" in ok.stdout
    for bad in ("Acme", "a b", "x;drop", "x-", "acme-cn", "a" * 41, "名"):
        r = run("tenant", "create", bad, "--instance", str(inst))
        assert r.returncode == 2 and r.stderr.startswith("error:"), bad
    listed = run("tenant", "list", "--instance", str(inst)).stdout.split()
    assert listed == ["acme-cn", "default"]
    missing = run("tenant", "create", "x", "--instance", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "not a CRMForge instance" in missing.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_http(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CRMFORGE_DATABASE_URL"}
    proc = subprocess.Popen([*CLI, "serve", "--instance", str(inst), "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        body = None
        for _ in range(100):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/v1/auth/token", method="POST",
                    data=json.dumps({"username": "admin", "password": "Very-good-1"}).encode(),
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    body = json.loads(resp.read())
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert body is not None and body["token"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get(url: str, tries: int = 150) -> bytes:
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bytes(resp.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.skipif(not Path("/proc").exists(), reason="counts processes in /proc")
def test_serve_with_workers_runs_processes_whose_metrics_add_up(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CRMFORGE_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    proc = subprocess.Popen([*CLI, "serve", "--instance", str(inst), "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        assert json.loads(_get(base + "/healthz")) == {"status": "ok"}
        for _ in range(30):
            _get(base + "/healthz")
        deadline = time.monotonic() + 10
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_children(proc.pid)) == 2
        metrics = _get(base + "/metrics").decode()
        line = next(m for m in metrics.splitlines() if m.startswith(
            'crmforge_http_requests_total{method="GET",route="/healthz",status="200"}'))
        assert float(line.rsplit(" ", 1)[1]) >= 31  # both workers' requests, added up
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_serve_refuses_a_setting_that_does_not_parse(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    r = run("serve", "--instance", str(inst), "--port", str(_free_port()),
            env={"CRMFORGE_TRUSTED_PROXIES": "several"})
    assert r.returncode == 2 and "CRMFORGE_TRUSTED_PROXIES" in r.stderr


def test_tenant_reindex_rebuilds_indexes_of_an_earlier_shape(tmp_path: Path) -> None:
    import sqlite3

    inst = tmp_path / "inst"
    assert run("init", "--instance", str(inst), "--admin-password", "Very-good-1").returncode == 0
    from crmforge.composition import wire
    from crmforge.runtime import Designer, Instance
    from crmforge.security import SYSTEM

    opened = wire(Instance.open(inst))
    try:
        Designer(opened.tenant("default")).create_object(SYSTEM, {"name": "item", "fields": [
            {"name": "title", "type": "text", "indexed": True}]})
    finally:
        opened.dispose()
    db = sqlite3.connect(inst / "tenants" / "default.db")
    name, = db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name = 'obj_item' AND sql LIKE '%(title%'").fetchone()
    db.executescript(f"DROP INDEX {name}; CREATE INDEX {name} ON obj_item (title);")
    db.close()
    r = run("tenant", "reindex", "--instance", str(inst))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"default: 1 indexes rebuilt ({name})"
    db = sqlite3.connect(inst / "tenants" / "default.db")
    columns = [row[2] for row in db.execute(f"PRAGMA index_info({name})")]
    db.close()
    assert columns == ["title", "id", "owner_id", "department_id"]
    again = run("tenant", "reindex", "--instance", str(inst), "--tenant", "default")
    assert again.stdout.strip() == "default: 0 indexes rebuilt"
    missing = run("tenant", "reindex", "--instance", str(inst), "--tenant", "nope")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


def _token(inst: Path, username: str, password: str) -> int:
    """The status of a sign-in with these credentials, straight against the instance."""
    from crmforge.runtime import Instance
    from crmforge.web import create_app

    opened = Instance.open(str(inst))
    try:
        client = create_app(opened, {"TESTING": True}).test_client()
        return client.post("/api/v1/auth/token",
                           json={"username": username, "password": password}).status_code
    finally:
        opened.dispose()


def test_user_add_reset_password_and_list(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    made = run("user", "add", "carol", "--instance", str(inst), "--password", "Carol-pass-1")
    assert made.returncode == 0, made.stderr
    assert "shown once" not in made.stdout and "Carol-pass-1" not in made.stdout
    assert _token(inst, "carol", "Carol-pass-1") == 200
    boss = run("user", "add", "boss", "--instance", str(inst), "--admin")
    assert boss.returncode == 0, boss.stderr
    generated = boss.stdout.split("password (shown once): ")[1].strip()
    assert _token(inst, "boss", generated) == 200
    listed = run("user", "list", "--instance", str(inst)).stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["admin", "boss", "carol"]
    assert listed[1].endswith("active, admin") and listed[2].endswith("\tactive")

    for _ in range(5):  # lock carol out
        assert _token(inst, "carol", "Wrong-pass-1") == 401
    assert "locked" in run("user", "list", "--instance", str(inst)).stdout
    reset = run("user", "reset-password", "carol", "--instance", str(inst),
                "--password", "Carol-new-2")
    assert reset.returncode == 0, reset.stderr
    assert _token(inst, "carol", "Carol-new-2") == 200  # unlocked, new password
    assert _token(inst, "carol", "Carol-pass-1") == 401


def test_user_refusals_change_nothing(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    run("init", "--instance", str(inst), "--admin-password", "Very-good-1")
    for args, words in ((("add", "admin", "--password", "Another-1"), "already exists"),
                        (("add", "weak", "--password", "short1"), "the password"),
                        (("add", " spaced", "--password", "Spaced-pass-1"), "username"),
                        (("reset-password", "ghost", "--password", "Ghost-pass-1"),
                         "no user named 'ghost'"),
                        (("reset-password", "admin", "--password", "onlyletters"),
                         "must mix letters"),
                        (("list", "--tenant", "nope"), "nope")):
        r = run("user", *args, "--instance", str(inst))
        assert r.returncode == 2 and r.stderr.startswith("error:"), (args, r.stderr)
        assert words in r.stderr, (args, r.stderr)
    listed = run("user", "list", "--instance", str(inst)).stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["admin"]
    assert _token(inst, "admin", "Very-good-1") == 200
    missing = run("user", "list", "--instance", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "not a CRMForge instance" in missing.stderr
