"""The credentials version and the per-tenant cache of resolved tokens.

Resolving a bearer token used to cost a joined query (token, user, roles) on every request,
a quarter of a single-record GET. The answer barely ever changes, so each tenant keeps the
resolved rows in a bounded cache. What makes that safe is the **credentials version**: one
counter per tenant (``sys_credentials_version``), raised in the same transaction as every
change that could make a cached answer wrong (a revoked token or key, a deactivated user, a
new password, other roles, department, admin flag, login hours or addresses). Each request
reads the counter together with the metadata version in one tiny statement it needs anyway
(the snapshot), and uses a cached entry only when both versions are the ones it was read
under. A revocation therefore takes effect on the very next request, in every process.

The cache may only accept: a cached entry that fails any check (expiry, idle session, login
hours, address) is thrown away and the token is resolved from the database, whose answer
is the one given. Entries also expire after ``TTL_S`` seconds, which bounds the effect of a
change made outside CRMForge (an SQL console) that did not raise the version.

A tenant made before the counter existed gets the table at its next sign-in (or change);
until then tokens are resolved from the database on every request, as before.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..metadata.store import meta_versions
from .tables import credentials_version

#: Seconds a cached resolution is trusted at most, whatever the versions say.
TTL_S = 30.0
#: Resolved tokens kept per tenant (least recently used dropped first).
MAX_ENTRIES = 10_000
#: Seconds between checks for the counter table in a tenant that does not have it yet.
_RECHECK_S = 60.0


#: The counters of ``sys_credentials_version``, one row each: the credentials version, and
#: the sharing version (``sharing_widened``; security/branches.py).
CREDENTIALS_ROW = 1
SHARING_ROW = 2


def _raise(conn: sa.Connection, row: int) -> None:
    raised = conn.execute(credentials_version.update().where(credentials_version.c.id == row)
                          .values(version=credentials_version.c.version + 1))
    if raised.rowcount:
        return
    ensure(conn)
    conn.execute(credentials_version.update().where(credentials_version.c.id == row)
                 .values(version=credentials_version.c.version + 1))


def credentials_changed(conn: sa.Connection) -> None:
    """Raise the tenant's credentials version: every cached token resolution of the tenant
    is void once this transaction commits. Call it in the transaction of the change."""
    _raise(conn, CREDENTIALS_ROW)


def sharing_widened(conn: sa.Connection) -> None:
    """Raise the tenant's sharing version: a share, a temporary access or a department
    move may now let someone reach a record through a branch they had none in, so every
    cached "this reader has no such branch" (security/branches.py) is void once this
    transaction commits. Call it in the transaction of the change. Narrowing changes (a
    share removed, an access revoked) need not: a kept branch is only a wider predicate,
    and the predicate itself decides."""
    _raise(conn, SHARING_ROW)


def ensure(conn: sa.Connection) -> None:
    """Create the counters (the table and its rows) where an older tenant lacks them."""
    credentials_version.create(conn, checkfirst=True)
    have = set(conn.execute(sa.select(credentials_version.c.id)).scalars())
    for row in (CREDENTIALS_ROW, SHARING_ROW):
        if row not in have:
            conn.execute(credentials_version.insert().values(id=row, version=1))


#: The versions as scalar expressions (metadata, credentials, sharing): a dialect whose
#: read transactions begin with a statement of their own reads them there
#: (``Dialect.create_engine(read_probe=...)``). A missing row reads as NULL.
VERSION_PROBE: tuple[Any, Any, Any] = (
    sa.select(sa.func.max(meta_versions.c.version)).scalar_subquery(),
    sa.select(credentials_version.c.version).where(
        credentials_version.c.id == CREDENTIALS_ROW).scalar_subquery(),
    sa.select(credentials_version.c.version).where(
        credentials_version.c.id == SHARING_ROW).scalar_subquery(),
)
#: Built once: the statement is the same for every tenant and request.
_VERSIONS = sa.select(*VERSION_PROBE)
#: Its SQL per database dialect, constants inlined (compiled once).
_VERSIONS_SQL: dict[str, str] = {}


def _versions_row(conn: sa.Connection) -> tuple[int | None, int | None]:
    """Both versions. The statement is a constant of this module that every request runs,
    so its SQL is compiled once per dialect and sent as is: no statement construction or
    cache-key work per request, yet through SQLAlchemy's events like any other statement
    (logging, and the statement budgets the tests pin)."""
    name = conn.dialect.name
    sql = _VERSIONS_SQL.get(name)
    if sql is None:
        sql = _VERSIONS_SQL[name] = str(_VERSIONS.compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    meta, creds, _sharing = conn.exec_driver_sql(sql).one()
    return meta, creds


@dataclass(frozen=True)
class Resolved:
    """What a token resolves to: its row, its user's columns and roles (no judgement)."""

    user_id: int
    username: str
    is_admin: bool
    department_id: int | None
    active: bool
    login_hours: str | None
    ip_ranges: str | None
    token_id: int
    kind: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    roles: tuple[str, ...]


@dataclass(frozen=True)
class _Entry:
    resolved: Resolved
    versions: tuple[int, int]
    at: float  # time.monotonic() when cached


class CredentialCache:
    """Resolved tokens of one tenant, valid under a (metadata, credentials) version pair.

    Entries are immutable; the mapping is guarded by a lock and bounded. One instance per
    open tenant (``Tenant.credentials``): a tenant closed and reopened, as after a restore,
    starts empty.
    """

    def __init__(self, probed: Callable[[sa.Connection], tuple[Any, ...] | None]
                 = lambda _conn: None) -> None:
        #: The versions as the connection's transaction began, when its first statement
        #: read them (``VERSION_PROBE``); None: ask.
        self._probed = probed
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._missing_since: float | None = None  # the counter table was not there
        self._has_table = False

    def versions(self, conn: sa.Connection) -> tuple[int, int] | None:
        """(metadata version, credentials version) in one statement, or none when the
        transaction's first statement read them; None while the tenant has no counter
        (then nothing is cached)."""
        probed = self._probed(conn)
        if probed is not None and probed[1] is not None:
            return int(probed[0] or 0), int(probed[1])
        if not self._has_table:
            now = time.monotonic()
            if self._missing_since is not None and now - self._missing_since < _RECHECK_S:
                return None
            if not sa.inspect(conn).has_table(credentials_version.name):
                self._missing_since = now
                return None
            self._has_table = True
        meta, creds = _versions_row(conn)
        if creds is None:
            return None
        return int(meta or 0), int(creds)

    def get(self, token_hash: str, versions: tuple[int, int]) -> Resolved | None:
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                return None
            if entry.versions != versions or time.monotonic() - entry.at > TTL_S:
                del self._entries[token_hash]
                return None
            self._entries.move_to_end(token_hash)
            return entry.resolved

    def put(self, token_hash: str, versions: tuple[int, int], resolved: Resolved) -> None:
        with self._lock:
            self._entries[token_hash] = _Entry(resolved, versions, time.monotonic())
            self._entries.move_to_end(token_hash)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


__all__ = ["CREDENTIALS_ROW", "MAX_ENTRIES", "SHARING_ROW", "TTL_S", "VERSION_PROBE",
           "CredentialCache", "Resolved", "credentials_changed", "ensure", "sharing_widened"]
