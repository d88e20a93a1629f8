"""Which share and temporary-access branches a reader has, kept across requests.

A reader's visibility predicate is an ``OR`` of its scope and two more branches: records
shared with them (or their departments) and records they may read for a while (an
approval task). Most readers have neither for most objects, and a branch that can match
nothing still costs: on PostgreSQL its subqueries double the planning of a list page
(0.26 ms against 0.12 ms at a million rows), on SQLite finding out costs a statement per
request. So whether a reader has anything in a branch is asked once, with one statement
(``Access._have``), and the answer is kept here for the next requests.

What keeps a kept answer right is the **sharing version** (``sys_credentials_version``, row
``SHARING_ROW``): raised in the transaction of every change that can put a reader into a
branch (a share, a temporary access, a department moved under another:
``credentials.sharing_widened``), and read by every read transaction's first statement
with the metadata and credentials versions (``VERSION_PROBE``), so it costs no statement.
An answer is used only under the version it was found under: a share takes effect on the
very next request, in every process. Changes that only narrow (a share removed, an access
revoked or expired) leave the version alone: a kept "has a branch" only keeps a subquery
in the predicate, and the predicate still decides which rows are read.

A tenant older than the counter's row reads it as NULL: then nothing is kept, and each
dialect behaves as before (SQLite asks per request, PostgreSQL keeps every branch).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa

#: Answers kept per tenant (least recently used dropped first).
MAX_ENTRIES = 20_000


class BranchCache:
    """Kept answers of one tenant: (reader, object, direction, branches) to the branches
    that can match, each with the sharing version it was found under. Entries are
    immutable tuples; the mapping is guarded by a lock and bounded. One per open tenant
    (``Tenant.branches``)."""

    def __init__(self, probed: Callable[[sa.Connection], tuple[Any, ...] | None]
                 = lambda _conn: None) -> None:
        #: The versions the connection's transaction began with (``VERSION_PROBE``).
        self._probed = probed
        self._entries: OrderedDict[Hashable, tuple[int, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def version(self, conn: sa.Connection) -> int | None:
        """The sharing version this transaction reads under; None when it is not known
        (no probe on this connection, or a tenant without the counter): keep nothing."""
        probed = self._probed(conn)
        if probed is None or len(probed) < 3 or probed[2] is None:
            return None
        return int(probed[2])

    def get(self, key: Hashable, version: int) -> frozenset[str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None  # another version's answer: replaced by the next put
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, version: int, have: frozenset[str]) -> None:
        with self._lock:
            self._entries[key] = (version, have)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["MAX_ENTRIES", "BranchCache"]
