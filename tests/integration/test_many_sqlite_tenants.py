"""Many tenants on SQLite: open tenants live in a bounded cache (the least recently used
are closed, their pending audit written first), so 1,000 tenants each serving requests
stay under 1,024 file descriptors. ``CRMFORGE_SQLITE_TENANTS`` sets the number (default
1,000)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmforge.runtime import Instance
from crmforge.security.tables import access_audit
from crmforge.web import create_app

from ..conftest import ADMIN_PASSWORD

TENANTS = int(os.environ.get("CRMFORGE_SQLITE_TENANTS", "1000"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts /proc/self/fd")
def test_a_thousand_tenants_stay_under_1024_file_descriptors(tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.delenv("CRMFORGE_MAX_OPEN_TENANTS", raising=False)
    inst = Instance.init(tmp_path / "instance", ADMIN_PASSWORD)
    try:
        names = ["default", *(f"t{i:04d}" for i in range(1, TENANTS))]
        for name in names[1:]:
            inst.create_tenant(name, ADMIN_PASSWORD)
        app = create_app(inst, {"TESTING": True,
                                "CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS": "100000 per minute"})
        client = app.test_client()
        start = _fds()
        peak = start
        for name in names:
            r = client.post("/api/v1/auth/token", headers={"X-Tenant": name},
                            json={"username": "admin", "password": ADMIN_PASSWORD})
            assert r.status_code == 200, (name, r.json)
            h = {"X-Tenant": name, "Authorization": "Bearer " + r.json["token"]}
            assert client.get("/api/v1/admin/users", headers=h).status_code == 200
            assert client.get("/api/v1/recycle-bin", headers=h).status_code == 200
            peak = max(peak, _fds())
        assert peak < 1024, peak
        assert peak - start < 600, (start, peak)  # bounded by open tenants, not by tenants
        # A tenant closed by the cache reopens on its next request, with its data.
        first = names[0]
        r = client.post("/api/v1/auth/token", headers={"X-Tenant": first},
                        json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200
    finally:
        inst.dispose()


def test_a_closed_tenant_keeps_its_pending_audit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRMFORGE_MAX_OPEN_TENANTS", "2")
    inst = Instance.init(tmp_path / "instance", ADMIN_PASSWORD)
    try:
        from crmforge.runtime import Designer, RecordService
        from crmforge.security import SYSTEM, accounts
        tenant = inst.tenant("default")
        Designer(tenant).create_object(SYSTEM, {"name": "thing", "fields": [
            {"name": "title", "type": "text"}]})
        rid = RecordService(tenant).create(SYSTEM, "thing", {"title": "x"})["id"]
        with tenant.read() as conn:
            admin = accounts.principal_of(conn, "admin")
        RecordService(tenant).get(admin, "thing", rid)
        assert tenant.access_log.pending == 1
        for i in range(3):  # open enough tenants to close "default"
            inst.create_tenant(f"other{i}", ADMIN_PASSWORD)
        again = inst.tenant("default")
        assert again is not tenant
        with again.read() as conn:
            rows = conn.execute(sa.select(access_audit.c.record_ids)).scalars().all()
        assert rows == [str(rid)]
    finally:
        inst.dispose()
