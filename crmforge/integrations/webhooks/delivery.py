"""One HTTP attempt of one delivery: a signed JSON POST, and what came of it.

Short timeouts (``CRMFORGE_WEBHOOK_TIMEOUT_S``, default 5 seconds, for connecting and
for each read), redirects not followed (a 3xx is an answer that is not a success), no
proxy from the environment, and only the first ``EXCERPT`` characters of the answer kept
for the log. A 2xx answer is a success; a timeout, a connection error or any other
answer is a failure the runner retries (``runner.py``). With
``CRMFORGE_WEBHOOK_ALLOW_PRIVATE=false`` the host's addresses are checked after
resolution, just before connecting.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .documents import address_problem, allow_private

#: Characters of an answer kept in the delivery log.
EXCERPT = 500


def timeout() -> float:
    raw = os.environ.get("CRMFORGE_WEBHOOK_TIMEOUT_S", "")
    try:
        return min(30.0, max(0.05, float(raw))) if raw else 5.0
    except ValueError:
        return 5.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    excerpt: str | None = None
    error: str | None = None
    duration_ms: int = 0


def _resolved_problem(url: str) -> str | None:
    """A private address behind a name, when private receivers are not allowed."""
    if allow_private():
        return None
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", parts.port or 0,
                                   type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"the host does not resolve: {exc}"[:300]
    import ipaddress

    for info in infos:
        problem = address_problem(ipaddress.ip_address(info[4][0]))
        if problem:
            return "refused: the host " + problem
    return None


_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def _client() -> httpx.Client:
    """The process's one HTTP client (thread-safe): making one per delivery builds a TLS
    context each time and opens a new connection each time, which held deliveries to a
    few dozen a second; shared, connections to a receiver are kept alive and reused."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = httpx.Client(follow_redirects=False, trust_env=False,
                                   limits=httpx.Limits(max_connections=50,
                                                       max_keepalive_connections=20))
        return _shared


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to ``url``; never raises for what the network or receiver does."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    refused = _resolved_problem(url)
    if refused:
        return Outcome(False, error=refused, duration_ms=took())
    limit = timeout()
    try:
        with _client().stream("POST", url, content=body, headers=headers,
                              timeout=httpx.Timeout(limit)) as answer:
            raw = b""
            deadline = time.monotonic() + limit
            for chunk in answer.iter_bytes():
                raw += chunk
                if len(raw) >= EXCERPT * 4 or time.monotonic() > deadline:
                    break
            excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT]
            code = answer.status_code
    except httpx.TimeoutException:
        return Outcome(False, error=f"timed out after {limit:g} s", duration_ms=took())
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"connection failed: {type(exc).__name__}: {exc}"[:300],
                       duration_ms=took())
    except (ValueError, OSError) as exc:
        return Outcome(False, error=f"could not send: {exc}"[:300], duration_ms=took())
    ok = 200 <= code < 300
    return Outcome(ok, code, excerpt or None,
                   None if ok else f"the receiver answered {code}", took())


__all__ = ["EXCERPT", "Outcome", "post", "timeout"]
