"""read_scaling: reads per second as clients and worker processes grow, under a writer.

A real server (``crmforge serve``, in its own processes) answers ``GET
/api/v1/records/<object>/<id>`` to 1, 4 and 16 client threads for a fixed time while a
writer thread updates records as fast as the server lets it. Reads no longer take the
write lock (their audit is written off the request path), so they should scale with
clients instead of staying flat behind the writer. Then the same 16 clients against 1, 2
and 4 worker processes (``--workers``): on the 2 cores here, at least 0.8 N times one
process's rate is the target for N up to the number of cores.

The load generator shares the machine with the server, so the absolute numbers are low;
each figure is a ratio against the 1-client (or 1-process) rate of the same run. On
PostgreSQL the server is the instance's own (its configuration names the database), and
the database server shares the two cores as well.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from crmforge.runtime import Designer, RecordService
from crmforge.security import SYSTEM

from ..config import ADMIN_PASSWORD
from ..report import BenchResult
from .common import Context, value_figure

NAME = "read_scaling"
OBJECT = "deal_scale"
DOC = {"name": OBJECT, "fields": [{"name": "title", "type": "text"},
                                  {"name": "amount", "type": "decimal"}]}


def run(ctx: Context, result: BenchResult) -> None:
    quick = ctx.config.quick
    seconds = 2.0 if quick else 6.0
    ws = ctx.scratch()
    tenant = ws.tenant
    Designer(tenant).create_object(SYSTEM, DOC)
    ids = RecordService(tenant).create_many(
        SYSTEM, OBJECT, [{"title": f"d{i}", "amount": str(i)} for i in range(500)])
    ws.instance.dispose()
    path = str(ws.instance.path)
    rates: dict[tuple[int, int], float] = {}
    for workers, clients_list in ((1, (1, 4, 16)), (2, (16,)), (4, (16,))):
        with _Server(path, workers) as server:
            token = server.token()
            for clients in clients_list:
                rates[(workers, clients)] = _measure(server.port, token, ids, clients, seconds)
    one = rates[(1, 1)]
    for clients in (4, 16):
        result.figures.append(value_figure(
            f"read_scaling.{clients} clients vs 1 (1 process, under a writer)", "reads/s",
            rates[(1, clients)], one, "higher"))
    base = rates[(1, 16)]
    for workers in (2, 4):
        result.figures.append(value_figure(
            f"read_scaling.{workers} processes vs 1 (16 clients, under a writer)", "reads/s",
            rates[(workers, 16)], base, "higher"))
    result.details.update(seconds_per_point=seconds, cores=os.cpu_count(),
                          rates={f"{w} workers, {c} clients": round(r, 1)
                                 for (w, c), r in rates.items()})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, path: str, workers: int) -> None:
        self.path, self.workers, self.port = path, workers, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Server:
        env = {k: v for k, v in os.environ.items() if k != "CRMFORGE_DATABASE_URL"}
        env["CRMFORGE_LOG_LEVEL"] = "WARNING"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crmforge.cli", "serve", "--instance", self.path,
             "--port", str(self.port), "--workers", str(self.workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _request(self.port, "GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("read_scaling: the server did not start")

    def token(self) -> str:
        status, body = _request(self.port, "POST", "/api/v1/auth/token",
                                {"username": "admin", "password": ADMIN_PASSWORD})
        if status != 200:
            raise RuntimeError(f"read_scaling: sign-in answered {status}")
        return str(body["token"])

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def _request(port: int, method: str, path: str, body: Any = None,
             token: str | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def _measure(port: int, token: str, ids: list[int], clients: int, seconds: float) -> float:
    """Successful reads per second of ``clients`` threads while a writer updates."""
    stop = threading.Event()
    counts = [0] * clients
    failures: list[int] = []

    def reader(i: int) -> None:
        rnd = random.Random(i)
        while not stop.is_set():
            status, _ = _request(port, "GET", f"/api/v1/records/{OBJECT}/{rnd.choice(ids)}",
                                 token=token)
            if status == 200:
                counts[i] += 1
            else:
                failures.append(status)

    def writer() -> None:
        rnd = random.Random(99)
        while not stop.is_set():
            rid = rnd.choice(ids)
            status, body = _request(port, "GET", f"/api/v1/records/{OBJECT}/{rid}", token=token)
            if status == 200:
                _request(port, "PATCH", f"/api/v1/records/{OBJECT}/{rid}",
                         {"amount": str(rnd.randint(1, 10**6)), "version": body["version"]},
                         token=token)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    time.sleep(0.5)  # warm-up: connections, caches
    start_counts = sum(counts)
    started = time.perf_counter()
    time.sleep(seconds)
    done = sum(counts) - start_counts
    elapsed = time.perf_counter() - started
    stop.set()
    for t in threads:
        t.join(timeout=60)
    if failures:
        raise RuntimeError(f"read_scaling: {len(failures)} reads failed ({sorted(set(failures))})")
    return done / elapsed
