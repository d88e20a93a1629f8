"""Instances the benchmarks run on: the cached big table and throwaway scratch instances.

The big table (1M rows by default) takes tens of seconds to load, so it is built once into
``benchmarks/results/cache/`` and reused while its marker matches (row count, data version,
database URL, and the shape of CRMForge's own system tables, which changes as the platform
grows) and the table really holds that many rows; ``--fresh`` rebuilds it.

On SQLite each run works on a copy of the cached folder, so benchmarks that change the
schema (add_field_online) never touch the cache. PostgreSQL schemas cannot be copied
cheaply; there the dataset is shared and such benchmarks undo their own changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crmforge.composition import wire
from crmforge.runtime import Designer, Instance, Tenant
from crmforge.security import SYSTEM

from .config import ADMIN_PASSWORD, RESULTS_DIR, RunConfig
from .data import bulk_load, object_doc
from .timing import timed

#: Bump when the object document or the row generator changes: old caches get rebuilt.
DATASET_VERSION = 2
DATASET_OBJECT = "deal"
MARKER = "dataset.json"
WORK_DIR = RESULTS_DIR / "work"


@dataclass
class Workspace:
    """An open instance plus how to get rid of it."""

    instance: Instance
    shared: bool  # True: other runs reuse it, so undo schema changes
    info: dict[str, Any] = field(default_factory=dict)
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def tenant(self) -> Tenant:
        return self.instance.tenant("default")

    def on_close(self, step: Callable[[], None]) -> None:
        """Run ``step`` at close, after the engines are disposed (last added runs first)."""
        self._cleanup.append(step)

    def close(self) -> None:
        self.instance.dispose()
        for step in reversed(self._cleanup):
            step()


def log(message: str) -> None:
    """Progress goes to stderr so stdout carries only the result table."""
    print(message, file=sys.stderr, flush=True)


# -- PostgreSQL schema bookkeeping ----------------------------------------------------------
def _schema_names(prefix: str) -> list[str]:
    """The schemas ``Instance`` creates for ``prefix`` (naming of crmforge.runtime.instance)."""
    return [prefix + "control", prefix + "t_default"]


def _drop_schemas(url: str, schemas: list[str]) -> None:
    engine = sa.create_engine(url)
    quote = engine.dialect.identifier_preparer.quote
    try:
        with engine.begin() as conn:
            for name in schemas:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {quote(name)} CASCADE"))
    finally:
        engine.dispose()


def _new_instance(path: Path, url: str | None, prefix: str) -> Instance:
    if url:
        _drop_schemas(url, _schema_names(prefix))  # leftovers of an interrupted run
        return wire(Instance.init(path, ADMIN_PASSWORD, database_url=url, schema_prefix=prefix))
    return wire(Instance.init(path, ADMIN_PASSWORD))


# -- scratch instances ----------------------------------------------------------------------
def open_scratch(config: RunConfig, label: str = "scratch") -> Workspace:
    """A fresh instance for benchmarks that create their own small objects."""
    clear_stale_work()
    path = WORK_DIR / f"{label}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    prefix = f"bs{secrets.token_hex(3)}_"
    inst = _new_instance(path, config.database_url, prefix)
    ws = Workspace(inst, shared=False)
    ws.on_close(lambda: shutil.rmtree(path, ignore_errors=True))
    if config.database_url:
        url = config.database_url
        ws.on_close(lambda: _drop_schemas(url, _schema_names(prefix)))
    return ws


def clear_stale_work() -> None:
    """Remove work folders of runs that died (their process id is gone)."""
    if not WORK_DIR.exists():
        return
    for entry in WORK_DIR.iterdir():
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the cached big table -------------------------------------------------------------------
def _cache_dir(config: RunConfig) -> Path:
    return RESULTS_DIR / "cache" / f"{config.dialect_name}-{config.sizes.rows}"


def _wanted_marker(config: RunConfig, system_schema: str) -> dict[str, Any]:
    return {"rows": config.sizes.rows, "version": DATASET_VERSION, "object": DATASET_OBJECT,
            "database_url": config.database_url, "system_schema": system_schema}


def schema_fingerprint(inst: Instance) -> str:
    """A hash of the system tables' columns in the control and tenant databases.

    An instance built by an older CRMForge may lack tables or columns the current code
    uses (the platform has no upgrade step for them yet); such a cache must be rebuilt.
    """
    shape = []
    for engine in (inst.control, inst.tenant("default").engine):
        inspector = sa.inspect(engine)
        for table in sorted(inspector.get_table_names()):
            if table.startswith(("obj_", "rb_", "sqlite_")):
                continue
            columns = sorted(f"{c['name']}:{c['type']}" for c in inspector.get_columns(table))
            shape.append(f"{table}({','.join(columns)})")
    return hashlib.sha256("\n".join(shape).encode()).hexdigest()[:16]


def current_fingerprint(config: RunConfig) -> str:
    """The fingerprint of a brand-new instance: what the current code creates."""
    probe = open_scratch(config, "probe")
    try:
        return schema_fingerprint(probe.instance)
    finally:
        probe.close()


def _row_count(inst: Instance) -> int:
    tenant = inst.tenant("default")
    with tenant.read() as conn:
        table = tenant.schema(tenant.snapshot(conn)).table(DATASET_OBJECT)
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _cache_is_valid(path: Path, config: RunConfig, fingerprint: str) -> bool:
    marker = path / MARKER
    if not marker.exists():
        return False
    stored = json.loads(marker.read_text())
    wanted = _wanted_marker(config, fingerprint)
    if {k: stored.get(k) for k in wanted} != wanted:
        log(f"cached dataset at {path} was built for other settings or an older CRMForge")
        return False
    inst = wire(Instance.open(path))
    try:
        return _row_count(inst) == config.sizes.rows
    except Exception as exc:  # a half-built or foreign cache is rebuilt, not trusted
        log(f"cached dataset at {path} is unusable ({exc}); rebuilding")
        return False
    finally:
        inst.dispose()


def _build_cache(path: Path, config: RunConfig) -> float:
    """Build the dataset into ``path``; the load time in seconds."""
    building = path.with_name(path.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    prefix = f"bds{config.sizes.rows}_"
    inst = _new_instance(building, config.database_url, prefix)
    try:
        fingerprint = schema_fingerprint(inst)
        Designer(inst.tenant("default")).create_object(SYSTEM, object_doc(DATASET_OBJECT))
        seconds = _load(inst.tenant("default"), config.sizes.rows)
    finally:
        inst.dispose()
    marker = {**_wanted_marker(config, fingerprint), "load_seconds": seconds}
    (building / MARKER).write_text(json.dumps(marker))
    shutil.rmtree(path, ignore_errors=True)
    building.rename(path)
    return seconds


def _load(tenant: Tenant, rows: int) -> float:
    """Fill the object's table in one transaction, with progress on stderr."""
    def run() -> None:
        with tenant.write() as conn:
            table = tenant.schema(tenant.snapshot(conn)).table(DATASET_OBJECT)
            next_report = 0
            for done in bulk_load(conn, table, rows):
                if done >= next_report or done == rows:
                    log(f"  loaded {done:,} / {rows:,} rows")
                    next_report = done + max(rows // 10, 1)

    _, seconds = timed(run)
    return seconds


def _copy_warm(source: Path, target: Path) -> None:
    """Copy the cached instance and read the copy once.

    A copy may share blocks with its source (reflinks) without being in the page cache;
    the first random reads would then measure the disk, not CRMForge. A server that has
    been up a while has its hot file cached, so the benchmarks start from there too.
    """
    shutil.copytree(source, target)
    for file in target.rglob("*.db"):
        with file.open("rb") as handle:
            while handle.read(1 << 20):
                pass


def open_dataset(config: RunConfig) -> Workspace:
    """The big table, loaded (or reused from the cache) and opened for this run."""
    path = _cache_dir(config)
    reused = not config.fresh and _cache_is_valid(path, config, current_fingerprint(config))
    if reused:
        load_seconds = json.loads((path / MARKER).read_text()).get("load_seconds")
        log(f"reusing cached dataset {path} ({config.sizes.rows:,} rows)")
    else:
        log(f"building dataset {path} ({config.sizes.rows:,} rows) ...")
        load_seconds = _build_cache(path, config)
        log(f"bulk load of {config.sizes.rows:,} rows took {load_seconds:.1f} s")
    info = {"rows": config.sizes.rows, "cache": str(path), "reused": reused,
            "bulk_load_seconds": round(load_seconds, 2) if load_seconds is not None else None}
    if config.database_url:
        return Workspace(wire(Instance.open(path)), shared=True, info=info)
    clear_stale_work()
    work = WORK_DIR / f"dataset-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    _, copy_seconds = timed(lambda: _copy_warm(path, work))
    info["copy_seconds"] = round(copy_seconds, 2)
    ws = Workspace(wire(Instance.open(work)), shared=False, info=info)
    ws.on_close(lambda: shutil.rmtree(work, ignore_errors=True))
    return ws
