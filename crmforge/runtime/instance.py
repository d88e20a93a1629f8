"""An instance: a folder with a control database listing tenants, and the tenants' databases.

SQLite (the embedded default): ``<instance>/control.db`` and ``<instance>/tenants/<name>.db``.
PostgreSQL (``database_url`` or ``CRMFORGE_DATABASE_URL``): a ``crmforge_control`` schema and
one ``crmforge_t_<name>`` schema per tenant, in one database.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import BadRequest, Conflict, NotFound, Unavailable
from ..metadata import store as meta_store
from ..metadata.model import Snapshot
from ..security import accounts
from ..security.branches import BranchCache
from ..security.credentials import VERSION_PROBE, CredentialCache
from ..security.credentials import ensure as ensure_credentials_version
from ..security.tables import security_metadata
from .access_log import AccessLog, own_log
from .cursors import random_key, tenant_key
from .files.storage import BlobStore, store_from_env
from .hooks import UNWIRED, Wiring
from .statements import StatementCache
from .storage.dialects import WRITE_OPTION, Dialect, dialect_for
from .storage.tables import CompiledSchema, compile_snapshot
from .systables import runtime_metadata

TENANT_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
CONFIG_FILE = "crmforge.json"

control_metadata = sa.MetaData()
tenants_table = sa.Table(
    "sys_tenants",
    control_metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("active", sa.Boolean(create_constraint=False), nullable=False),
)

#: Jobs not yet finished, per tenant: a sweep finds abandoned work here without opening
#: every tenant (``crmforge.tasks``).
job_queue = sa.Table(
    "sys_job_queue",
    control_metadata,
    sa.Column("tenant", sa.String(40), primary_key=True),
    sa.Column("job_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("queued_at", sa.DateTime, nullable=False),
)
#: When each tenant next has approval reminders or escalations due (NULL: not known yet).
tenant_due = sa.Table(
    "sys_tenant_due",
    control_metadata,
    sa.Column("tenant", sa.String(40), primary_key=True),
    sa.Column("next_due", sa.DateTime, nullable=True),
)

SYSTEM_METADATA = (meta_store.system_metadata, security_metadata, runtime_metadata)

# Numbers Tenant objects for the process-wide caches (snapshots, compiled tables).
_tenant_serial = itertools.count(1)

# The write transaction each tenant has open in this thread or task, so that an operation
# made of other operations (a pack install: metadata, roles, then records) is one
# transaction: a nested Tenant.write() joins the open one instead of starting its own.
_open_writes: ContextVar[dict[str, _OpenWrite] | None] = ContextVar("crmforge_open_writes",
                                                                       default=None)


# A request's shared reads, when the caller opened a scope (``shared_reads``): per tenant the
# one read connection every ``Tenant.read()`` of the request uses, so authentication, the
# snapshot and the record read are one transaction instead of three.
_shared_reads: ContextVar[dict[str, sa.Connection] | None] = ContextVar(
    "crmforge_shared_reads", default=None)


class shared_reads:
    """Within this block every ``Tenant.read()`` of a tenant shares one connection and one
    read transaction (opened on first use, closed at the end). A write of that tenant ends
    the shared transaction first, so reads after it see what it wrote. The web layer wraps
    each request in one; background work does not need it. (A class rather than a
    generator: it is entered on every request.)"""

    def __init__(self) -> None:
        self._scope: dict[str, sa.Connection] = {}
        self._token: Token[dict[str, sa.Connection] | None] | None = None

    def __enter__(self) -> None:
        self._token = _shared_reads.set(self._scope)

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _shared_reads.reset(self._token)
            self._token = None
        for conn in self._scope.values():
            meta_store.forget_version(conn)
            _finish_read(conn)
            conn.close()
        self._scope.clear()


def _raise_if_lost(exc: sa.exc.DBAPIError) -> None:
    """A connection the database dropped (a restart, a network cut) answers 503: nothing
    was done and the next try gets a fresh connection (the pool has dropped the dead
    ones). The caller re-raises any other database error as it is."""
    if exc.connection_invalidated:
        raise Unavailable("the connection to the database was lost; try again") from exc


def _end_shared_read(key: str) -> None:
    """End the shared read transaction of a tenant (a write begins or a read failed in the
    database): the next read begins a new one on the same connection, seeing the latest
    committed state."""
    conn = (_shared_reads.get() or {}).get(key)
    if conn is not None and conn.in_transaction():
        meta_store.forget_version(conn)
        _finish_read(conn)


def _finish_read(conn: sa.Connection) -> None:
    """End a read transaction with COMMIT, which for a transaction that wrote nothing
    means the same as ROLLBACK, except to the driver: psycopg forgets every prepared
    statement of the connection after a ROLLBACK (the kept lookups of runtime.statements).
    A transaction a failed statement aborted is rolled back."""
    if not conn.in_transaction():
        return
    try:
        conn.commit()
    except sa.exc.DBAPIError:
        conn.rollback()


class _OpenWrite:
    """A tenant's open write transaction, what is to run last inside it, and what is to
    run once it commits."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.before_commit: list[Callable[[], object]] = []
        self.after_commit: list[Callable[[], object]] = []

    def finish(self) -> None:
        """Run the work registered to run last (it may register more)."""
        while self.before_commit:
            self.before_commit.pop(0)()


def max_open_tenants() -> int:
    """Tenants kept open at once (``CRMFORGE_MAX_OPEN_TENANTS``, default 64): with a pool
    of a few SQLite connections each (two files apiece), 64 open tenants stay well under
    a process's 1,024 file descriptors whatever the number of tenants."""
    raw = os.environ.get("CRMFORGE_MAX_OPEN_TENANTS", "")
    return max(1, int(raw)) if raw.isdigit() else 64


def tenant_name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not TENANT_NAME.fullmatch(name):
        return ("a tenant name has 1-40 lowercase ASCII letters, digits or hyphens, starts with "
                "a letter and does not end with a hyphen")
    return None


class Tenant:
    """One tenant's database namespace and the current metadata snapshot of it."""

    def __init__(self, name: str, engine: sa.Engine, dialect: Dialect,
                 cursor_key: bytes | None = None, access_log: AccessLog | None = None) -> None:
        self.name = name
        self.engine = engine
        self.dialect = dialect
        #: Seals list cursors (runtime.cursors): derived from the instance secret.
        self.cursor_key = cursor_key or random_key()
        #: Access-audit entries waiting for their batch (runtime.access_log).
        self.access_log = access_log or own_log(self)
        #: Hands "run job N" to the queue (set by the composition root, ``crmforge.tasks``);
        #: None runs submitted jobs in a thread of this process (``runtime.jobs``).
        self.dispatch: Callable[[Tenant, int], None] | None = None
        #: Told when something becomes due at a time (approval timers), so the instance's
        #: timer loop knows which tenants to open; None: nobody keeps such an index.
        self.due_hint: Callable[[Tenant, dt.datetime], None] | None = None
        # Names this tenant in process-wide caches keyed by (key, version). Not id(engine):
        # CPython reuses a freed engine's address, and a new tenant (the next test, a
        # re-created instance) would be served the old one's cached metadata.
        self.key = f"{next(_tenant_serial)}:{name}"
        #: Resolved tokens, valid under the tenant's credentials version (requests).
        self.credentials = CredentialCache(dialect.probed)
        #: Which share and temporary branches readers have, valid under the tenant's
        #: sharing version (security.branches).
        self.branches = BranchCache(dialect.probed)
        #: Statements built per metadata version and principal (runtime.statements).
        self.statements = StatementCache()
        #: The store of file contents (set by the instance; runtime.files.storage).
        self.file_store: Callable[[], BlobStore] | None = None
        #: The hooks of the layers above (set by the instance from the composition root).
        self.wiring: Wiring = UNWIRED

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction; inside a write of the same tenant, that write's connection,
        so a composed operation reads what it has written so far."""
        joined = (_open_writes.get() or {}).get(self.key)
        if joined is not None:
            yield joined.conn
            return
        scope = _shared_reads.get()
        if scope is None:
            try:
                with self.engine.connect() as conn, conn.begin():
                    yield conn
            except sa.exc.DBAPIError as exc:
                _raise_if_lost(exc)
                raise
            return
        shared = scope.get(self.key)
        if shared is None:
            shared = scope[self.key] = self.engine.connect()
        if not shared.in_transaction():
            shared.begin()
        try:
            yield shared
        except sa.exc.DBAPIError as exc:
            # PostgreSQL refuses every later statement of a failed transaction.
            _end_shared_read(self.key)
            _raise_if_lost(exc)
            raise

    @contextmanager
    def write(self, *, promote: bool = False) -> Iterator[sa.Connection]:
        """A write transaction: all of it commits, or none of it (DDL included). Inside
        another write of the same tenant it joins that one, which commits or rolls back
        everything at its end.

        ``promote``: the caller writes records only (never metadata). Where the database
        allows it (PostgreSQL) the request's open read transaction then becomes this
        write's: no COMMIT of the read, no BEGIN of the write, and the metadata version the
        read found holds (its share lock on the versions table keeps every metadata change
        out until this commits). A metadata change must not be promoted: two of them
        holding that share lock from their start would deadlock on their exclusive one."""
        open_writes = _open_writes.get() or {}
        joined = open_writes.get(self.key)
        if joined is not None:
            yield joined.conn
            return
        shared = (_shared_reads.get() or {}).get(self.key) \
            if promote and self.dialect.promotes_reads else None
        if shared is not None and shared.in_transaction():
            yield from self._promoted(shared, open_writes)
            return
        _end_shared_read(self.key)
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(**{WRITE_OPTION: True})
                current = _OpenWrite(conn)
                token = _open_writes.set({**open_writes, self.key: current})
                try:
                    with conn.begin():
                        yield conn
                        current.finish()
                finally:
                    _open_writes.reset(token)
        except sa.exc.OperationalError as exc:
            # Locked by a long change, disk full, read-only storage: nothing was written
            # and the request may succeed later (503); anything else stays an error.
            refusal = self.dialect.write_refusal(exc)
            if refusal is None:
                _raise_if_lost(exc)
                raise
            raise Unavailable(refusal) from exc
        for job in current.after_commit:  # reached only when the transaction committed
            job()

    def _promoted(self, conn: sa.Connection,
                  open_writes: dict[str, _OpenWrite]) -> Iterator[sa.Connection]:
        """The write on the request's read transaction (see ``write``)."""
        current = _OpenWrite(conn)
        token = _open_writes.set({**open_writes, self.key: current})
        try:
            try:
                yield conn
                current.finish()
            except BaseException:
                meta_store.forget_version(conn)
                if conn.in_transaction():
                    conn.rollback()
                raise
            meta_store.forget_version(conn)
            conn.commit()
        except sa.exc.OperationalError as exc:
            refusal = self.dialect.write_refusal(exc)
            if refusal is None:
                _raise_if_lost(exc)
                raise
            raise Unavailable(refusal) from exc
        finally:
            _open_writes.reset(token)
        for job in current.after_commit:
            job()

    def before_commit(self, job: Callable[[], object]) -> None:
        """Run ``job`` last inside the open write transaction, just before it commits
        (what must be written after everything else, such as the outbox's events)."""
        joined = (_open_writes.get() or {}).get(self.key)
        if joined is None:
            raise RuntimeError("before_commit needs an open write transaction")
        joined.before_commit.append(job)

    def after_commit(self, job: Callable[[], object]) -> None:
        """Run ``job`` once the open write transaction commits (at once when none is
        open): work that must see committed data, such as a background backfill."""
        joined = (_open_writes.get() or {}).get(self.key)
        if joined is None:
            job()
        else:
            joined.after_commit.append(job)

    def snapshot(self, conn: sa.Connection) -> Snapshot:
        probed = self.dialect.probed(conn)
        if probed is not None:  # VERSION_PROBE: (metadata, credentials, sharing versions)
            meta_store.note_version(conn, int(probed[0] or 0))
        return meta_store.load(conn, self.key)

    def schema(self, snapshot: Snapshot) -> CompiledSchema:
        return compile_snapshot(self.key, snapshot)


class Instance:
    def __init__(self, path: Path, database_url: str | None, secret_key: str,
                 schema_prefix: str = "crmforge_") -> None:
        self.path = path
        self.database_url = database_url
        self.secret_key = secret_key
        self.schema_prefix = schema_prefix
        #: Open tenants, least recently used first; at most ``max_open_tenants()`` stay
        #: open (each holds its pool of connections: files on SQLite).
        self._tenants: OrderedDict[str, Tenant] = OrderedDict()
        self._access_logs: dict[str, AccessLog] = {}
        self._lock = threading.Lock()
        self.dispatcher: Callable[[Tenant, int], None] | None = None
        self.due_hint_hook: Callable[[Tenant, dt.datetime], None] | None = None
        self._blob_store: BlobStore | None = None
        self.wiring: Wiring = UNWIRED
        url = database_url or f"sqlite:///{path / 'control.db'}"
        self.dialect = dialect_for(url)
        self.control_schema = schema_prefix + "control" if database_url else None
        self.control = self.dialect.create_engine(url, self.control_schema)

    # -- creation and opening -------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path, admin_password: str, database_url: str | None = None,
             schema_prefix: str = "crmforge_") -> Instance:
        """Create an instance folder, its control database and the ``default`` tenant.

        ``schema_prefix`` namespaces the PostgreSQL schemas, so several instances (or test
        runs) can share one database.
        """
        path = Path(path)
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,20}", schema_prefix):
            raise BadRequest("the schema prefix has 1-21 lowercase letters, digits or '_'")
        if (path / CONFIG_FILE).exists():
            raise Conflict(f"{path} already holds a CRMForge instance")
        accounts.check_policy_or_raise(admin_password)
        database_url = database_url or os.environ.get("CRMFORGE_DATABASE_URL") or None
        path.mkdir(parents=True, exist_ok=True)
        (path / "tenants").mkdir(exist_ok=True)
        secret_key = secrets.token_hex(32)
        config = {"secret_key": secret_key, "database_url": database_url,
                  "schema_prefix": schema_prefix}
        inst = cls(path, database_url, secret_key, schema_prefix)
        inst._create_control()
        inst.create_tenant("default", admin_password)
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        os.chmod(path / CONFIG_FILE, 0o600)
        return inst

    @classmethod
    def open(cls, path: str | Path) -> Instance:
        path = Path(path)
        cfg_path = path / CONFIG_FILE
        if not cfg_path.exists():
            raise NotFound(f"{path} is not a CRMForge instance (run 'crmforge init' first)")
        config = json.loads(cfg_path.read_text())
        url = os.environ.get("CRMFORGE_DATABASE_URL") or config.get("database_url")
        inst = cls(path, url, config["secret_key"], config.get("schema_prefix", "crmforge_"))
        with inst.control.begin() as conn:  # control tables added since the instance was made
            control_metadata.create_all(conn, checkfirst=True)
        return inst

    def _create_control(self) -> None:
        with self.control.begin() as conn:
            if self.control_schema:
                conn.execute(sa.schema.CreateSchema(self.control_schema, if_not_exists=True))
            control_metadata.create_all(conn)

    # -- tenants ----------------------------------------------------------------------------
    def _tenant_url(self, name: str) -> tuple[str, str | None]:
        if self.database_url:
            return self.database_url, self.schema_prefix + "t_" + name.replace("-", "_")
        return f"sqlite:///{self.path / 'tenants' / (name + '.db')}", None

    def _engine(self, url: str, schema: str | None) -> sa.Engine:
        """A tenant's engine; its read transactions may begin by reading the metadata and
        credentials versions (security.credentials), which every request needs."""
        return self.dialect.create_engine(url, schema, read_probe=VERSION_PROBE)

    def tenant_names(self) -> list[str]:
        with self.control.connect() as conn:
            return [r[0] for r in conn.execute(
                sa.select(tenants_table.c.name).where(tenants_table.c.active).order_by(tenants_table.c.name))]

    def has_tenant(self, name: str) -> bool:
        with self.control.connect() as conn:
            return conn.execute(sa.select(tenants_table.c.name).where(
                tenants_table.c.name == name, tenants_table.c.active)).first() is not None

    def tenant(self, name: str) -> Tenant:
        with self._lock:
            t = self._tenants.get(name)
            if t is not None:
                self._tenants.move_to_end(name)
                return t
        if tenant_name_problem(name) or not self.has_tenant(name):
            raise NotFound(f"no tenant named '{str(name)[:40]}'")
        return self._remember(self._open_tenant(name))

    def _open_tenant(self, name: str) -> Tenant:
        url, schema = self._tenant_url(name)
        tenant = Tenant(name, self._engine(url, schema), self.dialect,
                        tenant_key(self.secret_key, name), self._access_log(name))
        tenant.dispatch = self.dispatcher
        tenant.due_hint = self.due_hint_hook
        tenant.file_store = self.blob_store
        tenant.wiring = self.wiring
        return tenant

    def blob_store(self) -> BlobStore:
        """Where this instance keeps file contents: the store the settings choose
        (``CRMFORGE_FILES_BACKEND``, docs/operations.md), made on first use."""
        with self._lock:
            if self._blob_store is None:
                self._blob_store = store_from_env(self.path)
            return self._blob_store

    def set_blob_store(self, store: BlobStore) -> None:
        """Use ``store`` for file contents instead of the one the settings choose."""
        with self._lock:
            self._blob_store = store

    def wire(self, wiring: Wiring) -> None:
        """Give this instance's tenants the hooks of the layers above the runtime (the
        composition root, ``crmforge.composition``, calls this once)."""
        self.wiring = wiring
        for t in self.open_tenants():
            t.wiring = wiring

    def set_dispatcher(self, dispatch: Callable[[Tenant, int], None] | None,
                       due_hint: Callable[[Tenant, dt.datetime], None] | None = None) -> None:
        """Where this instance's tenants send their jobs and due times (the composition
        root, ``crmforge.tasks``, sets them)."""
        self.dispatcher = dispatch
        self.due_hint_hook = due_hint
        for t in self.open_tenants():
            t.dispatch = dispatch
            t.due_hint = due_hint

    def _access_log(self, name: str) -> AccessLog:
        with self._lock:
            log = self._access_logs.get(name)
            if log is None:
                log = self._access_logs[name] = AccessLog(name, lambda: self._reopen(name))
            return log

    def _reopen(self, name: str) -> Tenant | None:
        try:
            return self.tenant(name)
        except NotFound:
            return None

    def _remember(self, tenant: Tenant) -> Tenant:
        """Keep ``tenant`` open (or the one another thread opened meanwhile), closing the
        least recently used tenants beyond the limit: 1,000 tenants must not hold 1,000
        pools of open files. A closed tenant reopens on its next request."""
        with self._lock:
            kept = self._tenants.setdefault(tenant.name, tenant)
            self._tenants.move_to_end(tenant.name)
            evicted = []
            while len(self._tenants) > max_open_tenants():
                evicted.append(self._tenants.popitem(last=False)[1])
        if kept is not tenant:
            self.dialect.dispose_engine(tenant.engine)
        for old in evicted:
            old.access_log.flush()
            self.dialect.dispose_engine(old.engine)
        return kept

    def close_tenant(self, name: str) -> None:
        """Close ``name`` if it is open, its pending audit written first; it reopens on its
        next use. A restore replaces the tenant's database underneath: connections this
        process kept to the old one must not live on."""
        log = self._access_logs.get(name)
        if log is not None:
            log.flush()  # before closing: a flush reopens a closed tenant
        with self._lock:
            closed = self._tenants.pop(name, None)
        if closed is not None:
            self.dialect.dispose_engine(closed.engine)

    def create_tenant(self, name: str, admin_password: str | None = None) -> tuple[Tenant, str]:
        """Create a tenant with an ``admin`` user; returns it and the admin password.

        Without ``admin_password`` a random one is generated (and shown once by the caller).
        """
        problem = tenant_name_problem(name)
        if problem:
            raise BadRequest(problem)
        if self.has_tenant(name):
            raise Conflict(f"tenant '{name}' already exists")
        password = admin_password or secrets.token_urlsafe(12) + "9!"
        accounts.check_policy_or_raise(password)
        url, schema = self._tenant_url(name)
        engine = self.dialect.create_engine(url, schema)
        if schema:
            with self.control.begin() as conn:
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        tenant = Tenant(name, engine, self.dialect, tenant_key(self.secret_key, name),
                        self._access_log(name))
        tenant.dispatch = self.dispatcher
        tenant.file_store = self.blob_store
        with tenant.write() as conn:
            for md in SYSTEM_METADATA:
                md.create_all(conn)
            ensure_credentials_version(conn)
            accounts.create_user(conn, "admin", password, is_admin=True,
                                 display_name="Administrator")
        with self.control.begin() as conn:
            conn.execute(tenants_table.insert().values(
                name=name, created_at=clock.now().replace(tzinfo=None), active=True))
        # The tables exist now: reopen with the engine a tenant is served by.
        self.dialect.dispose_engine(engine)
        return self._remember(self._open_tenant(name)), password

    def open_tenants(self) -> list[Tenant]:
        """The tenants open in this process now (metrics)."""
        with self._lock:
            return list(self._tenants.values())

    def engines(self) -> list[sa.Engine]:
        """Every engine whose pool this process holds: the control database's and the open
        tenants' (on PostgreSQL they are views of one shared pool, counted once)."""
        seen: dict[int, sa.Engine] = {}
        for engine in [self.control, *(t.engine for t in self.open_tenants())]:
            seen.setdefault(id(engine.pool), engine)
        return list(seen.values())

    def check_ready(self) -> None:
        """Raises unless the control database answers (readiness)."""
        with self.control.connect() as conn:
            conn.execute(sa.select(tenants_table.c.name).limit(1)).all()

    def schemas(self) -> list[str]:
        """PostgreSQL schemas of this instance (for tooling and test clean-up)."""
        if not self.database_url:
            return []
        tenant_schemas = [self._tenant_url(n)[1] or "" for n in self.tenant_names()]
        return [self.control_schema or "", *tenant_schemas]

    def dispose(self) -> None:
        for log in list(self._access_logs.values()):
            log.flush()  # a clean shutdown loses no audit entry
        with self._lock:
            open_tenants, self._tenants = list(self._tenants.values()), OrderedDict()
        for t in open_tenants:
            self.dialect.dispose_engine(t.engine)
        self.dialect.dispose_engine(self.control)
        self.dialect.close()


def describe(inst: Instance) -> dict[str, Any]:
    return {"path": str(inst.path), "database": inst.dialect.name, "tenants": inst.tenant_names()}
