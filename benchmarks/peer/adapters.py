"""What differs between targets: sign-in, creating the object, and the shape of requests.

The workloads (``workloads.py``) only ever ask an adapter for "the request that creates
this row", "the path that lists a filtered page" and so on, then send it and time it
themselves. An adapter therefore never times anything and never loops: whatever it costs
is setup, and both targets are measured by the very same code.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .client import Client, Target, expect

#: Rows sent per bulk call while seeding (both targets accept at least this many).
SEED_BATCH = 200

#: The picklist's values; the filtered list asks for ``status == "open"``.
STATUSES = ("open", "won", "lost", "hold")


@dataclass(frozen=True)
class Call:
    """One request a workload sends: method, path below the target URL, JSON body."""

    method: str
    path: str
    body: Any = None


class Adapter(ABC):
    """One target's REST API, behind the questions the workloads ask."""

    #: ``--target`` name.
    name: str = ""
    #: Status of a successful create.
    created_status: int = 201

    def __init__(self, target: Target) -> None:
        self.target = target
        # A fresh name per run: reruns never meet a previous run's object or data.
        self.suffix = secrets.token_hex(3)

    @abstractmethod
    def sign_in(self, user: str, password: str) -> dict[str, str]:
        """Headers that authenticate every later request as this user."""

    @abstractmethod
    def create_object(self, admin: Client) -> None:
        """Create the benchmark's object (title text, status picklist, amount number)."""

    @abstractmethod
    def grant_scoped(self, admin: Client, user: str) -> None:
        """Let ``user`` create records of the object and read only the ones it owns."""

    @abstractmethod
    def seed(self, client: Client, rows: list[dict[str, Any]]) -> list[str]:
        """Insert ``rows`` as the client's user in bulk (untimed); their ids."""

    @abstractmethod
    def create(self, row: dict[str, Any]) -> Call:
        """The request creating one record."""

    @abstractmethod
    def get(self, record_id: str) -> Call:
        """The request reading one record by id."""

    @abstractmethod
    def filtered_list(self) -> Call:
        """``status == "open" and amount >= 500``, sorted by title, first 50."""

    @abstractmethod
    def list_items(self, body: Any) -> int:
        """How many records a list answer holds (to check both targets return alike)."""

    @abstractmethod
    def add_field(self, admin: Client, number: int) -> Call:
        """The request adding a text field to the object (``number`` makes it unique)."""

    @abstractmethod
    def teardown(self, admin: Client, scoped_user: str | None) -> None:
        """Remove what setup created, as far as the API allows (best effort)."""


class CRMForgeAdapter(Adapter):
    """CRMForge's REST API (DESIGN §9): bearer token, metadata API, records API.

    The object is created through ``POST /api/v1/meta/objects`` like a customer's would
    be, seeded through ``POST /api/v1/records/<object>/bulk``, and removed at the end
    (to the metadata recycle bin, then purged, which drops its table).
    """

    name = "crmforge"
    created_status = 201

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.object = f"peer_bench_{self.suffix}"
        self.role = f"peer_bench_{self.suffix}_own"

    def sign_in(self, user: str, password: str) -> dict[str, str]:
        with _closing(Client(self.target)) as client:
            body = expect(client.request("POST", "/api/v1/auth/token",
                                         {"username": user, "password": password}),
                          200, what=f"sign-in of {user!r}")
        return {"Authorization": f"Bearer {body['token']}"}

    def create_object(self, admin: Client) -> None:
        doc = {"name": self.object, "label": {"en": "Peer benchmark"},
               "fields": [
                   {"name": "title", "type": "text", "required": True, "indexed": True},
                   {"name": "status", "type": "picklist", "indexed": True,
                    "choices": [{"value": s, "label": {"en": s}} for s in STATUSES]},
                   {"name": "amount", "type": "decimal", "scale": 2}]}
        expect(admin.request("POST", "/api/v1/meta/objects", doc), 201,
               what="creating the object")

    def grant_scoped(self, admin: Client, user: str) -> None:
        role = {"name": self.role, "label": {"en": "Peer benchmark, own records"},
                "permissions": {self.object: {"operations": ["create", "read"],
                                              "scope": "own", "hierarchy": False}}}
        expect(admin.request("POST", "/api/v1/admin/roles", role), 201,
               what="creating the scoped role")
        doc = expect(admin.request("GET", f"/api/v1/admin/users/{user}"), 200,
                     what=f"reading user {user!r}")
        roles = [r for r in doc.get("roles", []) if r != self.role] + [self.role]
        expect(admin.request("PATCH", f"/api/v1/admin/users/{user}", {"roles": roles}), 200,
               what=f"giving {user!r} the scoped role")

    def seed(self, client: Client, rows: list[dict[str, Any]]) -> list[str]:
        """Through the bulk endpoint of DESIGN §9; one create per record where a server
        does not have it yet (404/405), from a few connections at once."""
        ids: list[str] = []
        for start in range(0, len(rows), SEED_BATCH):
            response = client.request(
                "POST", f"/api/v1/records/{self.object}/bulk",
                {"records": rows[start:start + SEED_BATCH], "mode": "create", "all_or_none": True})
            if response.status in (404, 405) and not ids:
                return create_each(client, [self.create(row) for row in rows], self.created_status)
            body = expect(response, 200, what="seeding records")
            ids.extend(str(r["id"]) for r in body["results"])
        return ids

    def create(self, row: dict[str, Any]) -> Call:
        return Call("POST", f"/api/v1/records/{self.object}", row)

    def get(self, record_id: str) -> Call:
        return Call("GET", f"/api/v1/records/{self.object}/{record_id}")

    def filtered_list(self) -> Call:
        query = urlencode({"status": "open", "amount__gte": "500", "sort": "title", "limit": "50"})
        return Call("GET", f"/api/v1/records/{self.object}?{query}")

    def list_items(self, body: Any) -> int:
        return len(body["items"]) if isinstance(body, dict) else 0

    def add_field(self, admin: Client, number: int) -> Call:
        return Call("POST", f"/api/v1/meta/objects/{self.object}/fields",
                    {"name": f"extra_{number}", "type": "text", "label": {"en": f"Extra {number}"}})

    def teardown(self, admin: Client, scoped_user: str | None) -> None:
        if scoped_user is not None:
            user = admin.request("GET", f"/api/v1/admin/users/{scoped_user}")
            if user.status == 200:
                roles = [r for r in user.body.get("roles", []) if r != self.role]
                admin.request("PATCH", f"/api/v1/admin/users/{scoped_user}", {"roles": roles})
            admin.request("DELETE", f"/api/v1/admin/roles/{self.role}")
        admin.request("DELETE", f"/api/v1/meta/objects/{self.object}")
        admin.request("DELETE", f"/api/v1/meta/recycle-bin/objects/{self.object}")


def create_each(client: Client, calls: list[Call], expected: int, connections: int = 4) -> list[str]:
    """Send create ``calls`` over a few connections with ``client``'s identity; the ids, in
    order. For seeding only (untimed): any refused create stops the setup."""
    def send(part: list[Call]) -> list[str]:
        with _closing(Client(client.target, client.headers)) as own:
            return [str(expect(own.request(c.method, c.path, c.body), expected,
                               what="seeding records")["id"]) for c in part]

    parts = [calls[i::connections] for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        done = list(pool.map(send, parts))
    return [rid for part in done for rid in part]


class _closing:
    """``with`` for a ``Client`` (``contextlib.closing`` without losing its type)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __enter__(self) -> Client:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def adapter_for(name: str, target: Target) -> Adapter:
    """The adapter of ``--target``."""
    from .frappe import FrappeAdapter

    adapters: dict[str, type[Adapter]] = {"crmforge": CRMForgeAdapter, "frappe": FrappeAdapter}
    return adapters[name](target)


__all__ = ["STATUSES", "Adapter", "CRMForgeAdapter", "Call", "adapter_for"]
