"""The access audit, written in batches off the request path.

Every read of a record, list page or export page is audited (who read which ids, when).
Writing that row inside the request made every read a write: on SQLite a ``BEGIN
IMMEDIATE`` that queues behind any long write (a 55,000-row import, a type change on a big
table) and fails when the database is locked, full or read-only. So a read only appends
its entry to its tenant's ``AccessLog`` in memory, and one flusher per process writes
each tenant's pending entries in one transaction about every second (``FLUSH_EVERY``).

What this guarantees (docs/security.md, decision 0017):
- a read never waits for, or fails because of, the audit;
- a clean shutdown loses nothing: ``Instance.dispose`` and the interpreter's exit flush
  every tenant;
- a crash (kill -9, power loss) loses at most the entries of the last ``FLUSH_EVERY``
  seconds;
- the same flush keeps each user's recently viewed records (``recent``), so opening a
  record costs its request nothing more than the audit entry;
- while the database refuses writes (locked by a long change, disk full, read-only file
  system), entries wait in memory and go out with the next flush that succeeds; beyond
  ``MAX_PENDING`` entries per tenant the oldest are dropped and the drop is logged with
  its count, so memory stays bounded.
"""

from __future__ import annotations

import atexit
import datetime as dt
import itertools
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core import clock
from ..security.principal import Principal
from ..security.tables import access_audit

if TYPE_CHECKING:
    from .instance import Tenant

#: Seconds between flushes: what a crash can lose at most.
FLUSH_EVERY = 1.0
#: Entries one tenant keeps while its database refuses writes.
MAX_PENDING = 100_000
#: Newest pending entries looked through for one user's recent records: the entries of
#: about one flush interval, bounded so a backlog never slows a page.
PENDING_SCAN = 5_000

log = logging.getLogger("crmforge.audit")


@dataclass(frozen=True)
class AccessEntry:
    user_id: int | None
    username: str
    object_id: str
    action: str
    record_ids: str
    record_count: int
    at: dt.datetime
    #: A person opened this one record (its page, the API's GET by id), as opposed to a
    #: program reading it on their behalf: what the recently viewed records keep.
    opened: bool = False

    def row(self) -> dict[str, object]:
        """The audit row (``opened`` is not audited: a read is a read)."""
        return {"user_id": self.user_id, "username": self.username,
                "object_id": self.object_id, "action": self.action,
                "record_ids": self.record_ids, "record_count": self.record_count,
                "at": self.at}


class AccessLog:
    """One tenant's pending access-audit entries.

    ``opener`` gives the tenant to write to when a flush runs: the instance keeps one log
    per tenant name, so entries outlive a ``Tenant`` object closed while they wait (an
    idle tenant closed by the bounded cache of open tenants)."""

    def __init__(self, name: str, opener: Callable[[], Tenant | None]) -> None:
        self.name = name
        self._opener = opener
        self._pending: deque[AccessEntry] = deque()
        #: Openings being written, and those of the last batch written: a page whose read
        #: began before that batch committed still finds them (``pending_of``).
        self._writing: list[AccessEntry] = []
        self._written: list[AccessEntry] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self.dropped = 0

    def add(self, principal: Principal, object_id: str, action: str,
            record_ids: Sequence[int], *, opened: bool = False) -> None:
        """Audit a read; returns at once (the system principal is not audited). ``opened``:
        a person opened this single record (``AccessEntry.opened``)."""
        if not record_ids or principal.is_system:
            return
        entry = AccessEntry(principal.user_id, principal.label, object_id, action,
                            ",".join(str(i) for i in record_ids), len(record_ids),
                            clock.now().replace(tzinfo=None), opened)
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(entry)
        _flusher.watch(self)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def pending_of(self, user_id: int, scan: int = PENDING_SCAN) -> list[AccessEntry]:
        """The user's entries not yet written, among the newest ``scan``: what the recently
        viewed records add to the stored ones, so a record opened a moment ago shows at
        once without its read ever writing (``recent``)."""
        with self._lock:
            newest = [*itertools.islice(reversed(self._pending), scan), *self._writing,
                      *self._written]
        return [e for e in newest if e.user_id == user_id and e.opened]

    def flush(self) -> int:
        """Write the pending entries in one transaction; how many were written. When the
        database refuses, they stay pending for the next flush."""
        with self._flushing:  # one flush at a time keeps entries in order
            with self._lock:
                batch, self._pending = self._pending, deque()
                dropped, self.dropped = self.dropped, 0
                self._writing = [e for e in batch if e.opened]
            if dropped:
                log.warning("access audit of tenant %s: %d entries dropped while the "
                            "database refused writes", self.name, dropped)
            if not batch:
                return 0
            try:
                tenant = self._opener()
                if tenant is None:  # the tenant is gone: its reads are gone with it
                    with self._lock:
                        self._writing = []
                    return 0
                from . import recent  # the recently viewed records ride on the same batch
                recent.ensure(tenant)
                with tenant.write() as conn:
                    conn.execute(access_audit.insert(), [e.row() for e in batch])
                    recent.remember(conn, list(batch))
            except Exception as exc:  # refused (locked, full, read-only) or failed: keep them
                log.warning("access audit of tenant %s: %d entries wait (%s)", self.name,
                            len(batch), type(exc).__name__)
                with self._lock:  # back in front of what came meanwhile, oldest first
                    self._writing = []
                    batch.extend(self._pending)
                    while len(batch) > MAX_PENDING:
                        batch.popleft()
                        self.dropped += 1
                    self._pending = batch
                return 0
            with self._lock:
                self._written, self._writing = self._writing, []
            return len(batch)


def own_log(tenant: Tenant) -> AccessLog:
    """A log writing to ``tenant`` itself (a tenant opened outside an instance)."""
    ref = weakref.ref(tenant)
    return AccessLog(tenant.name, ref)


class _Flusher:
    """One thread per process flushing every tenant's access log about every second.

    A daemon thread, so that it never keeps a finished process alive; what it has not
    written when the process ends normally is flushed by ``atexit`` (and by
    ``Instance.dispose``); a crash loses at most one interval."""

    def __init__(self) -> None:
        self._logs: weakref.WeakSet[AccessLog] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, access_log: AccessLog) -> None:
        if access_log in self._logs and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            self._logs.add(access_log)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="crmforge-audit",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._wake.wait(FLUSH_EVERY):
            self.flush_all()

    def flush_all(self) -> None:
        for access_log in list(self._logs):
            try:
                access_log.flush()
            except Exception:  # never let one tenant stop the others' audit
                log.exception("access audit flush failed")


_flusher = _Flusher()
atexit.register(_flusher.flush_all)


def flush_all() -> None:
    """Write every tenant's pending entries now (tests, shutdown, the audit page)."""
    _flusher.flush_all()


__all__ = ["FLUSH_EVERY", "MAX_PENDING", "AccessEntry", "AccessLog", "flush_all", "own_log"]
