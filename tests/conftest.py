"""Shared fixtures. Every integration test runs on SQLite and, when a PostgreSQL server is
configured (``CRMFORGE_TEST_PG_URL``, set by ``scripts/pg-test-server``), on PostgreSQL too."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

# Cheap password hashing for the thousands of users the suite creates and signs in (set
# before crmforge is imported; stored hashes carry their cost, so nothing else changes).
os.environ.setdefault("CRMFORGE_ARGON2_COST", "1,1024,1")

from crmforge.composition import wire
from crmforge.runtime import Instance, jobs

ADMIN_PASSWORD = "Admin-pass-123"
PG_URL = os.environ.get("CRMFORGE_TEST_PG_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# Property tests search new examples on every developer run; CI (HYPOTHESIS_PROFILE=ci)
# replays a fixed search so that a landing is decided by the change, not by luck. Examples
# found locally are pinned with @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CRMFORGE_REQUIRE_PG") == "1" and not PG_URL:
        raise pytest.UsageError("CRMFORGE_REQUIRE_PG=1 but CRMFORGE_TEST_PG_URL is not set")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def fresh_instance(root: Path, backend: str) -> Iterator[Instance]:
    """An instance with the ``default`` tenant and its ``admin`` user, on SQLite files
    under ``root`` or in private PostgreSQL schemas, dropped afterwards."""
    if backend == "postgresql":
        prefix = "t" + secrets.token_hex(4) + "_"
        inst = Instance.init(root / "instance", ADMIN_PASSWORD, database_url=PG_URL,
                             schema_prefix=prefix)
    else:
        inst = Instance.init(root / "instance", ADMIN_PASSWORD, database_url=None)
    wire(inst)  # as every server and command wires it
    try:
        yield inst
    finally:
        # A job still running (an automation after the test's last write) would hold the
        # schema's locks while it is dropped: PostgreSQL then reports a deadlock.
        jobs.wait_local(60)
        schemas = inst.schemas()
        inst.dispose()
        if schemas and PG_URL:
            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                for s in schemas:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{s}" CASCADE'))
            engine.dispose()


@pytest.fixture
def instance(tmp_path: Path, backend: str) -> Iterator[Instance]:
    """A fresh instance with the ``default`` tenant and its ``admin`` user."""
    with fresh_instance(tmp_path, backend) as inst:
        yield inst


@pytest.fixture
def tenant(instance: Instance):  # type: ignore[no-untyped-def]
    return instance.tenant("default")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real Redis on 127.0.0.1 for this test (no persistence), stopped afterwards.
    Skipped where Redis is not installed, unless CRMFORGE_REQUIRE_REDIS=1 (CI)."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server") or ("/usr/bin/redis-server"
                                               if Path("/usr/bin/redis-server").exists() else None)
    if binary is None:
        if os.environ.get("CRMFORGE_REQUIRE_REDIS") == "1":
            pytest.fail("CRMFORGE_REQUIRE_REDIS=1 but redis-server is not installed")
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
