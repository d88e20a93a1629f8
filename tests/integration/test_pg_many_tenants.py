"""PostgreSQL for 1,000 tenants: one shared pool per process, the tenant chosen per
transaction (``set_config('search_path', ..., true)``), so a server whose connection
limit is 100 serves random-tenant load over 1,000 tenants without a single error, and
idle connections go back to the pool's size.

The server's limit is that of a role made for the test (``CONNECTION LIMIT``), so the
suite's own server can stay shared. ``CRMFORGE_PG_TENANTS`` sets the number of tenants
(default 1,000) and ``CRMFORGE_PG_REQUESTS`` the number of requests (default 2,000).
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from crmforge.runtime import Instance
from crmforge.web import create_app

from ..conftest import ADMIN_PASSWORD, PG_URL

TENANTS = int(os.environ.get("CRMFORGE_PG_TENANTS", "1000"))
REQUESTS = int(os.environ.get("CRMFORGE_PG_REQUESTS", "2000"))
CONNECTION_LIMIT = 100
THREADS = 8

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs the PostgreSQL test server")


@pytest.fixture
def limited_url() -> Iterator[str]:
    """The test server, as a role that may hold at most CONNECTION_LIMIT connections."""
    assert PG_URL is not None
    role = "lim_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL)
    db = make_url(PG_URL).database
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT {CONNECTION_LIMIT}")
        conn.exec_driver_sql(f'GRANT CREATE, CONNECT ON DATABASE "{db}" TO {role}')
    try:
        yield make_url(PG_URL).set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 f"WHERE usename = '{role}'")
            schemas = conn.execute(sa.text(
                "SELECT nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
                "WHERE r.rolname = :role"), {"role": role}).scalars().all()
        for schema in schemas:  # one transaction each: 1,000 at once exhaust the lock table
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        with admin.begin() as conn:
            conn.exec_driver_sql(f'REVOKE ALL ON DATABASE "{db}" FROM {role}')
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def _connections(role_url: str) -> int:
    assert PG_URL is not None
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = :u"),
                {"u": make_url(role_url).username}).scalar_one())
    finally:
        engine.dispose()


def test_a_thousand_tenants_share_one_pool(tmp_path: Path, limited_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFORGE_PG_POOL", "5,10")
    inst = Instance.init(tmp_path / "instance", ADMIN_PASSWORD, database_url=limited_url,
                         schema_prefix="m" + secrets.token_hex(3) + "_")
    try:
        names = [f"t{i:04d}" for i in range(1, TENANTS)]
        errors: list[BaseException] = []

        def create(chunk: list[str]) -> None:
            try:
                for name in chunk:
                    inst.create_tenant(name, ADMIN_PASSWORD)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=create, args=(names[i::4],)) for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors[:3]
        everyone = ["default", *names]
        assert len(inst.tenant_names()) == TENANTS
        app = create_app(inst, {"TESTING": True,
                                "CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS": "100000 per minute"})
        tokens: dict[str, str] = {}
        lock = threading.Lock()
        statuses: list[int] = []
        peak = [0]

        def load(seed: int, count: int) -> None:
            rnd = random.Random(seed)
            client = app.test_client()
            for _ in range(count):
                name = rnd.choice(everyone)
                with lock:
                    token = tokens.get(name)
                if token is None:
                    r = client.post("/api/v1/auth/token", headers={"X-Tenant": name},
                                    json={"username": "admin", "password": ADMIN_PASSWORD})
                    statuses.append(r.status_code)
                    if r.status_code != 200:
                        continue
                    token = r.json["token"]  # type: ignore[index]
                    with lock:
                        tokens[name] = token
                headers = {"X-Tenant": name, "Authorization": f"Bearer {token}"}
                url = rnd.choice(["/api/v1/meta/objects", "/api/v1/admin/users",
                                  "/api/v1/recycle-bin"])
                statuses.append(client.get(url, headers=headers).status_code)

        loaders = [threading.Thread(target=load, args=(i, REQUESTS // THREADS))
                   for i in range(THREADS)]
        for t in loaders:
            t.start()
        while any(t.is_alive() for t in loaders):
            peak[0] = max(peak[0], _connections(limited_url))
            for t in loaders:
                t.join(timeout=0.2)
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert len(statuses) >= REQUESTS
        # One pool for the process: never more than size + overflow connections, whatever
        # the number of tenants touched; idle ones go back down to the pool's size.
        assert peak[0] <= 15, peak
        assert len(tokens) > min(TENANTS, REQUESTS) // 3
        assert _connections(limited_url) <= 5
    finally:
        inst.dispose()
    # The server lists a backend until it has exited, a moment after its client closed.
    deadline = time.monotonic() + 10
    while _connections(limited_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _connections(limited_url) == 0
