"""The timed part: N client threads sending one kind of request for S seconds.

Every workload goes through ``drive``: each thread owns its connection, sends one untimed
request (connection set-up, first-touch caches), waits for the others at a barrier and
then sends requests back to back until the time is up, recording when each started, how
long it took and whether the answer was the expected one. Nothing is shared between
threads while timing (each appends to its own list), so the client adds no contention of
its own to what it measures. Throughput is successful requests over the wall time from
the barrier to the last answer.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .adapters import STATUSES, Adapter, Call
from .client import REQUEST_TIMEOUT, Client

#: Schema changes made by the add-field workload at most (one per second of it).
MAX_FIELD_CHANGES = 5

#: Requests one workload sends at most, whatever its time (bounds what ``create`` writes).
MAX_REQUESTS = 200_000


@dataclass
class Sample:
    """One request: when it started (perf_counter), its seconds, and whether it worked."""

    started: float
    seconds: float
    ok: bool


@dataclass
class Run:
    """The samples of one workload and the first distinct errors (for the report)."""

    samples: list[Sample]
    wall_seconds: float
    errors: list[str] = field(default_factory=list)
    list_rows: list[int] = field(default_factory=list)


@dataclass
class WorkloadResult:
    """A workload's figures, as printed and as written to the JSON file."""

    name: str
    clients: int
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    latency_ms: dict[str, float]
    error_samples: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def random_row(rnd: random.Random, number: int) -> dict[str, Any]:
    """A record of the benchmark object: ~1 in 8 rows match the filtered list."""
    word = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    return {"title": f"{word} {number}", "status": rnd.choice(STATUSES),
            "amount": f"{rnd.randint(0, 99_999) / 100:.2f}"}


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds (nearest rank: always a measured value)."""
    if not values:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan, "mean": math.nan}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1] * 1000,
            "mean": sum(ordered) / len(ordered) * 1000}


def drive(clients: list[Client], make_call: Callable[[random.Random, int], Call], expected: int,
          seconds: float, *, count_rows: Callable[[Any], int] | None = None,
          meanwhile: Callable[[], None] | None = None) -> Run:
    """Run ``make_call`` requests from one thread per client for ``seconds``.

    ``meanwhile`` runs in the calling thread once all clients are sending (the schema
    change of the add-field workload); the clients keep sending until both it and the
    time are over, so every change happens under load.
    """
    barrier = threading.Barrier(len(clients) + 1)
    per_thread: list[list[Sample]] = [[] for _ in clients]
    rows: list[list[int]] = [[] for _ in clients]
    errors: list[str] = []
    stop = threading.Event()

    def one(client: Client, call: Call) -> tuple[bool, Any, str]:
        try:
            response = client.request(call.method, call.path, call.body)
        except Exception as exc:  # a refused, reset or timed-out request is an error, not a crash
            return False, None, f"{type(exc).__name__}: {exc}"
        if response.status != expected:
            return False, None, f"HTTP {response.status} {call.method}: {str(response.body)[:200]}"
        return True, response.body, ""

    def worker(index: int) -> None:
        rnd = random.Random(index)
        client = clients[index]
        one(client, make_call(rnd, index))  # warm-up, untimed
        barrier.wait()
        samples, counts = per_thread[index], rows[index]
        own_limit = max(1, MAX_REQUESTS // len(clients))
        while not stop.is_set() and len(samples) < own_limit:
            call = make_call(rnd, index)
            started = time.perf_counter()
            ok, body, error = one(client, call)
            samples.append(Sample(started, time.perf_counter() - started, ok))
            if ok and count_rows is not None:
                counts.append(count_rows(body))
            elif not ok and len(errors) < 20:
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(clients))]
    for t in threads:
        t.start()
    barrier.wait(timeout=REQUEST_TIMEOUT * 2)
    started = time.perf_counter()
    deadline = started + seconds
    try:
        if meanwhile is not None:
            meanwhile()
        time.sleep(max(0.0, deadline - time.perf_counter()))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
    samples = [s for thread in per_thread for s in thread]
    last = max((s.started + s.seconds for s in samples), default=started)
    return Run(samples, max(last - started, 1e-9), sorted(set(errors))[:5],
               [n for thread in rows for n in thread])


def result_of(name: str, run: Run, clients: int, latencies: list[float] | None = None,
              details: dict[str, Any] | None = None) -> WorkloadResult:
    """Figures of a run; ``latencies`` replaces the successful requests' own when given."""
    ok = [s.seconds for s in run.samples if s.ok]
    extra = dict(details or {})
    if run.list_rows:
        extra["rows_per_page_mean"] = round(sum(run.list_rows) / len(run.list_rows), 1)
    return WorkloadResult(
        name=name, clients=clients, seconds=round(run.wall_seconds, 3), requests=len(run.samples),
        errors=sum(1 for s in run.samples if not s.ok),
        requests_per_second=len(ok) / run.wall_seconds,
        latency_ms=percentiles(ok if latencies is None else latencies),
        error_samples=run.errors, details=extra)


class Workloads:
    """The five workloads, over one adapter and the records setup made."""

    def __init__(self, adapter: Adapter, ids: list[str], seconds: float) -> None:
        self.adapter, self.ids, self.seconds = adapter, ids, seconds

    def create(self, clients: list[Client]) -> WorkloadResult:
        counter = iter(range(10**9))  # next() on a range iterator is atomic under the GIL

        def call(rnd: random.Random, _i: int) -> Call:
            return self.adapter.create(random_row(rnd, next(counter)))

        run = drive(clients, call, self.adapter.created_status, self.seconds)
        return result_of("create", run, len(clients))

    def get_one(self, clients: list[Client]) -> WorkloadResult:
        def call(rnd: random.Random, _i: int) -> Call:
            return self.adapter.get(rnd.choice(self.ids))

        return result_of("get_one", drive(clients, call, 200, self.seconds), len(clients))

    def filtered_list(self, clients: list[Client], name: str = "filtered_list") -> WorkloadResult:
        page = self.adapter.filtered_list()
        run = drive(clients, lambda _r, _i: page, 200, self.seconds,
                    count_rows=self.adapter.list_items)
        return result_of(name, run, len(clients))

    def add_field_reading(self, clients: list[Client], admin: Client) -> WorkloadResult:
        """Readers get records while the admin adds fields, one change at a time.

        The latency reported is that of the reads that overlapped a change (what a user
        notices while someone edits the schema); the reads outside the changes and each
        change's own duration are in the details.
        """
        changes = max(1, min(MAX_FIELD_CHANGES, int(self.seconds)))
        spans: list[tuple[float, float]] = []
        change_errors: list[str] = []

        def change() -> None:
            start = time.perf_counter()
            for n in range(changes):
                # Spread the changes over the run, leaving reads before and after each.
                time.sleep(max(0.0, start + self.seconds * (n + 0.5) / (changes + 0.5)
                               - time.perf_counter()))
                call = self.adapter.add_field(admin, n + 1)
                began = time.perf_counter()
                try:
                    response = admin.request(call.method, call.path, call.body)
                    status = response.status
                except Exception as exc:
                    status, response = 0, None
                    change_errors.append(f"{type(exc).__name__}: {exc}")
                spans.append((began, time.perf_counter()))
                if status not in (200, 201):
                    change_errors.append(f"HTTP {status}: {str(response and response.body)[:200]}")

        def read(rnd: random.Random, _i: int) -> Call:
            return self.adapter.get(rnd.choice(self.ids))

        run = drive(clients, read, 200, self.seconds, meanwhile=change)
        during: list[float] = []
        outside: list[float] = []
        for s in (s for s in run.samples if s.ok):
            overlaps = any(s.started < end and s.started + s.seconds > begin for begin, end in spans)
            (during if overlaps else outside).append(s.seconds)
        durations = [(end - begin) * 1000 for begin, end in spans]
        result = result_of("add_field_reading", run, len(clients),
                           latencies=during, details={
                               "field_changes": len(spans),
                               "change_ms": [round(d, 2) for d in durations],
                               "change_ms_median": sorted(durations)[len(durations) // 2],
                               "change_ms_max": max(durations),
                               "change_errors": change_errors[:5],
                               "reads_during_changes": len(during),
                               "reads_outside_latency_ms": percentiles(outside)})
        result.errors += len(change_errors)
        return result


__all__ = ["WorkloadResult", "Workloads", "percentiles", "random_row"]
