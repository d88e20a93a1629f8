"""Database differences live here, nowhere else (the SQLAlchemy way).

SQLite: one file per tenant, transactional DDL through the pysqlite recipe (autocommit at
the driver, BEGIN emitted by us), write transactions start with BEGIN IMMEDIATE so two
writers queue instead of deadlocking on a lock upgrade, WAL so readers never wait.
PostgreSQL: one schema per tenant selected by ``search_path``; DDL waits at most a few
seconds for its lock instead of queueing every reader behind it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

WRITE_OPTION = "crmforge_write"


class Dialect:
    name = "generic"

    def create_engine(self, url: str, schema: str | None) -> sa.Engine:
        return sa.create_engine(url)

    def prepare_ddl(self, conn: sa.Connection) -> None:
        """Called inside a transaction before schema changes."""

    def ilike(self, column: Any, pattern: str) -> Any:
        return sa.func.lower(column).like(pattern.lower(), escape="\\")


class SQLiteDialect(Dialect):
    name = "sqlite"

    def create_engine(self, url: str, schema: str | None) -> sa.Engine:
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Referential actions stay off: integrity is kept by the record service, and a
            # table rebuild under foreign_keys=ON can cascade deletes (LIBRARY_NOTES.md).
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine


class PostgresDialect(Dialect):
    name = "postgresql"

    def create_engine(self, url: str, schema: str | None) -> sa.Engine:
        args: dict[str, Any] = {}
        if schema:
            args["options"] = f"-c search_path={schema}"
        return sa.create_engine(url, connect_args=args, pool_size=5, max_overflow=10,
                                pool_pre_ping=True)

    def prepare_ddl(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))

    def ilike(self, column: Any, pattern: str) -> Any:
        return column.ilike(pattern, escape="\\")


def dialect_for(url: str) -> Dialect:
    if url.startswith("sqlite"):
        return SQLiteDialect()
    if url.startswith("postgresql"):
        return PostgresDialect()
    raise ValueError("CRMForge runs on SQLite or PostgreSQL; the database URL names neither")
