"""The Frappe adapter of the peer benchmark against a stand-in that checks request shapes.

Frappe itself cannot run here. This stand-in answers only what the adapter sends, the way
Frappe 15's REST API documents it (session cookie from /api/method/login, JSON ``filters``,
``order_by``, ``limit_page_length``, ``frappe.client.insert_many`` with ``docs``), and
records what it received; the test then checks those shapes. It proves the adapter's code
runs end to end and says what the documentation says, not that Frappe agrees.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from benchmarks.peer import cli

SESSIONS = {"Administrator": "sid-admin", "clerk@example.com": "sid-clerk"}


class FakeFrappe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str, Any]] = []
        self.list_queries: list[dict[str, list[str]]] = []

    def answer(self, method: str, raw_path: str, headers: Any, body: Any) -> tuple[int, Any, list[str]]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        with self.lock:
            self.seen.append((method, path, body))
        if (method, path) == ("POST", "/api/method/login"):
            sid = SESSIONS.get(body.get("usr"))
            if sid is None or body.get("pwd") != "pw":
                return 401, {"message": "Invalid Login"}, []
            return 200, {"message": "Logged In"}, [f"sid={sid}; Path=/; HttpOnly", "system_user=yes; Path=/"]
        user = next((u for u, sid in SESSIONS.items() if f"sid={sid}" in (headers.get("Cookie") or "")), None)
        if user is None:
            return 403, {"exc_type": "PermissionError"}, []
        if method == "DELETE":
            return 202, {"message": "ok"}, []
        if path == "/api/method/frappe.client.insert_many":
            docs = json.loads(body["docs"])
            assert len(docs) <= 200
            return 200, {"message": [self._insert(user, d) for d in docs]}, []
        if path.startswith("/api/resource/DocType/") or path.startswith("/api/resource/User/"):
            return 200, {"data": {"permissions": [], "roles": []}}, []
        segments = path.removeprefix("/api/resource/").split("/")
        if len(segments) == 1 and method == "POST":
            if segments[0].startswith("Peer Bench"):
                return 200, {"data": {"name": self._insert(user, body)}}, []
            return 200, {"data": body}, []
        if len(segments) == 2 and method == "GET":
            record = self.records.get(segments[1])
            return (200, {"data": record}, []) if record else (404, {"exc_type": "DoesNotExistError"}, [])
        if len(segments) == 1 and method == "GET":
            query = parse_qs(parts.query)
            with self.lock:
                self.list_queries.append(query)
            rows = [r for r in self.records.values() if user == "Administrator" or r["owner"] == user]
            rows = [r for r in rows if r["status"] == "open" and float(r["amount"]) >= 500]
            rows.sort(key=lambda r: r["title"])
            return 200, {"data": rows[:int(query["limit_page_length"][0])]}, []
        return 404, {"exc_type": "DoesNotExistError"}, []

    def _insert(self, user: str, doc: dict[str, Any]) -> str:
        with self.lock:
            name = f"h{len(self.records):06d}"
            self.records[name] = {**doc, "name": name, "owner": user}
        return name


@pytest.fixture()
def frappe() -> Iterator[tuple[FakeFrappe, str]]:
    fake = FakeFrappe()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer, cookies = fake.answer(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_frappe_adapter_sends_the_documented_requests(frappe: tuple[FakeFrappe, str],
                                                      tmp_path: Path) -> None:
    fake, url = frappe
    out = tmp_path / "frappe.json"
    rc = cli.main(["--target", "frappe", "--url", url, "--user", "Administrator", "--password", "pw",
                   "--scoped-user", "clerk@example.com", "--scoped-password", "pw",
                   "--clients", "1", "--seconds", "0.5", "--records", "40", "--out", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    for name, w in doc["workloads"].items():
        assert w["requests"] > 0 and w["errors"] == 0, (name, w)
    query = fake.list_queries[0]
    assert json.loads(query["filters"][0]) == [["status", "=", "open"], ["amount", ">=", 500]]
    assert query["order_by"] == ["title asc"] and query["limit_page_length"] == ["50"]
    posted = {(m, p) for m, p, _ in fake.seen}
    assert ("POST", "/api/resource/DocType") in posted
    assert ("POST", "/api/resource/Custom Field") in posted
    doctype = next(b for m, p, b in fake.seen if (m, p) == ("POST", "/api/resource/DocType"))
    assert doctype["custom"] == 1 and {f["fieldname"] for f in doctype["fields"]} == {
        "title", "status", "amount"}
    assert ("DELETE", f"/api/resource/DocType/{doctype['name']}") in posted


def test_a_wrong_password_stops_before_any_change(frappe: tuple[FakeFrappe, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    fake, url = frappe
    rc = cli.main(["--target", "frappe", "--url", url, "--user", "Administrator", "--password", "no",
                   "--seconds", "0.5", "--out", str(tmp_path / "x.json")])
    assert rc == 2 and "sign-in" in capsys.readouterr().err
    assert [p for _, p, _ in fake.seen] == ["/api/method/login"]
