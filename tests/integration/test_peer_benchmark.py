"""The peer benchmark runner against a real ``crmforge serve``: every workload answers.

Tiny numbers (50 records, 2 clients, 1 second a workload): this checks that the runner
and the CRMForge adapter still speak the API, not how fast anything is.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Very-good-1"
SCOPED_PASSWORD = "Scoped-pass-1"
WORKLOADS = {"get_one", "filtered_list", "scoped_list", "create", "add_field_reading"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k != "CRMFORGE_DATABASE_URL"}
    env["CRMFORGE_LOG_LEVEL"] = "WARNING"
    inst = tmp_path / "inst"
    subprocess.run([sys.executable, "-m", "crmforge.cli", "init", "--instance", str(inst),
                    "--admin-password", PASSWORD], check=True, env=env, timeout=60,
                   capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "crmforge.cli", "serve", "--instance", str(inst),
                             "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _call(base, "GET", "/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _runner(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "benchmarks.peer", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)


def test_every_workload_runs_without_errors(server: str, tmp_path: Path) -> None:
    token = _call(server, "POST", "/api/v1/auth/token",
                  {"username": "admin", "password": PASSWORD})["token"]
    _call(server, "POST", "/api/v1/admin/users",
          {"username": "scoped", "password": SCOPED_PASSWORD}, token)
    out = tmp_path / "peer.json"
    r = _runner("--target", "crmforge", "--url", server, "--user", "admin", "--password", PASSWORD,
                "--scoped-user", "scoped", "--scoped-password", SCOPED_PASSWORD,
                "--clients", "2", "--seconds", "1", "--records", "50", "--out", str(out))
    assert r.returncode == 0, r.stderr + r.stdout
    doc = json.loads(out.read_text())
    assert set(doc["workloads"]) == WORKLOADS
    for name, w in doc["workloads"].items():
        assert w["requests"] > 0 and w["errors"] == 0, (name, w)
        assert w["latency_ms"]["p50"] is None or w["latency_ms"]["p50"] > 0
    # The restricted user sees only the records it created (a tenth of them).
    assert (doc["workloads"]["scoped_list"]["details"]["rows_per_page_mean"]
            < doc["workloads"]["filtered_list"]["details"]["rows_per_page_mean"])
    assert doc["workloads"]["add_field_reading"]["details"]["field_changes"] == 1
    for name in WORKLOADS:
        assert name in r.stdout
    # What setup made is gone: no object, and the user is back to no roles.
    assert _call(server, "GET", "/api/v1/meta/objects", token=token)["items"] == []
    assert _call(server, "GET", "/api/v1/admin/users/scoped", token=token)["roles"] == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "file:///etc/passwd", "http://u:p@127.0.0.1/",
                                 "127.0.0.1:5000", "http://127.0.0.1/?x=1"])
def test_only_plain_http_urls_are_accepted(url: str) -> None:
    r = _runner("--target", "crmforge", "--url", url, "--user", "admin", "--password", "x")
    assert r.returncode == 2 and "--url" in r.stderr, r.stderr
