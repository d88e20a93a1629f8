"""One keep-alive HTTP connection per client thread, and the target URL it may talk to.

``http.client`` rather than a higher-level library: it adds almost nothing per request,
so the client's own cost stays small and the same for every target, and it comes with
Python (the runner needs nothing installed on the machine it measures). A connection is
kept open between requests when the server allows it (HTTP/1.1 keep-alive) and reopened
after the server closes it, so servers that close every connection are still measured,
only paying for their choice.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

#: Seconds one request may take before it counts as an error (bounds every run).
REQUEST_TIMEOUT = 30.0


class TargetError(Exception):
    """The target refused the benchmark's setup or answered something it cannot use."""


@dataclass(frozen=True)
class Target:
    """A checked base URL: scheme, host, port and path prefix, nothing else."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """Accept only plain ``http(s)://host[:port][/prefix]``.

        The runner sends credentials and creates objects wherever it is pointed, so a URL
        it does not understand exactly (another scheme, credentials in the URL, a query)
        is refused rather than guessed at.
        """
        try:
            parts: SplitResult = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {url!r} ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"only http:// and https:// URLs are supported, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"the URL has no host name: {url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put credentials in --user/--password, not in the URL")
        if parts.query or parts.fragment:
            raise ValueError(f"the URL must not carry a query or fragment: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, port or default, parts.path.rstrip("/"))

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"


@dataclass
class Response:
    """What a workload needs of an answer: its status, decoded body and headers."""

    status: int
    body: Any
    headers: http.client.HTTPMessage


class Client:
    """A single connection to the target with fixed headers (the signed-in identity).

    Not thread-safe on purpose: each client thread owns one, like one browser tab or one
    integration worker, so no thread waits for another's connection.
    """

    def __init__(self, target: Target, headers: dict[str, str] | None = None) -> None:
        self.target = target
        self.headers = {"Accept": "application/json", **(headers or {})}
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.target.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.target.host, self.target.port, timeout=REQUEST_TIMEOUT,
                    context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(
                    self.target.host, self.target.port, timeout=REQUEST_TIMEOUT)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request; a connection the server closed in between is reopened once.

        A keep-alive connection may be closed by the server while idle; retrying on a
        fresh connection once is what any HTTP client does, and is not an error of the
        server. Only a reused connection is retried (a fresh one that fails has reached
        the server, and a create must not be sent twice); any other failure propagates.
        """
        all_headers = dict(self.headers)
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        while True:
            reused = self._conn is not None
            conn = self._connection()
            try:
                conn.request(method, self.target.prefix + path, body=data, headers=all_headers)
                raw = conn.getresponse()
                content = raw.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused:
                    raise
                continue
            except Exception:
                self.close()
                raise
            if raw.will_close:
                self.close()
            return Response(raw.status, _decode(content, raw.getheader("Content-Type")),
                            raw.headers)

    def timed(self, method: str, path: str, body: Any = None) -> tuple[Response, float]:
        """The answer and the seconds from sending to having read the whole body."""
        started = time.perf_counter()
        response = self.request(method, path, body)
        return response, time.perf_counter() - started


def _decode(content: bytes, content_type: str | None) -> Any:
    if not content:
        return None
    if content_type and "json" in content_type:
        try:
            return json.loads(content)
        except ValueError:
            pass
    return content[:500].decode("utf-8", "replace")


def expect(response: Response, *statuses: int, what: str) -> Any:
    """The body of an answer a setup step needs, or a ``TargetError`` saying what failed."""
    if response.status not in statuses:
        raise TargetError(f"{what}: HTTP {response.status}: {str(response.body)[:300]}")
    return response.body
