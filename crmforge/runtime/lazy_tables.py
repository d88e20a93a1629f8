"""System tables created on first use: a tenant created before a feature existed gets the
feature's tables the first time it is used, without a migration step."""

from __future__ import annotations

import threading
import weakref

import sqlalchemy as sa

from .instance import Tenant


class LazyTables:
    """The tables of one ``MetaData``, created once per engine (``checkfirst``, so it is
    idempotent across processes). The engine counts as ready only once the creating
    transaction commits: when it joined a caller's write that rolls back, the next use
    creates the tables again."""

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata
        self._ready: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
        self._lock = threading.Lock()

    def ensure(self, tenant: Tenant) -> None:
        engine = tenant.engine
        with self._lock:
            if engine in self._ready:
                return
        with tenant.write() as conn:
            tenant.dialect.lock_system_ddl(conn)
            self.metadata.create_all(conn, checkfirst=True)
        tenant.after_commit(lambda: self._mark(engine))

    def _mark(self, engine: sa.Engine) -> None:
        with self._lock:
            self._ready.add(engine)


__all__ = ["LazyTables"]
