"""The versioned metadata store: every published change is a new full snapshot.

A snapshot row holds the whole tenant metadata as JSON with who, when, a summary and the
diff against the previous version. Rollback publishes an old snapshot again as a new
version, so history only grows. Parsed snapshots are cached by (tenant, version); they are
immutable, so a cached one can be shared by concurrent requests.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import NotFound
from .model import Snapshot

system_metadata = sa.MetaData()

meta_versions = sa.Table(
    "sys_meta_versions",
    system_metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("author", sa.String(150)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("diff", sa.Text, nullable=False),
)

_CACHE_SIZE = 64
_cache: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()
_lock = threading.Lock()


#: The snapshot a connection's open transaction published, until the connection is gone.
_pending: weakref.WeakKeyDictionary[sa.Connection, Snapshot] = weakref.WeakKeyDictionary()


#: The metadata version a connection's transaction has already read (with the credentials
#: version, in the request's first statement): its snapshot then needs no query of its own.
_noted: weakref.WeakKeyDictionary[sa.Connection, int] = weakref.WeakKeyDictionary()


def note_version(conn: sa.Connection, version: int) -> None:
    """Remember that ``conn``'s open transaction found ``version`` current. Only for
    transactions that read (a write that publishes forgets it), and only until the
    transaction ends (``forget_version``)."""
    _noted[conn] = version


def forget_version(conn: sa.Connection) -> None:
    _noted.pop(conn, None)


#: The current-version query, built once; its SQL per database dialect (compiled once).
_CURRENT = sa.select(sa.func.max(meta_versions.c.version))
_CURRENT_SQL: dict[str, str] = {}


def current_version(conn: sa.Connection) -> int:
    """The newest published version, as this transaction sees it. Every write asks it
    (a write's transaction is its own), so its SQL is compiled once per dialect and sent as
    is, without statement construction or cache-key work per write."""
    noted = _noted.get(conn)
    if noted is not None:
        return noted
    name = conn.dialect.name
    sql = _CURRENT_SQL.get(name)
    if sql is None:
        sql = _CURRENT_SQL[name] = str(_CURRENT.compile(dialect=conn.dialect))
    v = conn.exec_driver_sql(sql).scalar()
    return int(v or 0)


def load(conn: sa.Connection, tenant_key: str, version: int | None = None) -> Snapshot:
    """The snapshot at ``version`` (default: current), from the cache when possible."""
    if version is None:
        version = current_version(conn)
    if version == 0:
        return Snapshot.empty()
    key = (tenant_key, version)
    pending = _pending.get(conn)
    if pending is not None and pending.version == version:
        # Published by this very transaction: kept with the connection, not in the cache,
        # since a rollback would leave another change free to publish a different
        # snapshot under the same number.
        return pending
    with _lock:
        snap = _cache.get(key)
        if snap is not None:
            _cache.move_to_end(key)
            return snap
    row = conn.execute(
        sa.select(meta_versions.c.snapshot).where(meta_versions.c.version == version)
    ).first()
    if row is None:
        raise NotFound(f"metadata version {version} does not exist")
    snap = Snapshot.from_data(version, json.loads(row[0]))
    with _lock:
        _cache[key] = snap
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return snap


def publish(
    conn: sa.Connection,
    tenant_key: str,
    base: Snapshot,
    data: Mapping[str, Any],
    *,
    author: str | None,
    summary: str,
    diff: list[dict[str, Any]],
    snapshot: Snapshot | None = None,
) -> Snapshot:
    """Store ``data`` as the version after ``base``; the primary key refuses a lost race."""
    version = base.version + 1
    conn.execute(
        meta_versions.insert().values(
            version=version,
            snapshot=json.dumps(data, ensure_ascii=False, sort_keys=True),
            author=author,
            created_at=clock.now().replace(tzinfo=None),
            summary=summary[:500],
            diff=json.dumps(diff, ensure_ascii=False),
        )
    )
    # The caller's snapshot of ``data`` when it has one (it must have ``version``).
    published = snapshot if snapshot is not None and snapshot.version == version \
        else Snapshot.from_data(version, data)
    _pending[conn] = published
    _noted.pop(conn, None)
    return published


def history(conn: sa.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(
            meta_versions.c.version, meta_versions.c.author, meta_versions.c.created_at,
            meta_versions.c.summary, meta_versions.c.diff,
        ).order_by(meta_versions.c.version.desc()).limit(limit)
    )
    return [
        {
            "version": r.version,
            "author": r.author,
            "created_at": r.created_at.isoformat(timespec="seconds") + "Z",
            "summary": r.summary,
            "diff": json.loads(r.diff),
        }
        for r in rows
    ]
