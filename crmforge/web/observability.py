"""Operating the server: health and readiness probes, Prometheus metrics, request ids and
access logs.

- ``GET /healthz`` answers 200 while the process serves requests (liveness: nothing is
  checked that a restart would not fix).
- ``GET /readyz`` answers 200 when the control database answers, 503 otherwise (a load
  balancer stops sending traffic to an instance that cannot reach its database).
- ``GET /metrics`` is Prometheus's text format: requests by route template (never the raw
  path, which would make one series per record id) and status, latency histograms, access
  audit entries waiting for their batch, background backfills running, and database pool
  use. Under several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (``crmforge serve
  --workers`` does) and every worker's figures add up.
- Every request gets an id: the caller's ``X-Request-ID`` when it is a sane token, else a
  new one; it comes back in ``X-Request-ID``, in the body of a 500, in the access log line
  and in every error logged while the request runs.
- Access logs go to the ``crmforge.access`` logger, one line per request, JSON by default
  (``CRMFORGE_LOG_FORMAT=text`` for plain lines).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ..runtime import Instance

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

access_log = logging.getLogger("crmforge.access")

REQUESTS = Counter("crmforge_http_requests_total", "HTTP requests answered",
                   ["method", "route", "status"])
LATENCY = Histogram("crmforge_http_request_seconds", "Time to answer an HTTP request",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
AUDIT_PENDING = Gauge("crmforge_access_audit_pending", "Access-audit entries waiting for "
                      "their batch", multiprocess_mode="livesum")
JOBS = Gauge("crmforge_jobs", "Background jobs of this process by state", ["state"],
             multiprocess_mode="livesum")
POOL = Gauge("crmforge_db_pool_connections", "Database connections of this process",
             ["state"], multiprocess_mode="livesum")


def request_id() -> str | None:
    """The current request's id (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record made while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log collectors parse without rules."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
            "logger": record.name, "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage()}
        extra = getattr(record, "access", None)
        if isinstance(extra, dict):
            body.update(extra)
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


def configure_logging(fmt: str | None = None) -> None:
    """Logs to standard error, JSON or text (``CRMFORGE_LOG_FORMAT``), with request ids;
    for ``crmforge serve`` (an embedding server may configure logging its own way)."""
    fmt = (fmt or os.environ.get("CRMFORGE_LOG_FORMAT", "json")).lower()
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "text":
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(os.environ.get("CRMFORGE_LOG_LEVEL", "INFO").upper())


def _registry() -> CollectorRegistry | None:
    """With several worker processes, a registry that adds up every worker's files."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _sample(inst: Instance) -> None:
    """Gauges read at scrape time from what the process holds."""
    pending = sum(t.access_log.pending for t in inst.open_tenants())
    AUDIT_PENDING.set(pending)
    checked_out = idle = 0
    for engine in inst.engines():
        pool: Any = engine.pool
        if hasattr(pool, "checkedout"):
            checked_out += int(pool.checkedout())
            idle += int(pool.checkedin())
    POOL.labels("in_use").set(checked_out)
    POOL.labels("idle").set(idle)
    from ..runtime import jobs
    JOBS.labels("running").set(jobs.running_locally())


@functools.lru_cache(maxsize=4096)
def _counted(method: str, route: str, status: int) -> Any:
    """The request counter's child for these labels, looked up once (``labels`` takes a
    lock and builds its key on every call; routes and statuses are few)."""
    return REQUESTS.labels(method, route, str(status))


@functools.lru_cache(maxsize=4096)
def _timed(method: str, route: str) -> Any:
    return LATENCY.labels(method, route)


def register(app: Flask) -> None:
    inst: Instance = app.extensions["crmforge"]

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_ID.match(incoming) else os.urandom(16).hex()
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        rid = g.get("request_id")
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid
        started = g.get("started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        _counted(request.method, route, response.status_code).inc()
        _timed(request.method, route).observe(seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return response
        tenant = g.get("tenant")
        principal = g.get("principal")
        access_log.info("%s %s %s", request.method, route, response.status_code, extra={
            "access": {"method": request.method, "path": request.path, "route": route,
                       "status": response.status_code, "ms": round(seconds * 1000, 2),
                       "tenant": getattr(tenant, "name", None),
                       "user": getattr(principal, "label", None),
                       "remote_addr": request.remote_addr}})
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        try:
            inst.check_ready()
        except Exception as exc:  # any failure means: not ready
            logging.getLogger("crmforge.web").warning("not ready: %s", type(exc).__name__)
            return {"status": "unavailable", "reason": "the database does not answer"}, 503
        return {"status": "ok"}, 200

    @app.get("/metrics")
    def metrics() -> Response:
        _sample(current_app.extensions["crmforge"])
        registry = _registry()
        body = generate_latest(registry) if registry is not None else generate_latest()
        return Response(body, mimetype=CONTENT_TYPE_LATEST)


__all__ = ["REQUEST_ID_HEADER", "configure_logging", "register", "request_id"]
