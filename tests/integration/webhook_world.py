"""A receiver of webhooks on 127.0.0.1 and a small organisation sending it deals."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import jobs

from .conftest import sign_in
from .test_workflow_definitions import DEAL

PASSWORD = "Pass-word-1234"
SECRET = "whsec-0123456789abcdef"

WORLD_DEAL: dict[str, Any] = copy.deepcopy(DEAL)
WORLD_DEAL["fields"].append({"name": "double", "type": "formula", "result_type": "decimal",
                             "expression": "amount * 2", "stored": True})
WORLD_DEAL["validation_rules"] = [{
    "name": "not_negative", "condition": "is_blank(amount) or amount >= 0", "field": "amount",
    "message": {"zh": "金额不能为负", "en": "the amount cannot be negative"}}]


class Receiver:
    """A real HTTP server recording every request; answers what ``plan`` says first,
    then ``default``; ``delay`` seconds before answering (a receiver that hangs)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.plan: list[int] = []
        self.default = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()},
                                              body))
                    status = receiver.plan.pop(0) if receiver.plan else receiver.default
                    delay = receiver.delay
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(f"answer {status}".encode())
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/crm"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.requests]


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def settle() -> None:
    """Let the events job and the delivery jobs it queues finish."""
    assert jobs.wait_local(60)


def build(client: FlaskClient, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    """The deal object, a process approved by alice, a seller (own deals), a viewer who
    sees every deal but not its amount; headers per username."""
    assert client.post("/api/v1/meta/objects", json=WORLD_DEAL, headers=admin).status_code == 201
    roles = {"seller": {"deal": {"operations": ["create", "read", "update", "submit"],
                                 "scope": "own"}},
             "viewer": {"deal": {"operations": ["read"], "scope": "all",
                                 "fields": {"amount": "hidden"}}},
             "approver": {}}
    for role, perms in roles.items():
        r = client.post("/api/v1/admin/roles", json={"name": role, "permissions": perms},
                        headers=admin)
        assert r.status_code == 201, r.json
    users = {"sam": "seller", "vic": "viewer", "alice": "approver"}
    for name, role in users.items():
        r = client.post("/api/v1/admin/users", json={
            "username": name, "password": PASSWORD, "roles": [role],
            "email": f"{name}@example.test"}, headers=admin)
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/meta/processes", headers=admin, json={
        "name": "deal_approval", "object": "deal",
        "steps": [{"name": "review", "approvers": {"users": ["alice"]}}],
        "on_approve": {"status": "'approved'"}, "on_reject": {"status": "'rejected'"}})
    assert r.status_code == 201, r.json
    heads = {name: sign_in(client, username=name, password=PASSWORD) for name in users}
    heads["admin"] = admin
    return heads


def register(client: FlaskClient, admin: dict[str, str], url: str, expect: int = 201,
             **extra: Any) -> dict[str, Any]:
    body = {"name": "crm-sync", "url": url, "events": ["*"], "objects": ["deal"],
            "secret": SECRET, **extra}
    r = client.post("/api/v1/admin/webhooks", json=body, headers=admin)
    assert r.status_code == expect, r.json
    return dict(r.json)


def log(client: FlaskClient, admin: dict[str, str], name: str = "crm-sync"
        ) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/admin/webhooks/{name}/deliveries", headers=admin)
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def new_deal(client: FlaskClient, who: dict[str, str], **values: Any) -> dict[str, Any]:
    r = client.post("/api/v1/records/deal", json={"title": "Big deal", "amount": "5000",
                                                  **values}, headers=who)
    assert r.status_code == 201, r.json
    return dict(r.json)
