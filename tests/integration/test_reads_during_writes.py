"""Reads never take the write lock: while a long write holds the SQLite database (a big
import, a type change on a big table), record reads, lists and exports keep answering,
and their access audit is written once the lock is gone; writes answer 503 with a clear
message and change nothing. On a full disk, reads go on and writes answer 503 too.

The long write lasts ``CRMFORGE_LONG_WRITE_S`` seconds (default 3; the soak run sets 60).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.runtime import Instance, RecordService, access_log
from crmforge.security import SYSTEM
from crmforge.security.tables import access_audit
from crmforge.web import create_app

from ..conftest import ADMIN_PASSWORD
from .conftest import error_of, sign_in

LONG_WRITE_S = float(os.environ.get("CRMFORGE_LONG_WRITE_S", "3"))
THING = {"name": "thing", "fields": [{"name": "title", "type": "text", "required": True}]}


def _sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the write lock that reads used to queue behind is SQLite's")


@pytest.fixture
def busy_instance(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[Instance]:
    """An instance whose writes give up after one second of waiting for the lock."""
    _sqlite_only(backend)
    monkeypatch.setenv("CRMFORGE_SQLITE_BUSY_TIMEOUT", "1")
    inst = Instance.init(tmp_path / "instance", ADMIN_PASSWORD)
    try:
        yield inst
    finally:
        inst.dispose()


def _world(inst: Instance) -> tuple[Any, dict[str, str], list[int]]:
    from crmforge.runtime import Designer
    tenant = inst.tenant("default")
    Designer(tenant).create_object(SYSTEM, THING)
    ids = RecordService(tenant).create_many(SYSTEM, "thing",
                                            [{"title": f"t{i}"} for i in range(20)])
    client = create_app(inst, {"TESTING": True}).test_client()
    return client, sign_in(client), ids


def _audit_rows(inst: Instance) -> int:
    with inst.tenant("default").read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(access_audit)).scalar())


def test_reads_keep_answering_while_a_long_write_holds_the_database(busy_instance):
    client, h, ids = _world(busy_instance)
    before = _audit_rows(busy_instance)
    db = busy_instance.path / "tenants" / "default.db"
    holder = sqlite3.connect(db, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE obj_thing SET title = title || '' WHERE id = ?", (ids[0],))
    answers: list[int] = []
    try:
        deadline = time.monotonic() + LONG_WRITE_S
        while time.monotonic() < deadline:
            for url in (f"/api/v1/records/thing/{ids[len(answers) % len(ids)]}",
                        "/api/v1/records/thing?limit=5&total=true",
                        "/api/v1/records/thing/export"):
                answers.append(client.get(url, headers=h).status_code)
        # A write waits its busy timeout (1 s here), then answers 503 and changes nothing.
        started = time.monotonic()
        r = client.post("/api/v1/records/thing", headers=h, json={"title": "during"})
        assert r.status_code == 503, r.json
        assert error_of(r)["code"] == "unavailable"
        assert "busy with a long change" in error_of(r)["message"]
        assert time.monotonic() - started < 10
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert answers and set(answers) == {200}, answers
    assert len(answers) >= 9
    # Nothing was lost: the audit entries wait and land once the lock is gone.
    access_log.flush_all()
    assert _audit_rows(busy_instance) - before == len(answers)
    listed = client.get("/api/v1/records/thing?title=during", headers=h).json["items"]
    assert listed == []
    assert client.post("/api/v1/records/thing", headers=h,
                       json={"title": "after"}).status_code == 201


def test_a_clean_shutdown_loses_no_audit_entry(busy_instance):
    client, h, ids = _world(busy_instance)
    before = _audit_rows(busy_instance)
    for rid in ids[:7]:
        assert client.get(f"/api/v1/records/thing/{rid}", headers=h).status_code == 200
    pending = busy_instance.tenant("default").access_log.pending
    busy_instance.dispose()  # what serve's shutdown and the interpreter's exit do
    again = Instance.open(busy_instance.path)
    try:
        with again.tenant("default").read() as conn:
            rows = conn.execute(sa.select(access_audit.c.record_ids)
                                .order_by(access_audit.c.id)).scalars().all()
    finally:
        again.dispose()
    assert len(rows) - before == 7 and pending <= 7
    assert rows[-7:] == [str(rid) for rid in ids[:7]]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB file system of its own (tmpfs), for filling up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    target = tmp_path / "small"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(target)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode()[:200]}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_on_a_full_disk_reads_go_on_and_writes_answer_503(backend, small_disk, monkeypatch):
    _sqlite_only(backend)
    monkeypatch.setenv("CRMFORGE_SQLITE_BUSY_TIMEOUT", "1")
    inst = Instance.init(small_disk / "instance", ADMIN_PASSWORD)
    try:
        client, h, ids = _world(inst)
        filler = small_disk / "filler"
        with open(filler, "wb") as out:  # fill every byte left
            chunk = b"\0" * 65536
            try:
                while True:
                    out.write(chunk)
                    out.flush()
            except OSError:
                pass
        statuses = [client.get(f"/api/v1/records/thing/{rid}", headers=h).status_code
                    for rid in ids[:5]]
        statuses.append(client.get("/api/v1/records/thing?limit=50", headers=h).status_code)
        assert statuses == [200] * 6
        big = {"title": "x" * 250}
        refused = [client.post("/api/v1/records/thing", headers=h, json=big)
                   for _ in range(200)]
        codes = {r.status_code for r in refused}
        assert codes == {503}, [r.json for r in refused]
        assert "disk is full" in error_of(refused[0])["message"]
        filler.unlink()
        assert client.post("/api/v1/records/thing", headers=h,
                           json={"title": "room again"}).status_code == 201
        access_log.flush_all()
    finally:
        inst.dispose()


def test_the_flusher_writes_without_being_asked(busy_instance):
    client, h, ids = _world(busy_instance)
    before = _audit_rows(busy_instance)
    assert client.get(f"/api/v1/records/thing/{ids[0]}", headers=h).status_code == 200
    deadline = time.monotonic() + 10 * access_log.FLUSH_EVERY
    while _audit_rows(busy_instance) == before and time.monotonic() < deadline:
        time.sleep(access_log.FLUSH_EVERY / 4)
    assert _audit_rows(busy_instance) == before + 1
    assert any(t.name == "crmforge-audit" for t in threading.enumerate())


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A folder and a read-only view of it (a read-only bind mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root")
    source, view = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    view.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode()[:200]}")
    try:
        yield source, view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_on_read_only_storage_reads_go_on_and_writes_answer_503(backend, read_only_view):
    _sqlite_only(backend)
    source, view = read_only_view
    inst = Instance.init(source / "instance", ADMIN_PASSWORD)
    _, _, ids = _world(inst)
    inst.dispose()
    done = subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make the bind mount read-only: {done.stderr.decode()[:200]}")
    ro = Instance.open(view / "instance")
    try:
        client = create_app(ro, {"TESTING": True}).test_client()
        r = client.post("/api/v1/auth/token", json={"username": "admin",
                                                     "password": ADMIN_PASSWORD})
        assert r.status_code == 503  # signing in writes a token: refused, clearly
        assert "read-only" in error_of(r)["message"]
        from crmforge.security import accounts
        with ro.tenant("default").read() as conn:
            admin = accounts.principal_of(conn, "admin")
        svc = RecordService(ro.tenant("default"))
        assert svc.get(admin, "thing", ids[0])["title"] == "t0"
        from crmforge.core.filters import parse_list_query
        assert len(svc.list(admin, "thing", parse_list_query([("limit", "50")]))["items"]) == 20
        from crmforge.core.errors import Unavailable
        with pytest.raises(Unavailable, match="read-only"):
            svc.create(admin, "thing", {"title": "nope"})
    finally:
        ro.dispose()
