"""Database differences live here, nowhere else (the SQLAlchemy way).

SQLite: one file per tenant, transactional DDL through the pysqlite recipe (autocommit at
the driver, BEGIN emitted by us), write transactions start with BEGIN IMMEDIATE so two
writers queue instead of deadlocking on a lock upgrade, WAL so readers never wait.
PostgreSQL (psycopg 3): one schema per tenant selected by ``search_path``; DDL waits at
most a few seconds for its lock instead of queueing every reader behind it.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.dialects.sqlite.base import SQLiteDialect as _SQLAlchemySQLite

from ...metadata.store import meta_versions

WRITE_OPTION = "crmforge_write"
#: Execution option of statements kept across requests (``runtime.statements.kept``): the
#: database may keep their plan. PostgreSQL prepares them; SQLite's driver already keeps
#: every recent statement prepared.
PREPARE_OPTION = "crmforge_prepare"
#: Quotes identifiers the way SQLite reads them (index names in FROM hints).
sqlite_dialect = _SQLAlchemySQLite()
#: Rows per index a SQLite ANALYZE (PRAGMA optimize) reads: statistics without full scans,
#: so a value's count in ``sqlite_stat1`` near this number is a floor, not an estimate.
ANALYSIS_LIMIT = 1000
#: Idle SQLite connections a tenant keeps, and how many more it opens under load.
SQLITE_POOL = (3, 7)


def busy_timeout_s() -> float:
    """Seconds a SQLite write waits for another write's lock before it answers 503
    (``CRMFORGE_SQLITE_BUSY_TIMEOUT``, default 30). Reads never wait: they take no lock."""
    try:
        return max(0.0, float(os.environ.get("CRMFORGE_SQLITE_BUSY_TIMEOUT", "30")))
    except ValueError:
        return 30.0


@functools.lru_cache(maxsize=64)
def _inlined_sql(stmt: sa.Select[Any], dialect: sa.Dialect) -> str:
    """``stmt`` compiled once per database with its constants inlined: a question every
    listened-to write asks costs no construction or cache-key work (about 40 us each)."""
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


@dataclass(frozen=True)
class _InsertPlan:
    """An INSERT of given columns, compiled once: its SQL, whether the driver takes
    positional values, and per column the type's bind processor (or None)."""

    sql: str
    positional: bool
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def params(self, rows: Sequence[Mapping[str, Any]], *,
               positional: bool | None = None) -> list[Any]:
        """The rows as the driver takes them (tuples in ``columns`` order when
        ``positional``, default the statement's style). A value that is the same object
        as the row before's (the write's time in every row) is processed once."""
        positional = self.positional if positional is None else positional
        names = tuple(k for k, _ in self.columns)
        get = operator.itemgetter(*names)
        procs = [(i, p, [_UNSET, None]) for i, (_, p) in enumerate(self.columns) if p]
        out: list[Any] = []
        for row in rows:
            values = get(row)
            if len(names) == 1:
                values = (values,)
            if procs:
                values = list(values)
                for i, proc, last in procs:
                    v = values[i]
                    if v is not last[0]:
                        last[0], last[1] = v, proc(v)
                    values[i] = last[1]
                values = tuple(values)  # (SQLAlchemy takes tuples or dicts only)
            out.append(values if positional else dict(zip(names, values, strict=True)))
        return out


_UNSET = object()


@functools.lru_cache(maxsize=256)
def _insert_plan(table: sa.Table, keys: tuple[str, ...], dialect: sa.Dialect) -> _InsertPlan | None:
    """The plan of ``insert_many`` for ``table`` and ``keys``, or None when the compiled
    statement does not bind exactly those names (then SQLAlchemy's own path is taken)."""
    compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
    positional = bool(compiled.positional)
    names = list(compiled.positiontup or ()) if positional else list(compiled.binds)
    if sorted(names) != sorted(keys):
        return None
    columns = tuple(
        (k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect))
        for k in (names if positional else keys))
    return _InsertPlan(str(compiled), positional, columns)


@dataclass(frozen=True)
class _ReadPlan:
    """A SELECT kept across requests, compiled once for the driver: its SQL, per
    positional parameter either the name of a per-request value and its bind processor
    or the statement's own constant (processed once), and per result column its name and
    result processor."""

    sql: str
    binds: tuple[tuple[str | None, Any, Callable[[Any], Any] | None], ...]
    columns: tuple[str, ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, constant, proc in self.binds:
            if name is None:
                out.append(constant)
            else:
                value = params[name]
                out.append(proc(value) if proc is not None and value is not None else value)
        return tuple(out)

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        values = list(raw)
        for i, proc in self.results:
            values[i] = proc(values[i])
        return dict(zip(self.columns, values, strict=True))


@functools.lru_cache(maxsize=1024)
def _read_plan(stmt: sa.Select[Any], dialect: sa.Dialect) -> _ReadPlan | None:
    """The driver-level plan of ``stmt``, or None when it has what the plan does not
    model (expanding or computed parameters, unnamed columns): SQLAlchemy runs it then."""
    compiled = stmt.compile(dialect=dialect)
    if not compiled.positional or compiled.positiontup is None \
            or getattr(compiled, "_post_compile_expanded_state", None) is not None \
            or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    binds: list[tuple[str | None, Any, Callable[[Any], Any] | None]] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.callable is not None:
            return None
        if bind.required:  # a value given per request (the record id, the time)
            binds.append((name, None, proc))
        else:
            value = bind.value
            binds.append((None, proc(value) if proc is not None and value is not None
                          else value, None))
    columns: list[str] = []
    results: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(stmt.selected_columns):
        label = getattr(column, "name", None)
        if not isinstance(label, str) or label in columns:
            return None
        columns.append(label)
        proc = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if proc is not None:
            results.append((i, proc))
    return _ReadPlan(str(compiled), tuple(binds), tuple(columns), tuple(results))


def _listened(conn: sa.Connection) -> bool:
    """Whether anyone listens to ``conn``'s statements (tests counting them, tracing):
    a statement run at the driver would pass them by, so SQLAlchemy runs it then."""
    dispatch = conn.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute
                or dispatch.before_execute or dispatch.after_execute)


class Dialect:
    name = "generic"
    #: Whether list pages need ``runtime.plans`` to steer the planner to the sort index.
    steers_lists = False
    #: Whether a list's visibility predicate leaves out the share and temporary-access
    #: branches a probe finds empty for the reader (one more statement per request).
    #: SQLite's planner pays for an OR over subqueries that can match nothing: it stops
    #: testing the scope on the index entry. PostgreSQL evaluates each branch as a hashed
    #: subplan built once per statement, so there the probe's round trip costs more than
    #: the branches it removes (decision 0031).
    probes_visibility = False
    #: Whether a read transaction may go on as a record write (``Tenant.write(promote=)``):
    #: not on SQLite, where a reader's snapshot cannot take the write lock.
    promotes_reads = False

    def walk_index(self, stmt: sa.Select[Any], table: sa.Table, index: str) -> sa.Select[Any]:
        """``stmt`` reading ``table`` through ``index`` ("": in primary key order)."""
        return stmt

    def estimated_rows(self, conn: sa.Connection, stmt: sa.Select[Any]) -> int | None:
        """The planner's estimate of the rows ``stmt`` returns, or None without one."""
        return None

    def create_engine(self, url: str, schema: str | None,
                      read_probe: tuple[Any, ...] = ()) -> sa.Engine:
        """An engine for one namespace. ``read_probe``: scalar expressions a read
        transaction may need first (the metadata and credentials versions); a dialect
        whose transactions begin with a statement of their own reads them in it, which
        ``probed`` then answers. Others ignore them."""
        return sa.create_engine(url)

    def probed(self, conn: sa.Connection) -> tuple[Any, ...] | None:
        """The read probe's values as ``conn``'s open read transaction began, or None when
        they were not read (the caller then asks the database itself)."""
        return None

    def prepare_ddl(self, conn: sa.Connection) -> None:
        """Called inside a transaction before schema changes."""

    def lock_metadata(self, conn: sa.Connection) -> None:
        """Called first in a metadata change's write transaction: one change at a time.

        SQLite needs nothing: a write transaction (BEGIN IMMEDIATE) already excludes others.
        """

    def lock_system_ddl(self, conn: sa.Connection) -> None:
        """Called before system tables are created on first use (``LazyTables``): two
        transactions that both find a table missing must not both create it.

        SQLite needs nothing: a write transaction already excludes others.
        """

    def ilike(self, column: Any, pattern: str) -> Any:
        return sa.func.lower(column).like(pattern.lower(), escape="\\")

    def insert(self, table: sa.Table) -> Any:
        """An INSERT that knows ``ON CONFLICT`` (both our databases speak it)."""
        raise NotImplementedError

    def insert_many(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (the same keys in each) in one executemany, the statement
        compiled once per table and keys and each value through its column type's bind
        processor, as SQLAlchemy would, but without its per-row parameter assembly (a
        third of an import's insert cost: history and records go through here)."""
        if not rows:
            return
        plan = _insert_plan(table, tuple(rows[0]), conn.dialect)
        if plan is None:
            conn.execute(table.insert(), list(rows))
            return
        conn.exec_driver_sql(plan.sql, plan.params(rows))

    def first(self, conn: sa.Connection, stmt: sa.Select[Any],
              params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The first row of a kept statement (``runtime.statements``) as a mapping of
        column names to values, or None. A dialect may run it at the driver, where most of
        a single-record read's own cost was SQLAlchemy's execution machinery."""
        row = conn.execute(stmt, dict(params)).first()
        return None if row is None else cast(Mapping[str, Any], row._mapping)

    def insert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` (same keys each) and return their new ids in the rows' order:
        one INSERT ... RETURNING for the lot (PostgreSQL sends it in batches, ordered)."""
        result = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True),
                              rows)
        return [int(r[0]) for r in result]

    def next_in_sequence(self, conn: sa.Connection, table: sa.Table, key: str,
                         start: int) -> int:
        """The next value of counter ``key`` in one atomic statement: the first caller
        inserts ``start``, later ones add one, and two transactions can never both take
        the first value (an UPDATE-then-INSERT could, under READ COMMITTED)."""
        stmt = self.insert(table).values(key=key, value=start)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.key],
                                          set_={"value": table.c.value + 1})
        return int(conn.execute(stmt.returning(table.c.value)).scalar_one())


    def unique_violation(self, exc: sa.exc.IntegrityError, table: sa.Table) -> str | None:
        """The column of ``table`` whose unique index refused a write, or None when the
        error is something else."""
        return None

    def lock_outbox(self, conn: sa.Connection, key: int) -> None:
        """Hold, until ``conn``'s transaction ends, the lock that orders a tenant's event
        outbox (``key``): writers take it just before inserting their events, so events
        get their ids in the order their transactions commit, and a reader that sees an
        event sees every event before it. SQLite has one writer at a time already."""

    def append_outbox(self, conn: sa.Connection, key: int, table: sa.Table,
                      rows: list[dict[str, Any]], waiting: sa.Select[Any] | None) -> bool:
        """Insert a transaction's events (``rows``, all with the same keys, into the
        outbox ``table``) under the outbox lock (``lock_outbox``), then ask ``waiting``
        whether the consumers' job already waits; whether it found a row (False when
        there is no question). Every write somebody listens to pays for this, so a
        dialect may send the three in one round trip."""
        self.lock_outbox(conn, key)
        conn.execute(table.insert(), rows)
        if waiting is None:
            return False
        return conn.exec_driver_sql(_inlined_sql(waiting, conn.dialect)).first() is not None

    def dispose_engine(self, engine: sa.Engine) -> None:
        """Close the connections of an engine ``create_engine`` made (a tenant closed)."""
        engine.dispose()

    def close(self) -> None:
        """Release what the dialect shares between engines (the instance is closing)."""

    def write_refusal(self, exc: sa.exc.OperationalError) -> str | None:
        """Why the database refuses writes for now (the write answers 503 with it), or
        None when the error is something else."""
        return None


class _SQLiteCompiler(SQLiteCompiler):
    """Renders FROM hints (``Select.with_hint(table, text, "sqlite")``) after the table
    name, as MySQL's compiler does: SQLite's ``INDEXED BY`` / ``NOT INDEXED``."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


class SQLiteDialect(Dialect):
    name = "sqlite"
    steers_lists = True
    probes_visibility = True

    def __init__(self) -> None:
        #: What each connection's read transaction probed as it began (``probed``).
        self._probed: weakref.WeakKeyDictionary[sa.Connection, tuple[Any, ...]] = \
            weakref.WeakKeyDictionary()

    def walk_index(self, stmt: sa.Select[Any], table: sa.Table, index: str) -> sa.Select[Any]:
        """The planner may use no other index for ``table`` (the names come from metadata,
        quoted like any identifier); with "" it reads the table itself, in id order."""
        if not index:
            return stmt.with_hint(table, "NOT INDEXED", "sqlite")
        quoted = sqlite_dialect.identifier_preparer.quote(index)
        return stmt.with_hint(table, f"INDEXED BY {quoted}", "sqlite")

    def insert(self, table: sa.Table) -> Any:
        return sqlite_insert(table)

    def first(self, conn: sa.Connection, stmt: sa.Select[Any],
              params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """At the driver, on the transaction's own connection: a quarter of what
        SQLAlchemy's execution costs (5 us against 24 us for a permission-filtered lookup
        by id). Anything unusual (someone listening to statements, a statement the plan
        does not model, a driver error, which SQLAlchemy then reports its own way) goes the
        usual way."""
        plan = None if _listened(conn) else _read_plan(stmt, conn.dialect)
        if plan is not None:
            try:
                raw = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    plan.sql, plan.values(params)).fetchone()
            except (sqlite3.Error, KeyError):
                pass
            else:
                return None if raw is None else plan.row(raw)
        return super().first(conn, stmt, params)

    def insert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: list[dict[str, Any]]) -> list[int]:
        """The ids SQLite would give, given here: a rowid table assigns the largest id plus
        one to each new row, and a write transaction (BEGIN IMMEDIATE) holds the only write
        lock, so nobody else can take them meanwhile. Then one plain executemany: with
        RETURNING in the rows' order SQLAlchemy has to send SQLite one INSERT per row."""
        if len(rows) == 1:
            return super().insert_rows(conn, table, rows)
        top = int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)
        ids = list(range(top + 1, top + 1 + len(rows)))
        self.insert_many(conn, table, [{**row, "id": rid}
                                       for row, rid in zip(rows, ids, strict=True)])
        return ids

    def unique_violation(self, exc: sa.exc.IntegrityError, table: sa.Table) -> str | None:
        # "UNIQUE constraint failed: obj_booth.number"
        prefix = "UNIQUE constraint failed: "
        text = str(exc.orig)
        if not text.startswith(prefix):
            return None
        qualified = text[len(prefix):].split(",")[0].strip()
        table_name, _, column = qualified.rpartition(".")
        return column if table_name == table.name and column in table.c else None

    #: SQLite's error texts for a write that cannot happen now, and what we answer.
    _REFUSALS = (
        ("database is locked", "the database is busy with a long change; try again shortly"),
        ("database or disk is full", "the disk is full; changes are refused until space is "
                                     "freed"),
        ("readonly database", "the database is read-only; changes are refused"),
        ("disk I/O error", "the disk cannot be written; changes are refused"),
    )

    def write_refusal(self, exc: sa.exc.OperationalError) -> str | None:
        text = str(exc.orig)
        return next((answer for needle, answer in self._REFUSALS if needle in text), None)

    def create_engine(self, url: str, schema: str | None,
                      read_probe: tuple[Any, ...] = ()) -> sa.Engine:
        busy = busy_timeout_s()
        path = sa.engine.make_url(url).database or ""

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(path, timeout=busy, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return conn
            except sqlite3.OperationalError:
                conn.close()
                folder = os.path.dirname(os.path.abspath(path))
                if os.access(folder, os.W_OK):
                    raise
            # Read-only storage: a WAL database cannot make its shared-memory file there.
            # Nobody can write it either, so it opens immutable and reads go on (writes
            # answer 503: "readonly database").
            return sqlite3.connect(f"file:{path}?immutable=1", uri=True, timeout=busy,
                                   check_same_thread=False)

        # A few idle connections per tenant (three files each): with the bounded cache of
        # open tenants (Instance), a process stays far below 1,024 file descriptors.
        engine = sa.create_engine(url, creator=connect, pool_size=SQLITE_POOL[0],
                                  max_overflow=SQLITE_POOL[1])
        engine.dialect.statement_compiler = _SQLiteCompiler  # FROM hints (walk_index)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            with contextlib.suppress(sqlite3.OperationalError):  # immutable: already WAL
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Referential actions stay off: integrity is kept by the record service, and a
            # table rebuild under foreign_keys=ON can cascade deletes (LIBRARY_NOTES.md).
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            # Bounded ANALYZE for PRAGMA optimize below: statistics without full scans.
            cur.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            cur.close()

        @event.listens_for(engine, "checkin")
        def _optimize(dbapi_conn: Any, record: Any) -> None:
            # Without statistics SQLite picks poor plans on big tables (a filtered list at
            # 1M rows: 860 ms vs 22 ms). SQLite asks for PRAGMA optimize now and then on
            # long-lived connections; once every ten minutes per pooled connection.
            now = time.monotonic()
            if now - record.info.get("optimized_at", 0.0) > 600:
                record.info["optimized_at"] = now
                with contextlib.suppress(Exception):  # statistics are an optimisation only
                    dbapi_conn.execute("PRAGMA optimize")

        probe_sql = _literal_sql(engine, sa.select(*read_probe), None) if read_probe else None
        probed = self._probed
        missing = threading.Event()  # a table of the probe is not there (an older tenant)

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            probed.pop(conn, None)
            if conn.get_execution_options().get(WRITE_OPTION):
                # Through SQLAlchemy: a busy database raises its OperationalError here,
                # which Tenant.write turns into a 503.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            # A read's BEGIN (deferred) takes no lock and cannot fail on one: straight to
            # the driver, without the execution machinery every request would pay for.
            # Its first statement, the read probe, fixes the transaction's snapshot: the
            # versions it reads are the ones the rest of the transaction sees.
            driver: Any = conn.connection.driver_connection
            driver.execute("BEGIN")
            if probe_sql is None or missing.is_set():
                return
            try:
                row = driver.execute(probe_sql).fetchone()
            except sqlite3.OperationalError:  # no such table: the caller asks itself
                missing.set()
                return
            probed[conn] = tuple(row)

        return engine

    def probed(self, conn: sa.Connection) -> tuple[Any, ...] | None:
        return self._probed.get(conn)


#: The first key of the event outbox's advisory lock (the second names the tenant).
OUTBOX_LOCK = 0x43524D46  # "CRMF"
_OUTBOX_LOCK_SQL = sa.text("SELECT pg_advisory_xact_lock(:space, :key)")


class PostgresDialect(Dialect):
    name = "postgresql"
    promotes_reads = True

    #: SQLSTATEs of a write that cannot happen now, and what we answer.
    _REFUSALS = MappingProxyType({
        "55P03": "the database is busy with a long change; try again shortly",
        "53100": "the disk is full; changes are refused until space is freed",
        "25006": "the database is read-only; changes are refused",
        "53200": "the database is out of memory; try again shortly",
    })

    def write_refusal(self, exc: sa.exc.OperationalError) -> str | None:
        return self._REFUSALS.get(str(getattr(exc.orig, "sqlstate", "") or ""))

    def __init__(self) -> None:
        self._shared: dict[str, sa.Engine] = {}
        self._lock = threading.Lock()
        #: What each connection's read transaction probed at its start (``probed``).
        self._probed: weakref.WeakKeyDictionary[sa.Connection, tuple[Any, ...]] = \
            weakref.WeakKeyDictionary()
        #: The outbox's one statement and its fixed values, compiled once (``append_outbox``).
        self._outbox_sql: dict[tuple[str, tuple[str, ...], Any], tuple[str, dict[str, Any]]] = {}

    def shared_engine(self, url: str) -> sa.Engine:
        """The process's one pool for every tenant on this server (and the control
        schema): 1,000 tenants share ``pool_limits()`` connections instead of each keeping
        its own pool (50 tenants exhausted ``max_connections=100``)."""
        with self._lock:
            engine = self._shared.get(url)
            if engine is None:
                # No automatic server-side prepared statements: psycopg would prepare a
                # query after 5 runs on a connection, and once another pooled connection
                # changes a column's type (a field type change) the next run fails with
                # "cached plan must not change result type". Only statements kept per
                # snapshot, whose text names the snapshot, are prepared (``_prepared``).
                # Nothing is set per session either: the schema and time zone are set per
                # transaction (PgBouncer's transaction mode hands each transaction any
                # server connection; it keeps prepared statements from version 1.21 with
                # max_prepared_statements, else set CRMFORGE_PG_PREPARE=0).
                pool_size, overflow = pool_limits()
                driver_args: dict[str, Any] = {"prepare_threshold": NEVER_BY_COUNT}
                if sa.engine.make_url(psycopg_url(url)).get_driver_name() == "psycopg":
                    driver_args["autocommit"] = True  # transactions begun by create_engine
                engine = sa.create_engine(psycopg_url(url), connect_args=driver_args,
                                          pool_size=pool_size, max_overflow=overflow,
                                          pool_recycle=IDLE_RECYCLE_S)
                event.listen(engine, "checkin", _note_checkin)
                event.listen(engine, "checkout", _ping_if_idle)
                if engine.dialect.driver == "psycopg" and prepared_statements():
                    event.listen(engine, "do_execute", _prepared)
                self._shared[url] = engine
            return engine

    def create_engine(self, url: str, schema: str | None,
                      read_probe: tuple[Any, ...] = ()) -> sa.Engine:
        """A view of the shared pool whose transactions run in ``schema``: each begins
        with ``set_config('search_path', ..., true)`` (``SET LOCAL``), and in UTC, since
        stored times are naive UTC and the server's TimeZone would shift aware values.

        With psycopg 3 the driver runs in autocommit mode and the transaction is begun
        here, ``BEGIN`` and the settings in one round trip (the pysqlite recipe, on
        PostgreSQL): psycopg's ``commit()`` and ``rollback()`` act on the server's
        transaction state, so SQLAlchemy ends it as usual. A read transaction's first
        statement also reads ``read_probe`` (its tables named with the schema: the search
        path is only being set by that statement), so a request learns the metadata and
        credentials versions without a round trip of its own. Writes do not: a metadata
        change takes an exclusive lock on the versions table later in its transaction,
        and two such changes holding a share lock from their first statement would
        deadlock. When a table of the probe is missing (a tenant older than it) the probe
        is left out."""
        shared = self.shared_engine(url)
        engine = shared.execution_options()
        path = f'"{schema}"' if schema else "public"
        settings = [sa.func.set_config("search_path", path, True),
                    sa.func.set_config("TimeZone", "UTC", True)]
        probe = read_probe if read_probe and self._tables_exist(shared, schema, read_probe) \
            else ()
        probed = self._probed
        if shared.dialect.driver != "psycopg":  # another driver: its own transactions
            plain = sa.select(*settings)

            @event.listens_for(engine, "begin")
            def _tenant(conn: sa.Connection) -> None:
                probed.pop(conn, None)
                conn.execute(plain)

            return engine
        begin_plain = "BEGIN; " + _literal_sql(shared, sa.select(*settings), schema)
        begin_probing = "BEGIN; " + _literal_sql(shared, sa.select(*settings, *probe), schema)

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            write = not probe or conn.get_execution_options().get(WRITE_OPTION)
            row = _run_first(conn, begin_plain if write else begin_probing)
            if write:
                probed.pop(conn, None)
            else:
                probed[conn] = tuple(row)[len(settings):]

        return engine

    def probed(self, conn: sa.Connection) -> tuple[Any, ...] | None:
        return self._probed.get(conn)

    @staticmethod
    def _tables_exist(shared: sa.Engine, schema: str | None, probe: tuple[Any, ...]) -> bool:
        names = {t.name for expr in probe for t in sa.sql.util.find_tables(
            expr, include_crud=False, include_aliases=False)}
        qualified = [f'"{schema}".{n}' if schema else n for n in sorted(names)]
        with shared.connect() as conn:
            found = conn.execute(sa.select(*(sa.func.to_regclass(q) for q in qualified))).one()
        return all(v is not None for v in found)

    def dispose_engine(self, engine: sa.Engine) -> None:
        """Tenants' engines are views of the shared pool: only ``close`` disposes it."""

    def close(self) -> None:
        with self._lock:
            engines, self._shared = list(self._shared.values()), {}
        for engine in engines:
            engine.dispose()

    def prepare_ddl(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        # Under READ COMMITTED a request reads the metadata version and then the tables in
        # separate snapshots: a change committed in between makes its SELECT name a column
        # that is gone. Every request reads sys_meta_versions first and keeps its share
        # lock on it to the end, so this lock waits (lock_timeout) for the requests in
        # flight and holds new ones back until the change commits; they then read the new
        # version. SQLite needs nothing: a read transaction sees one snapshot throughout.
        conn.execute(sa.text(f"LOCK TABLE {meta_versions.name} IN ACCESS EXCLUSIVE MODE"))

    def lock_metadata(self, conn: sa.Connection) -> None:
        # Writers run concurrently here (READ COMMITTED), so two metadata changes could
        # start from the same version; the second would fail on publish. This queues them.
        conn.execute(sa.text(
            "SELECT pg_advisory_xact_lock(hashtextextended('crmforge.metadata:' || "
            "current_schema(), 0))"))

    def lock_system_ddl(self, conn: sa.Connection) -> None:
        # Two jobs using a feature for the first time both saw its table missing; the
        # second CREATE TABLE then failed on the catalog's unique index. Queued here, the
        # second finds the table (checkfirst) once the first commits.
        conn.execute(sa.text(
            "SELECT pg_advisory_xact_lock(hashtextextended('crmforge.system_ddl:' || "
            "current_schema(), 0))"))

    def ilike(self, column: Any, pattern: str) -> Any:
        return column.ilike(pattern, escape="\\")

    def estimated_rows(self, conn: sa.Connection, stmt: sa.Select[Any]) -> int | None:
        """EXPLAIN's top row estimate. The statement is compiled by SQLAlchemy, its values
        stay bound parameters (``in`` lists expanded into parameters too)."""
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        plan: Any = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                         compiled.params).scalar()
        try:
            return int(plan[0]["Plan"]["Plan Rows"])
        except (TypeError, KeyError, IndexError, ValueError):
            return None

    def insert(self, table: sa.Table) -> Any:
        return pg_insert(table)

    def lock_outbox(self, conn: sa.Connection, key: int) -> None:
        # A transaction-level advisory lock: released by the commit, after the commit is
        # visible, so the next holder's events can only get later ids and later commits.
        # One statement object for every write (no construction or cache-key work).
        conn.execute(_OUTBOX_LOCK_SQL, {"space": OUTBOX_LOCK, "key": key})

    def append_outbox(self, conn: sa.Connection, key: int, table: sa.Table,
                      rows: list[dict[str, Any]], waiting: sa.Select[Any] | None) -> bool:
        """A single event (most writes) in one statement: the lock in a materialized CTE
        the insert selects from (so it is held before the row takes its id), the question
        in its RETURNING. Each statement cost a listened-to create about 80 us, mostly
        the round trip; three of them made it 1.34x a quiet one. Sent to psycopg as
        compiled once per table, columns and question, with the values as parameters. A
        batch keeps the three statements: there they cost little per row."""
        if len(rows) != 1:
            return super().append_outbox(conn, key, table, rows, waiting)
        import psycopg

        sql, defaults = self._outbox_statement(conn, table, tuple(rows[0]), waiting)
        params = {**defaults, **rows[0], "outbox_space": OUTBOX_LOCK, "outbox_key": key}
        raw = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        try:
            # Prepared: planning this statement took longer than running it. Its tables
            # are the system's own, never changed by a metadata version.
            found = raw.execute(sql, params, prepare=prepared_statements() or None).fetchone()
        except psycopg.Error as exc:  # as SQLAlchemy reports it: a refusal stays a 503
            raise sa.exc.DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
        return found is not None and found[0] is not None

    def _outbox_statement(self, conn: sa.Connection, table: sa.Table, keys: tuple[str, ...],
                          waiting: sa.Select[Any] | None) -> tuple[str, dict[str, Any]]:
        cache_key = (table.name, keys, waiting)
        found = self._outbox_sql.get(cache_key)
        if found is None:
            lock = sa.select(sa.func.pg_advisory_xact_lock(
                sa.bindparam("outbox_space", type_=sa.Integer),
                sa.bindparam("outbox_key", type_=sa.Integer)).label("locked")) \
                .cte("outbox_lock").prefix_with("MATERIALIZED")
            values = sa.select(*(sa.bindparam(k, type_=table.c[k].type) for k in keys)) \
                .select_from(lock)
            stmt = table.insert().from_select(list(keys), values)
            stmt = stmt.returning(sa.null() if waiting is None else waiting.scalar_subquery())
            compiled = stmt.compile(dialect=conn.dialect)
            defaults = {k: v for k, v in compiled.params.items()
                        if k not in keys and not k.startswith("outbox_")}
            found = self._outbox_sql.setdefault(cache_key, (str(compiled), defaults))
        return found

    #: From how many rows ``insert_many`` sends them by COPY rather than an executemany.
    COPY_FROM = 50

    def insert_many(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[Mapping[str, Any]]) -> None:
        """Many rows by ``COPY ... FROM STDIN``: one stream the server parses as data, not
        a statement per row (an import's records and their history; about a third of
        an executemany's time). Values go through the column types' bind processors
        first, as they would for an INSERT; psycopg writes them in COPY's text format.
        A refusal (a unique index) is raised as SQLAlchemy raises the INSERT's."""
        plan = _insert_plan(table, tuple(rows[0]), conn.dialect) if rows else None
        if len(rows) < self.COPY_FROM or plan is None:
            super().insert_many(conn, table, rows)
            return
        import psycopg
        from psycopg import sql

        target = sql.Identifier(*((table.schema,) if table.schema else ()), table.name)
        stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
            target, sql.SQL(", ").join(sql.Identifier(k) for k, _ in plan.columns))
        raw = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        try:
            with raw.cursor() as cur, cur.copy(stmt) as copy:
                for values in plan.params(rows, positional=True):
                    copy.write_row(values)
        except psycopg.Error as exc:  # as SQLAlchemy reports an INSERT's refusal
            raise sa.exc.DBAPIError.instance(stmt.as_string(raw), None, exc,
                                             psycopg.Error) from exc

    def insert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: list[dict[str, Any]]) -> list[int]:
        """The ids the column's default would give, taken from its sequence first (one
        query), then one plain executemany: psycopg sends it in a pipeline, where an
        INSERT ... RETURNING in the rows' order is one huge statement per thousand rows
        that psycopg parses anew each time (most of the cost of a large insert)."""
        if len(rows) == 1:
            return super().insert_rows(conn, table, rows)
        sequence = sa.func.pg_get_serial_sequence(table.name, "id")
        series = sa.func.generate_series(1, len(rows)).table_valued("n")
        ids = sorted(int(i) for i in conn.execute(
            sa.select(sa.func.nextval(sequence)).select_from(series)).scalars())
        self.insert_many(conn, table, [{**row, "id": rid}
                                       for row, rid in zip(rows, ids, strict=True)])
        return ids

    def unique_violation(self, exc: sa.exc.IntegrityError, table: sa.Table) -> str | None:
        if getattr(exc.orig, "sqlstate", None) != "23505":  # unique_violation
            return None
        diag = getattr(exc.orig, "diag", None)
        name = getattr(diag, "constraint_name", None)
        for index in table.indexes:
            if index.name == name and index.unique:
                return str(next(iter(index.columns)).name)
        return None


def _literal_sql(engine: sa.Engine, stmt: sa.Select[Any], schema: str | None) -> str:
    """``stmt`` as SQL text with its values inlined and its tables in ``schema``: the
    statement a transaction begins with is a constant of the engine, built from our own
    expressions (never from request input), compiled once."""
    if schema:
        copies: dict[sa.Table, sa.Table] = {}
        qualified = sa.MetaData()

        def in_schema(element: Any, **_kw: Any) -> Any:
            if isinstance(element, sa.Table):
                if element not in copies:
                    copies[element] = element.to_metadata(qualified, schema=schema)
                return copies[element]
            if isinstance(element, sa.Column) and isinstance(element.table, sa.Table):
                return in_schema(element.table).c[element.key]
            return None

        no_options: dict[str, Any] = {}
        stmt = cast(sa.Select[Any],
                    sa.sql.visitors.replacement_traverse(stmt, no_options, in_schema))
    return str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _run_first(conn: sa.Connection, sql: str) -> tuple[Any, ...]:
    """Begin the server transaction with ``sql`` ("BEGIN; SELECT ...") in one round trip,
    straight through the driver (SQLAlchemy's results would close the cursor on the
    BEGIN's empty result); returns the SELECT's row. A driver error is raised as
    SQLAlchemy's, the connection invalidated when it is gone."""
    driver: Any = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor:
            cursor.execute(sql)
            cursor.nextset()
            row = cursor.fetchone()
    except Exception as exc:
        lost = bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))
        if lost:
            conn.invalidate(exc)
        raise sa.exc.OperationalError(sql, None, exc, connection_invalidated=lost) from exc
    return tuple(row) if row is not None else ()


#: psycopg's prepare threshold: a count no query reaches, so only statements asked for
#: are prepared (None would disable even those).
NEVER_BY_COUNT = 2**31 - 1


def prepared_statements() -> bool:
    """Whether kept statements are prepared on PostgreSQL (``CRMFORGE_PG_PREPARE``, default
    on; 0 for a PgBouncer in transaction mode older than 1.21)."""
    return os.environ.get("CRMFORGE_PG_PREPARE", "1").strip() not in ("0", "false", "no")


def _prepared(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Run a kept statement as a server-side prepared statement (psycopg keeps it per
    connection by its text): a permission-filtered lookup by id spent four times as long
    being planned as being run. Kept statements name their snapshot in their text, so a
    plan never outlives the columns it was made for. Others run as before (not handled)."""
    if not context.execution_options.get(PREPARE_OPTION):
        return False
    cursor.execute(statement, parameters, prepare=True)
    return True


#: A pooled PostgreSQL connection idle longer than this is pinged before use.
PING_IDLE_S = 10.0


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle, not every checkout: a ping is a round trip, a
    third of a record read's. One in steady use is known to be alive; one idle for a while
    may have been dropped by the server, a restart or a firewall, and is replaced (the
    pool tries another when this raises DisconnectionError). A connection that dies in
    between fails its request with a 503 (``Unavailable``) and the pool drops it and every
    connection older than it."""
    idle_since = record.info.get("checked_in_at")
    if idle_since is None or time.monotonic() - idle_since < PING_IDLE_S:
        return
    try:
        with dbapi_conn.cursor() as cursor:
            cursor.execute(";")
        if dbapi_conn.info.transaction_status != 0:  # the ping began nothing, or roll back
            dbapi_conn.rollback()
    except Exception as exc:  # any failure: this connection is not to be used
        raise sa.exc.DisconnectionError(str(exc)) from exc


#: Connections the process keeps open to a PostgreSQL server (for all its tenants), and
#: how many more it may open under load.
POOL_DEFAULTS = (5, 10)
#: A pooled connection idle longer than this is replaced when next checked out; those
#: above the pool size are closed as soon as they are returned.
IDLE_RECYCLE_S = 300


def pool_limits() -> tuple[int, int]:
    """``CRMFORGE_PG_POOL="size,overflow"`` (default 5,10): the connections of one process
    for all its tenants, so a deployment needs processes x (size + overflow) under the
    server's ``max_connections`` (or a PgBouncer in transaction mode in front)."""
    raw = os.environ.get("CRMFORGE_PG_POOL", "")
    if not raw:
        return POOL_DEFAULTS
    try:
        size, overflow = (int(p) for p in raw.split(","))
    except ValueError:
        raise ValueError(f"CRMFORGE_PG_POOL must be 'size,overflow' (two whole numbers), "
                         f"not {raw[:40]!r}") from None
    if size < 1 or overflow < 0:
        raise ValueError("CRMFORGE_PG_POOL needs a size of at least 1 and an overflow of 0 or more")
    return size, overflow


def psycopg_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver we install.

    SQLAlchemy would pick psycopg2 for a URL without a driver, and it is not installed.
    An explicit driver (``postgresql+psycopg://``, ``postgresql+psycopg2://``) is kept.
    """
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


def dialect_for(url: str) -> Dialect:
    if url.startswith("sqlite"):
        return SQLiteDialect()
    if url.startswith(("postgresql", "postgres://")):
        return PostgresDialect()
    raise ValueError("CRMForge runs on SQLite or PostgreSQL; the database URL names neither")
