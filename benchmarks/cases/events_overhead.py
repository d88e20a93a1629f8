"""events_overhead: what listening costs a write. Single-record creates over HTTP and bulk
creates (100 records per request) of an object with one webhook and one automation rule
active, against the same writes of an identical object nobody listens to, in the same
tenant and the same run, interleaved.

The busy side pays, in the request, for its event rows (written last, under the outbox
lock) and for queueing the ``events`` job. What happens after commit (the rule's condition
and action, the webhook's delivery row and its POST to a receiver on 127.0.0.1) runs on
the job worker, a process of its own in production (``crmforge worker``, or the master of
``crmforge serve``): here the jobs are collected while the requests are timed, then run to
the end untimed, and their throughput is reported beside the figures. Target
(integrations issue): at most 15% slower, i.e. a cost of at most 1.15x.
"""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from crmforge import tasks
from crmforge.runtime import jobs
from crmforge.web.app import create_app

from ..data import as_request, typed_rows
from ..report import BenchResult
from ..timing import compare
from .common import Context, create_object, sign_in, time_figure

NAME = "events_overhead"
BUSY, QUIET = "deal_busy", "deal_quiet"
BULK = 100


class _Receiver(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def run(ctx: Context, result: BenchResult) -> None:
    sizes = ctx.config.sizes
    ws = ctx.scratch()
    for name in (BUSY, QUIET):
        create_object(ws.tenant, name)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    http = sign_in(create_app(ws.instance))
    c, h = http.client, http.headers
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    r = c.post("/api/v1/admin/webhooks", headers=h, json={
        "name": "bench", "url": url, "events": ["record.created"], "objects": [BUSY],
        "secret": "bench-secret-0123456789"})
    if r.status_code != 201:
        raise RuntimeError(f"events_overhead: the webhook was refused: {r.get_data(True)[:300]}")
    r = c.post("/api/v1/meta/automations", headers=h, json={
        "name": "flag_big", "object": BUSY, "when": "created", "condition": "amount > 5000",
        "actions": [{"type": "update", "set": {"notes": "'big deal'"}}]})
    if r.status_code != 201:
        raise RuntimeError(f"events_overhead: the rule was refused: {r.get_data(True)[:300]}")
    count = sizes.get_requests
    rng = random.Random(7)
    one = [as_request(x) for x in typed_rows(rng, 2 * (count + sizes.warmup))]
    busy_one, quiet_one = iter(one), iter(one[1::2] + one[::2])

    def post(obj: str, body: Any) -> None:
        r = c.post(f"/api/v1/records/{obj}", json=body, headers=h)
        if r.status_code != 201:
            raise RuntimeError(f"create answered {r.status_code}: {r.get_data(True)[:300]}")

    def bulk(obj: str) -> None:
        rows = [as_request(x) for x in typed_rows(rng, BULK)]
        r = c.post(f"/api/v1/records/{obj}/bulk", json={"mode": "create", "records": rows},
                   headers=h)
        if r.status_code != 200:
            raise RuntimeError(f"bulk answered {r.status_code}: {r.get_data(True)[:300]}")

    tenant = ws.tenant
    queued: list[int] = []
    tenant.dispatch = lambda t, job_id: queued.append(job_id)  # the worker's queue
    try:
        cmp = compare(lambda: post(BUSY, next(busy_one)), lambda: post(QUIET, next(quiet_one)),
                      iterations=count, warmup=sizes.warmup)
        result.figures.append(time_figure("events_overhead.create_one (mean)", cmp))
        batches = max(5, count // 20)
        cmp = compare(lambda: bulk(BUSY), lambda: bulk(QUIET), iterations=batches, warmup=2)
        result.figures.append(time_figure("events_overhead.bulk_100 (mean)", cmp,
                                          unit="ms/request", factor=1e3))
        began, ran = time.perf_counter(), 0
        while queued:  # the worker's share, untimed: events, then the deliveries they make
            jobs.run(tenant, queued.pop(0), tasks.HANDLERS)
            ran += 1
        worker_s = time.perf_counter() - began
        jobs.wait_local(120)
        result.details.update(requests_per_side=count, bulk_requests_per_side=batches,
                              deliveries_received=_Receiver.received, worker_jobs=ran,
                              worker_seconds=round(worker_s, 2), target_cost=1.15)
        if _Receiver.received == 0:
            raise RuntimeError("events_overhead: no delivery reached the receiver")
    finally:
        tenant.dispatch = None
        receiver.shutdown()
