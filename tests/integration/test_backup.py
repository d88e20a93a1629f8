"""Backups and restores (``crmforge backup`` / ``crmforge restore``) on SQLite and
PostgreSQL: a backup taken under writers is consistent and verified, a restore gives back
exactly the backup's rows, and a damaged or mismatched backup changes nothing."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core.errors import BackupFailed, BadRequest, Conflict, NotFound
from crmforge.runtime import Designer, Instance, RecordService
from crmforge.runtime import backup as backups
from crmforge.security.principal import SYSTEM

from ..conftest import ADMIN_PASSWORD, PG_URL, fresh_instance

ITEM: dict[str, Any] = {"name": "item", "fields": [
    {"name": "code", "type": "text"},
    {"name": "amount", "type": "decimal", "scale": 2}]}
PART: dict[str, Any] = {"name": "part", "fields": [
    {"name": "item", "type": "master_detail", "target": "item"},
    {"name": "weight", "type": "decimal", "scale": 2}]}
TOTAL: dict[str, Any] = {"name": "total_weight", "type": "rollup", "function": "sum",
                         "child": "part", "field": "weight"}


def _world(inst: Instance, name: str = "default", items: int = 200) -> None:
    """Items with parts, and a roll-up on the item: one write changes two tables, so a torn
    snapshot would show an item whose total is not the sum of its parts."""
    tenant = inst.tenant(name)
    designer = Designer(tenant)
    designer.background_backfill = False
    designer.create_object(SYSTEM, ITEM)
    designer.create_object(SYSTEM, PART)
    designer.add_field(SYSTEM, "item", TOTAL)
    records = RecordService(tenant)
    ids = records.create_many(SYSTEM, "item", [{"code": f"c{i}", "amount": i}
                                               for i in range(items)])
    records.create_many(SYSTEM, "part", [{"item": rid, "weight": i % 5 + 1}
                                         for i, rid in enumerate(ids)])


class Writer(threading.Thread):
    """Writes items, parts and part updates until stopped (at most 500 rounds or 20
    seconds), each round three transactions touching four tables."""

    def __init__(self, inst: Instance, name: str = "default") -> None:
        super().__init__(daemon=True)
        self.records = RecordService(inst.tenant(name))
        self.stopped = threading.Event()
        self.rounds = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        deadline = time.monotonic() + 20
        try:
            while not self.stopped.is_set() and self.rounds < 500 and time.monotonic() < deadline:
                item = self.records.create(SYSTEM, "item", {"code": f"w{self.rounds}",
                                                            "amount": self.rounds})
                part = self.records.create(SYSTEM, "part", {"item": item["id"], "weight": 1})
                self.records.update(SYSTEM, "part", part["id"],
                                    {"weight": self.rounds % 9 + 1, "version": part["version"]})
                self.rounds += 1
        except BaseException as exc:
            self.errors.append(exc)

    def wait_for(self, rounds: int) -> None:
        deadline = time.monotonic() + 30
        while self.rounds < rounds and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.rounds >= rounds, self.errors


@contextmanager
def writing(inst: Instance, name: str = "default") -> Iterator[Writer]:
    writer = Writer(inst, name)
    writer.start()
    try:
        writer.wait_for(20)
        yield writer
    finally:
        writer.stopped.set()
        writer.join(60)
    assert not writer.errors, writer.errors


# -- reading a backup and a live tenant, table by table -----------------------------------------
def _sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if not r[0].startswith("sqlite_")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in sorted(tables)}
    finally:
        conn.close()


def _copy_lines(text: str) -> list[str]:
    return sorted(line for line in text.split("\n") if line)


def _dump_rows(dump: Path) -> dict[str, list[str]]:
    """Each table's rows in a pg_dump archive, as COPY text lines."""
    out = subprocess.run([str(backups.pg_bindir() / "pg_restore"), "--data-only", "-f", "-",
                          str(dump)], capture_output=True, text=True, check=True).stdout
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.split("\n"):
        if current is None:
            m = re.match(r"COPY \S+\.(\S+) \(.*\) FROM stdin;$", line)
            if m:
                current = tables.setdefault(m.group(1), [])
        elif line == "\\.":
            current = None
        else:
            current.append(line)
    return {t: sorted(rows) for t, rows in sorted(tables.items())}


def _pg_rows(inst: Instance, name: str) -> dict[str, list[str]]:
    """Each table's rows of a live tenant schema, as the COPY text lines pg_dump writes."""
    import psycopg
    from psycopg import sql

    assert PG_URL
    schema = inst._tenant_url(name)[1]
    url, _ = backups.libpq_connection(PG_URL)
    with psycopg.connect(url) as conn:
        conn.execute("SET DateStyle = ISO")
        conn.execute("SET IntervalStyle = postgres")
        conn.execute("SET extra_float_digits = 3")
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))]
        rows: dict[str, list[str]] = {}
        for t in sorted(tables):
            query = sql.SQL("COPY {}.{} TO STDOUT").format(sql.Identifier(schema),
                                                           sql.Identifier(t))
            with conn.cursor().copy(query) as copy:
                data = b"".join(bytes(block) for block in copy)
            rows[t] = _copy_lines(data.decode())
    return rows


def backup_rows(inst: Instance, out: Path, name: str) -> dict[str, Any]:
    if inst.dialect.name == "sqlite":
        return _sqlite_rows(out / "tenants" / f"{name}.db")
    return _dump_rows(out / "tenants" / f"{name}.dump")


def live_rows(inst: Instance, name: str) -> dict[str, Any]:
    if inst.dialect.name == "sqlite":
        return _sqlite_rows(inst.path / "tenants" / f"{name}.db")
    return _pg_rows(inst, name)


def _check_backup(inst: Instance, out: Path, manifest: dict[str, Any]) -> None:
    """The backup is sound on its own: SQLite integrity, and the manifest's counts are the
    backup's own rows."""
    for name, entry in manifest["tenants"].items():
        if inst.dialect.name == "sqlite":
            conn = sqlite3.connect(f"file:{out / entry['file']}?mode=ro", uri=True)
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            conn.close()
        counts = {t: len(rows) for t, rows in backup_rows(inst, out, name).items()}
        assert counts == entry["tables"]
        assert entry["metadata_version"] >= 3


def _totals_match_parts(inst: Instance, name: str = "default") -> int:
    """Every item's roll-up is the sum of its parts; returns the number of items."""
    tenant = inst.tenant(name)
    with tenant.read() as conn:
        schema = tenant.schema(tenant.snapshot(conn))
        items, parts = schema.table("item"), schema.table("part")
        totals = {r.id: r.total_weight for r in conn.execute(
            sa.select(items.c.id, items.c.total_weight))}
        sums: dict[int, Any] = {}
        for r in conn.execute(sa.select(parts.c.item, parts.c.weight)):
            sums[r.item] = sums.get(r.item, 0) + r.weight
    assert set(sums) <= set(totals)
    assert all(totals[i] == sums.get(i, 0) for i in totals)
    return len(totals)


def _aside_schemas(inst: Instance) -> list[str]:
    if inst.dialect.name != "postgresql":
        return []
    with inst.control.connect() as conn:
        return list(conn.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                                 {"p": inst.schema_prefix + "r\\_%"}).scalars())


# -- tests ----------------------------------------------------------------------------------------
def test_a_backup_taken_during_writes_is_consistent_and_restores_exactly(
        instance: Instance, tmp_path: Path) -> None:
    _world(instance)
    with writing(instance) as writer:
        first = backups.backup(instance, tmp_path / "b1")
        writer.wait_for(writer.rounds + 5)  # writes go on during and after the backups
        second = backups.backup(instance, tmp_path / "b2", "default")
        after = writer.rounds
        writer.wait_for(after + 10)
    assert first["scope"] == "instance" and second["scope"] == "tenant"
    assert first["database"] == instance.dialect.name and first["format_version"] == 1
    assert {p.name for p in (tmp_path / "b1").iterdir()} == {
        "manifest.json", "tenants", "crmforge.json",
        "control.db" if instance.dialect.name == "sqlite" else "control.dump"}
    assert {p.name for p in (tmp_path / "b2").iterdir()} == {"manifest.json", "tenants"}
    assert oct((tmp_path / "b1").stat().st_mode)[-3:] == "700"
    for out, manifest in ((tmp_path / "b1", first), (tmp_path / "b2", second)):
        _check_backup(instance, out, manifest)
    expected = backup_rows(instance, tmp_path / "b2", "default")
    items_then = second["tenants"]["default"]["tables"][_table(instance, "item")]
    assert items_then < 200 + writer.rounds  # the tenant has moved on since

    assert live_rows(instance, "default") != expected
    restored = backups.restore(instance, tmp_path / "b2")
    assert restored == {"default": second["tenants"]["default"]["tables"]}
    assert live_rows(instance, "default") == expected
    assert _totals_match_parts(instance) == items_then
    assert _aside_schemas(instance) == []
    # The restored tenant is in use again as before.
    RecordService(instance.tenant("default")).create(SYSTEM, "item", {"code": "after"})
    # The earlier backup, taken under more writes still, restores as exactly.
    backups.restore(instance, tmp_path / "b1", "default")
    assert live_rows(instance, "default") == backup_rows(instance, tmp_path / "b1", "default")
    _totals_match_parts(instance)


def _table(inst: Instance, obj: str) -> str:
    tenant = inst.tenant("default")
    with tenant.read() as conn:
        return str(tenant.schema(tenant.snapshot(conn)).table(obj).name)


def test_a_whole_instance_restores_into_a_fresh_instance(instance: Instance, tmp_path: Path,
                                                         backend: str) -> None:
    _world(instance, items=50)
    instance.create_tenant("acme", ADMIN_PASSWORD)
    _world(instance, "acme", items=30)
    manifest = backups.backup(instance, tmp_path / "backup")
    assert sorted(manifest["tenants"]) == ["acme", "default"]
    expected = {n: backup_rows(instance, tmp_path / "backup", n) for n in ("acme", "default")}
    with fresh_instance(tmp_path / "other", backend) as other:
        if backend == "postgresql":
            # The dump recreates its own schema, still in use by the first instance: refused,
            # and nothing changed.
            before = live_rows(other, "default")
            with pytest.raises(Conflict, match="exists in this database"):
                backups.restore(other, tmp_path / "backup")
            assert live_rows(other, "default") == before and other.tenant_names() == ["default"]
            _drop_tenant_schemas(instance)  # the first instance is lost
        restored = backups.restore(other, tmp_path / "backup")
        assert sorted(restored) == ["acme", "default"]
        assert other.tenant_names() == ["acme", "default"]
        for name in ("acme", "default"):
            assert live_rows(other, name) == expected[name]
            _totals_match_parts(other, name)
        assert _aside_schemas(other) == []
        with other.control.connect() as conn:
            created = conn.execute(sa.text("SELECT created_at FROM sys_tenants WHERE name = 'acme'")
                                   ).scalar()
        assert str(created)[:19] == manifest["tenants"]["acme"]["created_at"][:19].replace("T", " ")


def _drop_tenant_schemas(inst: Instance) -> None:
    with inst.control.begin() as conn:
        for name in inst.tenant_names():
            conn.execute(sa.text(f'DROP SCHEMA "{inst._tenant_url(name)[1]}" CASCADE'))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _reseal(out: Path, name: str) -> None:
    """Record the damaged file's checksum in the manifest, as if it had been damaged before
    it was written down."""
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["tenants"][name]
    entry["sha256"] = backups._sha256(out / entry["file"])
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_damaged_backup_is_refused_before_anything_changes(instance: Instance,
                                                              tmp_path: Path) -> None:
    _world(instance, items=50)
    out = tmp_path / "backup"
    manifest = backups.backup(instance, out)
    RecordService(instance.tenant("default")).create(SYSTEM, "item", {"code": "later"})
    current = live_rows(instance, "default")
    damaged = out / manifest["tenants"]["default"]["file"]
    original = damaged.read_bytes()
    _flip(damaged, len(original) // 2)
    with pytest.raises(BadRequest, match="damaged"):
        backups.restore(instance, out)
    assert live_rows(instance, "default") == current
    # Damage the checksum does not reveal (recorded after the damage): the file itself is
    # checked, SQLite's integrity and the dump's table of contents.
    damaged.write_bytes(original)
    _flip(damaged, 0)
    _reseal(out, "default")
    with pytest.raises(BadRequest) as refused:
        backups.restore(instance, out, "default")
    assert re.search(r"not a readable SQLite database|reading the dump", refused.value.message)
    assert live_rows(instance, "default") == current
    # A missing file and a manifest that is not one.
    damaged.unlink()
    with pytest.raises(BadRequest, match="missing"):
        backups.restore(instance, out)
    (out / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(BadRequest, match="not a usable CRMForge backup"):
        backups.restore(instance, out)
    with pytest.raises(NotFound, match="not a CRMForge backup"):
        backups.restore(instance, tmp_path)
    assert live_rows(instance, "default") == current and _aside_schemas(instance) == []


def test_a_manifest_naming_files_outside_the_backup_is_refused(instance: Instance,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "backup"
    backups.backup(instance, out, "default")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tenants"]["default"]["file"] = "../../elsewhere.db"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BadRequest, match="names no valid file"):
        backups.restore(instance, out)


def test_restoring_a_tenant_the_backup_does_not_hold_is_refused(instance: Instance,
                                                                tmp_path: Path,
                                                                backend: str) -> None:
    out = tmp_path / "backup"
    backups.backup(instance, out, "default")
    instance.create_tenant("acme", ADMIN_PASSWORD)
    _world(instance, "acme", items=5)
    before = live_rows(instance, "acme")
    with pytest.raises(NotFound, match="the backup has no tenant 'acme' \\(it holds: default\\)"):
        backups.restore(instance, out, "acme")
    with pytest.raises(NotFound, match="no tenant named 'nope'"):
        backups.backup(instance, tmp_path / "other", "nope")
    assert not (tmp_path / "other").exists()
    # A whole restore leaves the tenants the backup does not hold as they are.
    backups.restore(instance, out)
    assert live_rows(instance, "acme") == before
    if backend == "postgresql":
        with fresh_instance(tmp_path / "sqlite", "sqlite") as lite:
            backups.backup(lite, tmp_path / "lite")
        with pytest.raises(BadRequest, match="backup of a SQLite instance; this instance uses "
                                             "PostgreSQL"):
            backups.restore(instance, tmp_path / "lite")


def test_a_backup_failing_its_verification_leaves_nothing(instance: Instance, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if instance.dialect.name == "sqlite":
        def broken(source: Path, target: Path) -> None:
            target.write_bytes(b"not a database at all" * 100)
        monkeypatch.setattr(backups, "_sqlite_snapshot", broken)
        message = "not a readable SQLite database"
    else:
        real_run = backups._run

        def broken_dump(args: list[str], env: dict[str, str], what: str) -> str:
            out = real_run(args, env, what)
            if args[0].endswith("pg_dump"):
                Path(args[args.index("--file") + 1]).write_bytes(b"PGDMP garbage" * 10)
            return out
        monkeypatch.setattr(backups, "_run", broken_dump)
        message = "reading the dump"
    with pytest.raises(BackupFailed, match=message):
        backups.backup(instance, tmp_path / "new" / "backup")
    assert not (tmp_path / "new" / "backup").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupFailed):
        backups.backup(instance, tmp_path / "empty", "default")
    assert list((tmp_path / "empty").iterdir()) == []


def test_the_output_must_be_a_new_or_empty_folder(instance: Instance, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    for out in (tmp_path / "full", tmp_path / "file"):
        with pytest.raises(Conflict, match="not an empty folder"):
            backups.backup(instance, out)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_tenant_open_elsewhere_is_not_restored_over(instance: Instance, tmp_path: Path) -> None:
    _world(instance, items=20)
    out = tmp_path / "backup"
    backups.backup(instance, out)
    RecordService(instance.tenant("default")).create(SYSTEM, "item", {"code": "later"})
    current = live_rows(instance, "default")
    # Another process (a server still running) has the database open.
    other = sqlite3.connect(instance.path / "tenants" / "default.db", isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("SELECT count(*) FROM sqlite_master").fetchall()
    try:
        with pytest.raises(Conflict, match="is in use"):
            backups.restore(instance, out)
        assert live_rows(instance, "default") == current
    finally:
        other.close()
    backups.restore(instance, out)
    assert live_rows(instance, "default") == backup_rows(instance, out, "default")
    leftovers = [p.name for p in (instance.path / "tenants").iterdir() if "restore" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("backend", ["postgresql"] if PG_URL else [])
def test_a_postgresql_tenant_still_in_use_keeps_its_data(instance: Instance, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backups, "_PG_LOCK_TIMEOUT", "1s")
    _world(instance, items=10)
    backups.backup(instance, tmp_path / "backup")
    RecordService(instance.tenant("default")).create(SYSTEM, "item", {"code": "later"})
    current = live_rows(instance, "default")
    schema = instance._tenant_url("default")[1]
    engine = sa.create_engine(PG_URL or "")
    try:
        with engine.connect() as other:  # a server's transaction that does not end
            other.execute(sa.text(f'LOCK TABLE "{schema}".sys_users IN ACCESS SHARE MODE'))
            with pytest.raises(Conflict, match="in use"):
                backups.restore(instance, tmp_path / "backup")
            other.rollback()
    finally:
        engine.dispose()
    # The restore was undone: the old schema is back under its name, nothing is left aside.
    assert live_rows(instance, "default") == current and _aside_schemas(instance) == []
    backups.restore(instance, tmp_path / "backup")
    assert live_rows(instance, "default") == backup_rows(instance, tmp_path / "backup", "default")


def test_the_password_stays_off_the_command_line() -> None:
    url, env = backups.libpq_connection(
        "postgresql+psycopg://crm:s%40cret@db.example:6432/crm?sslmode=require")
    assert url == "postgresql://crm@db.example:6432/crm?sslmode=require"
    assert env["PGPASSWORD"] == "s@cret"
    url, env = backups.libpq_connection("postgresql://crm@127.0.0.1/crm")
    assert url == "postgresql://crm@127.0.0.1/crm"
    assert env.get("PGPASSWORD") == os.environ.get("PGPASSWORD")


# -- the command line ----------------------------------------------------------------------------
CLI = [sys.executable, "-m", "crmforge.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CRMFORGE_DATABASE_URL"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def test_cli_backup_and_restore_round_trip(tmp_path: Path) -> None:
    inst_dir, out = tmp_path / "inst", tmp_path / "backup"
    assert run("init", "--instance", str(inst_dir), "--admin-password", ADMIN_PASSWORD).returncode == 0
    inst = Instance.open(inst_dir)
    try:
        _world(inst, items=40)
    finally:
        inst.dispose()

    made = run("backup", "--instance", str(inst_dir), "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "default:" in made.stdout and "written and verified" in made.stdout
    assert "secret key" in made.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads((out / "crmforge.json").read_text()) == json.loads(
        (inst_dir / "crmforge.json").read_text())
    again = run("backup", "--instance", str(inst_dir), "--out", str(out))
    assert again.returncode == 2 and again.stderr.startswith("error: ")
    assert "not an empty folder" in again.stderr

    inst = Instance.open(inst_dir)
    try:
        RecordService(inst.tenant("default")).create(SYSTEM, "item", {"code": "later"})
        assert live_rows(inst, "default") != backup_rows(inst, out, "default")
    finally:
        inst.dispose()
    missing = run("restore", "--instance", str(inst_dir), "--tenant", "acme", "--from", str(out))
    assert missing.returncode == 2 and "the backup has no tenant 'acme'" in missing.stderr
    done = run("restore", "--instance", str(inst_dir), "--from", str(out))
    assert done.returncode == 0, done.stderr
    total = sum(manifest["tenants"]["default"]["tables"].values())
    assert f"restored tenant 'default': {total} rows" in done.stdout
    inst = Instance.open(inst_dir)
    try:
        assert live_rows(inst, "default") == backup_rows(inst, out, "default")
        _totals_match_parts(inst)
    finally:
        inst.dispose()

    _flip(out / "tenants" / "default.db", 4096)
    damaged = run("restore", "--instance", str(inst_dir), "--tenant", "default", "--from", str(out))
    assert damaged.returncode == 2 and "is damaged" in damaged.stderr
