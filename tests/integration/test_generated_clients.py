"""Clients generated from a real tenant's OpenAPI document, as integrators make them: the
Python client (openapi-python-client, from the dev extras) and TypeScript types
(openapi-typescript, from package.json's devDependencies), against a real ``crmforge
serve`` on 127.0.0.1 whose tenant has core, pharma and the objects of ``openapi_world``.

The generators must take the document without a warning (one setting: BPMN downloads are
XML, which openapi-python-client only reads as text when told so), the TypeScript types
must compile, and ``generated_client_smoke.py`` must get through an integration's first
steps with the generated Python client.

Skipped where the generators are not installed (``make setup`` installs both), except in
CI (``CI`` set), where that is a failure: CI must run it. SQLite only: the document is the
same on either database, and the record operations the smoke test uses are tested on both
elsewhere."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .openapi_world import OBJECTS

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
CLI = [sys.executable, "-m", "crmforge.cli"]
TENANT = "acme"
PASSWORD = "Acme-admin-pass-1"
#: How openapi-python-client is told to read XML answers (BPMN) as text.
GENERATOR_CONFIG = "content_type_overrides:\n  application/xml: text/plain\n"


def _missing_tools() -> list[str]:
    missing = []
    if importlib.util.find_spec("openapi_python_client") is None:
        missing.append("openapi-python-client (pip install -e '.[dev]')")
    if shutil.which("node") is None:
        missing.append("node")
    for tool in ("openapi-typescript", "tsc"):
        if not (NODE_BIN / tool).exists():
            missing.append(f"{tool} (npm ci)")
    return missing


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = _missing_tools()
    if missing and os.environ.get("CI"):
        pytest.fail("CI must generate clients, but these are missing: " + ", ".join(missing))
    if missing:
        pytest.skip("not installed: " + ", ".join(missing))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, method: str, path: str, body: Any = None,
          token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Tenant", TENANT)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            raw = res.read()
            return res.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _run(args: list[Any], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


@dataclass
class Served:
    url: str
    document: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``crmforge init``, ``tenant create acme``, ``pack install core`` and ``pharma`` into
    it, then ``crmforge serve``; the objects of ``openapi_world`` are added over HTTP and
    the admin's document is saved as ``doc.json``."""
    tmp = tmp_path_factory.mktemp("clients")
    env = {k: v for k, v in os.environ.items() if k != "CRMFORGE_DATABASE_URL"}
    env["CRMFORGE_LOG_LEVEL"] = "WARNING"
    inst = tmp / "instance"
    for args in (["init", "--instance", inst, "--admin-password", "Default-admin-pass-1"],
                 ["tenant", "create", TENANT, "--instance", inst, "--admin-password", PASSWORD],
                 ["pack", "install", "core", "--instance", inst, "--tenant", TENANT],
                 ["pack", "install", "pharma", "--instance", inst, "--tenant", TENANT]):
        r = _run([*CLI, *args], env=env, timeout=300)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--instance", str(inst), "--host", "127.0.0.1",
                             "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call(base, "GET", "/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            time.sleep(0.1)
        status, body = _call(base, "POST", "/api/v1/auth/token",
                             {"username": "admin", "password": PASSWORD})
        assert status == 200, body
        token = body["token"]
        for doc in OBJECTS:
            status, body = _call(base, "POST", "/api/v1/meta/objects", doc, token)
            assert status == 201, body
        status, document = _call(base, "GET", "/api/v1/openapi.json", token=token)
        assert status == 200, document
        assert "/api/v1/records/hospital" in document["paths"]
        path = tmp / "doc.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        yield Served(base, path)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_python_client_generates_cleanly_and_works(served: Served, tmp_path: Path) -> None:
    config = tmp_path / "generator.yaml"
    config.write_text(GENERATOR_CONFIG, encoding="utf-8")
    package = tmp_path / "crmforge_client"
    # ruff (a dev tool, beside this Python) formats the generated code, as it would for
    # an integrator; PATH finds it.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    r = _run([sys.executable, "-m", "openapi_python_client", "generate", "--path",
              served.document, "--output-path", package, "--meta", "none", "--config", config],
             env=env, timeout=600)
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    # Any warning means part of the API is missing from the client (an unreadable schema
    # drops every operation that uses it).
    for word in ("WARNING", "Warning", "Unable", "duplicate", "conflicting"):
        assert word not in output, output
    assert (package / "api" / "hospital_records" / "create_hospital_record.py").is_file()
    assert (package / "models" / "deal_record_status_choice.py").is_file()
    assert (package / "models" / "deal_input_record_status_choice.py").is_file()
    smoke = Path(__file__).with_name("generated_client_smoke.py")
    r = _run([sys.executable, smoke, tmp_path, served.url, TENANT, PASSWORD], timeout=300,
             cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "smoke: ok", r.stdout


def test_typescript_types_generate_and_compile(served: Served, tmp_path: Path) -> None:
    types = tmp_path / "types.d.ts"
    r = _run([NODE_BIN / "openapi-typescript", served.document, "-o", types], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    text = types.read_text(encoding="utf-8")
    for expected in ('"/api/v1/records/hospital": {', '"/api/v1/records/{object}/{id}/shares"',
                     "HospitalRecord: {", "DealRecord_StatusChoice:", "get_hospital_record_history:"):
        assert expected in text, expected
    r = _run([NODE_BIN / "tsc", "--noEmit", "--strict", types], timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
