"""Backups of an instance or of one tenant, and restores from them (``crmforge backup`` and
``crmforge restore``, DESIGN §9).

A backup is a folder: ``manifest.json`` and the data, one file per tenant under
``tenants/`` (a folder of their own, so that a tenant named ``control`` cannot collide with
the control database), plus, for a whole instance, the control database and the instance
configuration ``crmforge.json``. Why each part is done the way it is:

- SQLite tenants are copied with SQLite's online backup API, never as files: a plain copy
  of a database being written was corrupt 7 times in 8 under writers, while the backup API
  copies one consistent snapshot and the writers go on.
- PostgreSQL tenants are ``pg_dump -Fc`` of their schema, run inside a snapshot exported
  by a transaction that also counts the rows: the counts in the manifest are the dump's own,
  however many writes happen meanwhile.
- Every file is verified once written (SQLite ``PRAGMA integrity_check``; ``pg_restore
  --list`` reads the dump) and its sha256 and row counts go into the manifest, written
  last: a folder with a manifest is a complete, verified backup, and a failed backup
  leaves nothing behind.
- A restore checks the manifest, every checksum and every file before it changes anything,
  then replaces each tenant all at once: on SQLite a verified copy renamed over the tenant's
  file; on PostgreSQL the old schema is renamed aside, the dump restored in one
  transaction, and the old schema dropped only in the transaction that publishes the
  verified new one (any failure renames it back).

A restore replaces a tenant's data while nothing else may use it: servers are stopped (or
the tenant idle) meanwhile. On SQLite a tenant still open elsewhere is detected and
refused; on PostgreSQL locks held elsewhere make the restore give up after a few seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ..core import clock
from ..core.errors import BackupFailed, BadRequest, Conflict, CRMError, NotFound
from .instance import CONFIG_FILE, Instance, tenant_name_problem, tenants_table
from .storage.dialects import busy_timeout_s, psycopg_url

FORMAT = "crmforge-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: PostgreSQL schema names we create (prefix, ``t_``/``r_``/``control``): checked before a
#: name read from a manifest reaches a command line or a statement.
_SCHEMA = re.compile(r"[a-z][a-z0-9_]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Seconds a restore's schema change waits for locks held elsewhere before it gives up.
_PG_LOCK_TIMEOUT = "10s"

Manifest = dict[str, Any]


# -- backup -------------------------------------------------------------------------------------
def backup(instance: Instance, out: Path, tenant: str | None = None) -> Manifest:
    """Write a verified backup of ``tenant`` (or of the whole instance) into the folder
    ``out``, which must not exist or be empty; returns the manifest.

    A whole-instance backup holds the instance configuration, secret key included: it is
    as sensitive as the instance itself (the folder and its files are made private)."""
    out = Path(out)
    names = _tenants_to_back_up(instance, tenant)
    created = _prepare_output(out)
    try:
        manifest: Manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": clock.now().isoformat(), "database": instance.dialect.name,
            "crmforge_version": _crmforge_version(),
            "scope": "tenant" if tenant else "instance", "tenants": {}}
        (out / "tenants").mkdir()
        os.chmod(out / "tenants", 0o700)
        created_at = _tenant_created_at(instance)
        if instance.database_url:
            _backup_postgres(instance, out, names, created_at, manifest, whole=tenant is None)
        else:
            _backup_sqlite(instance, out, names, created_at, manifest, whole=tenant is None)
        if tenant is None:
            config = out / CONFIG_FILE
            shutil.copyfile(instance.path / CONFIG_FILE, config)
            os.chmod(config, 0o600)
            manifest["config"] = _file_entry(out, config)
        _write_manifest(out, manifest)
    except BaseException:  # a failed or interrupted backup leaves nothing that looks like one
        _remove_output(out, created)
        raise
    return manifest


def _tenants_to_back_up(instance: Instance, tenant: str | None) -> list[str]:
    if tenant is None:
        return instance.tenant_names()
    if tenant_name_problem(tenant) or not instance.has_tenant(tenant):
        raise NotFound(f"no tenant named '{str(tenant)[:40]}'")
    return [tenant]


def _prepare_output(out: Path) -> bool:
    """Make ``out`` a private, empty folder; True when it was created here (a failure then
    removes it), False when an empty one was given (a failure empties it again)."""
    if out.exists() or out.is_symlink():
        if not out.is_dir() or any(out.iterdir()):
            raise Conflict(f"{out} already exists and is not an empty folder; "
                           "name a new or empty folder for the backup")
        created = False
    else:
        try:
            out.mkdir(parents=True)
        except OSError as exc:
            raise BackupFailed(f"cannot create {out}: {exc.strerror}") from exc
        created = True
    os.chmod(out, 0o700)  # tenant data, and for a whole instance its secret key
    return created


def _remove_output(out: Path, created: bool) -> None:
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    with suppress(OSError):
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _tenant_created_at(instance: Instance) -> dict[str, str]:
    """When each tenant was created, kept so that a restore registering a tenant missing
    from the instance keeps its date."""
    with instance.control.connect() as conn:
        rows = conn.execute(sa.select(tenants_table.c.name, tenants_table.c.created_at))
        return {r.name: r.created_at.isoformat() for r in rows}


def _backup_sqlite(instance: Instance, out: Path, names: list[str], created_at: dict[str, str],
                   manifest: Manifest, whole: bool) -> None:
    for name in names:
        target = out / _tenant_file(name, "sqlite")
        _sqlite_snapshot(_sqlite_tenant_path(instance, name), target)
        tables, version = _inspect_sqlite(target, f"the backup of tenant '{name}'", BackupFailed)
        manifest["tenants"][name] = {**_file_entry(out, target), "tables": tables,
                                     "metadata_version": version,
                                     "created_at": created_at.get(name)}
    if whole:
        control = out / "control.db"
        _sqlite_snapshot(instance.path / "control.db", control)
        _inspect_sqlite(control, "the backup of the control database", BackupFailed)
        manifest["control"] = _file_entry(out, control)


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy the live database ``source`` into the new file ``target`` with the online
    backup API in one step (one read transaction: one consistent snapshot, writers go on),
    and make the copy a single self-contained file (rollback journal instead of WAL)."""
    if not source.is_file():  # sqlite3.connect would create an empty database
        raise BackupFailed(f"the database file {source} is missing")
    src = sqlite3.connect(source, timeout=busy_timeout_s())
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot back up {source.name}: {exc}") from exc
    finally:
        src.close()
    os.chmod(target, 0o600)


def _backup_postgres(instance: Instance, out: Path, names: list[str],
                     created_at: dict[str, str], manifest: Manifest, whole: bool) -> None:
    pg = _Postgres(instance)
    try:
        manifest["schema_prefix"] = instance.schema_prefix
        for name in names:
            schema = pg.tenant_schema(name)
            target = out / _tenant_file(name, "postgresql")
            tables, version = pg.dump(schema, target, f"tenant '{name}'")
            manifest["tenants"][name] = {**_file_entry(out, target), "schema": schema,
                                         "tables": tables, "metadata_version": version,
                                         "created_at": created_at.get(name)}
        if whole and instance.control_schema:
            control = out / "control.dump"
            pg.dump(instance.control_schema, control, "the control schema")
            manifest["control"] = {**_file_entry(out, control), "schema": instance.control_schema}
    finally:
        pg.close()


def _write_manifest(out: Path, manifest: Manifest) -> None:
    """Written last and renamed into place: its presence marks a complete backup."""
    for path in out.rglob("*"):
        if path.is_file():
            _fsync(path)
    partial = out / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.chmod(partial, 0o600)
    _fsync(partial)
    os.replace(partial, out / MANIFEST)
    _fsync_dir(out / "tenants")
    _fsync_dir(out)


# -- restore ------------------------------------------------------------------------------------
def restore(instance: Instance, source: Path, tenant: str | None = None) -> dict[str, dict[str, int]]:
    """Replace ``tenant`` (or every tenant in the backup) with its data in the backup
    folder ``source``; returns the row counts restored per tenant and table.

    Everything is checked before anything changes: the manifest, the database kind, each
    file's sha256, and each file itself (SQLite integrity check; the dump's table of
    contents). Each tenant is then replaced all at once, its row counts verified against
    the manifest; a tenant missing from the instance is added to it. Tenants of the
    instance that are not in the backup are left as they are."""
    source = Path(source)
    manifest = read_manifest(source)
    if manifest["database"] != instance.dialect.name:
        raise BadRequest(f"this is a backup of a {_KIND[manifest['database']]} instance; this "
                         f"instance uses {_KIND[instance.dialect.name]}")
    available = sorted(manifest["tenants"])
    if tenant is not None and tenant not in manifest["tenants"]:
        raise NotFound(f"the backup has no tenant '{str(tenant)[:40]}' (it holds: "
                       f"{', '.join(available)})")
    names = [tenant] if tenant is not None else available
    _check_files(source, manifest)
    restored: dict[str, dict[str, int]] = {}
    if instance.database_url:
        pg = _Postgres(instance)
        try:
            for name in names:
                pg.check_dump(source / manifest["tenants"][name]["file"],
                              manifest["tenants"][name]["schema"], f"tenant '{name}'")
            for name in names:  # a refusal here too comes before any change
                pg.check_restorable(name, manifest["tenants"][name]["schema"])
            for name in names:
                entry = manifest["tenants"][name]
                instance.close_tenant(name)
                pg.restore(name, source / entry["file"], entry)
                _register(instance, name, entry.get("created_at"))
                restored[name] = _verify_live(instance, name, entry)
        finally:
            pg.close()
        return restored
    for name in names:
        _inspect_sqlite(source / manifest["tenants"][name]["file"],
                        f"the backup of tenant '{name}'", BadRequest)
    for name in names:
        entry = manifest["tenants"][name]
        _restore_sqlite(instance, name, source / entry["file"], entry)
        _register(instance, name, entry.get("created_at"))
        restored[name] = _verify_live(instance, name, entry)
    return restored


_KIND = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def read_manifest(source: Path) -> Manifest:
    """The manifest of the backup folder ``source``, checked to the last field a restore
    relies on (it names files and schemas: nothing in it is trusted unchecked)."""
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise NotFound(f"{source} is not a CRMForge backup (it has no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the manifest of {source} cannot be read: {exc}") from exc
    problem = _manifest_problem(manifest)
    if problem:
        raise BadRequest(f"{source} is not a usable CRMForge backup: {problem}")
    return dict(manifest)


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return "its manifest is not a CRMForge backup manifest"
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        return "its manifest has no format version"
    if version > FORMAT_VERSION:
        return (f"it was written in backup format {version} by a newer CRMForge "
                f"({str(manifest.get('crmforge_version'))[:20]}); this one reads format "
                f"{FORMAT_VERSION}")
    kind = manifest.get("database")
    if kind not in _KIND:
        return "its manifest names no known database"
    tenants = manifest.get("tenants")
    if not isinstance(tenants, dict) or not tenants:
        return "its manifest lists no tenant"
    for name, entry in tenants.items():
        if tenant_name_problem(name):
            return f"its manifest lists a tenant with an invalid name ({str(name)[:40]!r})"
        if not isinstance(entry, dict) or entry.get("file") != _tenant_file(name, kind):
            return f"its manifest entry of tenant '{name}' names no valid file"
        if not _SHA256.fullmatch(str(entry.get("sha256"))):
            return f"its manifest entry of tenant '{name}' has no sha256"
        tables = entry.get("tables")
        if not isinstance(tables, dict) or not all(
                isinstance(t, str) and isinstance(n, int) and n >= 0 for t, n in tables.items()):
            return f"its manifest entry of tenant '{name}' has no row counts"
        if kind == "postgresql" and not _SCHEMA.fullmatch(str(entry.get("schema"))):
            return f"its manifest entry of tenant '{name}' names no valid schema"
    for extra, name in (("control", "control." + ("db" if kind == "sqlite" else "dump")),
                        ("config", CONFIG_FILE)):
        entry = manifest.get(extra)
        if entry is not None and (not isinstance(entry, dict) or entry.get("file") != name
                                  or not _SHA256.fullmatch(str(entry.get("sha256")))):
            return f"its manifest entry of the {extra} file is invalid"
    return None


def _check_files(source: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is there with its recorded sha256."""
    entries = [*manifest["tenants"].values(),
               *(manifest[k] for k in ("control", "config") if k in manifest)]
    for entry in entries:
        path = source / entry["file"]
        if not path.is_file():
            raise BadRequest(f"the backup is incomplete: {entry['file']} is missing; "
                             "nothing was restored")
        if _sha256(path) != entry["sha256"]:
            raise BadRequest(f"the backup file {entry['file']} is damaged (its sha256 does "
                             "not match the manifest); nothing was restored")


def _restore_sqlite(instance: Instance, name: str, backup_file: Path, entry: Manifest) -> None:
    """Copy the backup next to the tenant's file, verify the copy, and rename it over the
    tenant's file (atomic: the tenant has either all its old data or all the restored)."""
    dest = _sqlite_tenant_path(instance, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{name}.restore-{secrets.token_hex(4)}.db")
    try:
        shutil.copyfile(backup_file, temp)
        os.chmod(temp, 0o600)
        _fsync(temp)
        tables, _ = _inspect_sqlite(temp, f"the restored copy of tenant '{name}'", BackupFailed,
                                    integrity=False)  # identical to the checked backup
        _same_counts(name, tables, entry["tables"])
        instance.close_tenant(name)
        with _sole_user(dest, name):
            os.replace(temp, dest)
            _fsync_dir(dest.parent)
        instance.close_tenant(name)  # anything this process reopened meanwhile
    finally:
        temp.unlink(missing_ok=True)


@contextmanager
def _sole_user(path: Path, name: str) -> Iterator[None]:
    """Hold the tenant's database exclusively while its file is replaced, refusing when
    another connection (a server still running) has it open.

    Switching out of WAL needs the only connection, and it also writes back and removes
    the ``-wal`` and ``-shm`` files, which must not outlive the file they belong to: a
    stale write-ahead log next to the restored file would corrupt it."""
    if not path.exists():
        for suffix in ("-wal", "-shm", "-journal"):  # leftovers without their database
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield
        return
    in_use = Conflict(f"tenant '{name}' is in use (a server or another command has its "
                      "database open); stop the servers and run the restore again")
    conn = sqlite3.connect(path, timeout=2.0, isolation_level=None)
    try:
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise in_use from exc
        if str(mode).lower() != "delete":
            raise in_use
        yield
    finally:
        conn.close()


def _register(instance: Instance, name: str, created_at: str | None) -> None:
    """Add a restored tenant the instance does not list (or no longer lists as active)."""
    with instance.control.begin() as conn:
        row = conn.execute(sa.select(tenants_table.c.active).where(
            tenants_table.c.name == name)).first()
        if row is None:
            conn.execute(tenants_table.insert().values(
                name=name, created_at=_naive_utc(created_at), active=True))
        elif not row.active:
            conn.execute(tenants_table.update().where(tenants_table.c.name == name)
                         .values(active=True))


def _naive_utc(text: str | None) -> dt.datetime:
    """The control table keeps naive UTC times."""
    try:
        when = dt.datetime.fromisoformat(text) if text else clock.now()
    except ValueError:
        when = clock.now()
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def _verify_live(instance: Instance, name: str, entry: Manifest) -> dict[str, int]:
    """The restored tenant, read as the application reads it, holds the manifest's rows."""
    tenant = instance.tenant(name)
    with tenant.read() as conn:
        counts = _counts(conn, None)
    _same_counts(name, counts, entry["tables"])
    return counts


def _same_counts(name: str, found: dict[str, int], expected: dict[str, int]) -> None:
    if found == expected:
        return
    differ = sorted(set(found) ^ set(expected)) or sorted(
        t for t in found if found[t] != expected[t])
    raise BackupFailed(f"the restored tenant '{name}' does not match the backup's row counts "
                       f"(tables {', '.join(differ[:5])})")


# -- SQLite helpers -----------------------------------------------------------------------------
def _sqlite_tenant_path(instance: Instance, name: str) -> Path:
    return instance.path / "tenants" / f"{name}.db"


def _tenant_file(name: str, kind: str) -> str:
    return f"tenants/{name}." + ("db" if kind == "sqlite" else "dump")


def _inspect_sqlite(path: Path, what: str, error: type[CRMError],
                    integrity: bool = True) -> tuple[dict[str, int], int]:
    """Integrity-check the SQLite file ``path`` (read-only: its checksum stays) and
    return its row count per table and its metadata version."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    engine = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True),
                              poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if integrity:
                problems = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                if problems != ["ok"]:
                    raise error(f"{what} fails SQLite's integrity check: "
                                f"{'; '.join(problems[:3])}")
            counts = _counts(conn, None)
            return counts, _metadata_version(conn, None, counts)
    except sa.exc.DatabaseError as exc:  # "file is not a database" and the like
        raise error(f"{what} is not a readable SQLite database ({exc.orig})") from exc
    finally:
        engine.dispose()


def _counts(conn: sa.Connection, schema: str | None) -> dict[str, int]:
    """Rows per table of the current (or the named) schema; SQLite's own tables aside
    (``sqlite_stat1`` comes and goes with ``PRAGMA optimize``)."""
    names = sa.inspect(conn).get_table_names(schema=schema)
    return {t: int(conn.execute(sa.select(sa.func.count()).select_from(
        sa.table(t, schema=schema))).scalar_one()) for t in sorted(names)}


def _metadata_version(conn: sa.Connection, schema: str | None, tables: dict[str, int]) -> int:
    if "sys_meta_versions" not in tables:
        return 0
    versions = sa.table("sys_meta_versions", sa.column("version"), schema=schema)
    return int(conn.execute(sa.select(sa.func.max(versions.c.version))).scalar() or 0)


# -- PostgreSQL ---------------------------------------------------------------------------------
class _Postgres:
    """pg_dump and pg_restore against the instance's server, and the catalog work around
    them, through a connection of its own (never a tenant's pooled one)."""

    def __init__(self, instance: Instance) -> None:
        assert instance.database_url
        self.instance = instance
        self.bindir = pg_bindir()
        self.url, self.env = libpq_connection(instance.database_url)
        self.engine = sa.create_engine(psycopg_url(instance.database_url), poolclass=NullPool,
                                       connect_args={"prepare_threshold": None})

    def close(self) -> None:
        self.engine.dispose()

    def tenant_schema(self, name: str) -> str:
        schema = self.instance._tenant_url(name)[1]
        if not schema or not _SCHEMA.fullmatch(schema):
            raise BackupFailed(f"tenant '{name}' has no valid schema name")
        return schema

    def _tool(self, name: str) -> str:
        return str(self.bindir / name)

    # backup
    def dump(self, schema: str, target: Path, what: str) -> tuple[dict[str, int], int]:
        """Dump ``schema`` into ``target`` within a snapshot exported by a transaction that
        counts the same rows, and check the dump lists every table's data."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if not _schema_exists(conn, schema):
                    raise BackupFailed(f"the schema of {what} ({schema}) is missing")
                if "sys_meta_versions" in sa.inspect(conn).get_table_names(schema=schema):
                    # Before the snapshot: a metadata change (which locks this table) cannot
                    # commit between our snapshot and pg_dump taking its own locks.
                    conn.execute(sa.text(f"LOCK TABLE {_quote(conn, schema)}.sys_meta_versions "
                                         "IN ACCESS SHARE MODE"))
                snapshot = str(conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one())
                counts = _counts(conn, schema)
                version = _metadata_version(conn, schema, counts)
                _run([self._tool("pg_dump"), "--dbname", self.url, "--no-password",
                      "--format=custom", "--schema", schema, "--snapshot", snapshot,
                      "--file", str(target)], self.env, f"pg_dump of {what}")
        os.chmod(target, 0o600)
        self.check_dump(target, schema, what, counts, error=BackupFailed)
        return counts, version

    def check_dump(self, path: Path, schema: str, what: str, tables: dict[str, int] | None = None,
                   error: type[CRMError] = BadRequest) -> None:
        """``pg_restore --list`` reads the whole table of contents: the schema and the data
        of each table must be in it."""
        try:
            toc = _run([self._tool("pg_restore"), "--list", str(path)], self.env,
                       f"reading the dump of {what}")
        except BackupFailed as exc:
            raise error(exc.message) from exc
        data = {m.group(2) for m in re.finditer(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ", toc,
                                               re.MULTILINE) if m.group(1) == schema}
        has_schema = re.search(rf"^\d+; \d+ \d+ SCHEMA - {re.escape(schema)} ", toc,
                               re.MULTILINE)
        missing = sorted(set(tables or {}) - data)
        if not has_schema or missing:
            raise error(f"the dump of {what} is incomplete"
                        + (f" (no data for {', '.join(missing[:5])})" if missing else ""))

    # restore
    def check_restorable(self, name: str, source_schema: str) -> None:
        """The dump recreates its own schema name: when it is not this tenant's schema, it
        must not exist (another instance's tenant in the same database, never touched)."""
        target = self.tenant_schema(name)
        if source_schema == target:
            return
        with self.engine.connect() as conn:
            if _schema_exists(conn, source_schema):
                raise Conflict(f"the backup of tenant '{name}' restores into schema "
                               f"{source_schema}, which exists in this database (another "
                               "instance's); restore it into an instance with the same "
                               "schema prefix or into another database")

    def restore(self, name: str, dump: Path, entry: Manifest) -> None:
        """Move the tenant's schema aside, restore the dump in one transaction, then in one
        more transaction give it the tenant's schema name, verify its row counts and drop
        the old schema. Any failure drops what was restored and moves the old one back."""
        target = self.tenant_schema(name)
        source = str(entry["schema"])
        aside = f"{self.instance.schema_prefix}r_{secrets.token_hex(4)}"
        with self._ddl() as conn:
            moved = _schema_exists(conn, target)
            if moved:
                conn.execute(sa.text(f"ALTER SCHEMA {_quote(conn, target)} RENAME TO "
                                     f"{_quote(conn, aside)}"))
        try:
            _run([self._tool("pg_restore"), "--dbname", self.url, "--no-password",
                  "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
                  str(dump)], self.env, f"pg_restore of tenant '{name}'")
            with self._ddl() as conn:
                if source != target:
                    conn.execute(sa.text(f"ALTER SCHEMA {_quote(conn, source)} RENAME TO "
                                         f"{_quote(conn, target)}"))
                _same_counts(name, _counts(conn, target), entry["tables"])
                if moved:
                    conn.execute(sa.text(f"DROP SCHEMA {_quote(conn, aside)} CASCADE"))
        except BaseException as exc:
            try:
                with self._ddl() as conn:
                    conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {_quote(conn, source)} CASCADE"))
                    if moved:
                        conn.execute(sa.text(f"ALTER SCHEMA {_quote(conn, aside)} RENAME TO "
                                             f"{_quote(conn, target)}"))
            except Exception as undo:
                kept = f" its previous data is in schema {aside};" if moved else ""
                raise BackupFailed(f"restoring tenant '{name}' failed and could not be undone "
                                   f"({type(undo).__name__}):{kept} rename it back to "
                                   f"{target}") from exc
            raise
        finally:
            self.instance.close_tenant(name)

    @contextmanager
    def _ddl(self) -> Iterator[sa.Connection]:
        """A transaction whose schema changes wait a few seconds for locks held elsewhere
        (a server still using the tenant) and then give up with a plain message."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{_PG_LOCK_TIMEOUT}'"))
                yield conn
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":
                raise Conflict("the tenant is in use (another connection holds its tables); "
                               "stop the servers and run the restore again") from exc
            raise


def _schema_exists(conn: sa.Connection, schema: str) -> bool:
    return conn.execute(sa.text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :s"),
                        {"s": schema}).first() is not None


def _quote(conn: sa.Connection, name: str) -> str:
    """An internal schema name (checked against ``_SCHEMA``) as a quoted identifier."""
    if not _SCHEMA.fullmatch(name):
        raise BackupFailed(f"invalid schema name {name[:63]!r}")
    return str(conn.dialect.identifier_preparer.quote_identifier(name))


def libpq_connection(url: str) -> tuple[str, dict[str, str]]:
    """The instance's SQLAlchemy URL as a libpq URL without its password, and the
    environment that carries the password: a command line is visible to every user of
    the machine (``ps``), the environment of a process is not."""
    parsed = sa.engine.make_url(psycopg_url(url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = sa.engine.URL.create("postgresql", username=parsed.username, host=parsed.host,
                                 port=parsed.port, database=parsed.database, query=parsed.query)
    return plain.render_as_string(hide_password=False), env


@functools.cache
def pg_bindir() -> Path:
    """The folder of the newest pg_dump and pg_restore installed, looked for like
    scripts/pg-test-server does (PATH, ``pg_config --bindir``, Debian's
    /usr/lib/postgresql/<version>/bin): pg_dump refuses servers newer than itself, and
    pg_restore must read what that pg_dump wrote, so both come from one folder."""
    candidates: list[Path] = []
    found = shutil.which("pg_dump")
    if found:
        candidates += [Path(found).parent, Path(os.path.realpath(found)).parent]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,  # noqa: S603
                                    timeout=10, check=True).stdout.strip()
            candidates.append(Path(bindir))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    best: tuple[tuple[int, ...], Path] | None = None
    for folder in candidates:
        if not all(os.access(folder / tool, os.X_OK) for tool in ("pg_dump", "pg_restore")):
            continue
        version = _tool_version(folder / "pg_dump")
        if version and (best is None or version > best[0]):
            best = (version, folder)
    if best is None:
        raise BackupFailed("pg_dump and pg_restore were not found; install PostgreSQL's "
                           "client programs (Debian: postgresql-client)")
    return best[1]


def _tool_version(tool: Path) -> tuple[int, ...] | None:
    """``pg_dump (PostgreSQL) 15.5 (Debian 15.5-0+deb12u1)`` -> (15, 5)."""
    try:
        text = subprocess.run([str(tool), "--version"], capture_output=True, text=True,  # noqa: S603
                              timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s+(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    """Run a PostgreSQL client program; its own last words become the error's message."""
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError as exc:
        raise BackupFailed(f"{what} could not start: {exc.strerror}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line] or lines or ["no message"]
        raise BackupFailed(f"{what} failed: {errors[0][:500]}")
    return done.stdout


# -- files --------------------------------------------------------------------------------------
def _file_entry(root: Path, path: Path) -> dict[str, Any]:
    return {"file": path.relative_to(root).as_posix(), "sha256": _sha256(path),
            "bytes": path.stat().st_size}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (not possible on every platform: best effort)."""
    with suppress(OSError):
        _fsync(path)


def _crmforge_version() -> str:
    try:
        return dist_version("crmforge")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "backup", "libpq_connection", "pg_bindir",
           "read_manifest", "restore"]
