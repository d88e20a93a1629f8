"""``python -m benchmarks.peer``: options, setup, the five workloads, table and JSON.

Setup (sign-in, the object, seed records) is not timed and is done through the target's
own API, like any client would; the workloads then run one after another with the same
threads settings. Reads come before ``create`` so they see exactly the seeded records, and
the schema change comes last because it changes the object. What setup created is removed
at the end (``--keep`` leaves it for inspection).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .adapters import Adapter, adapter_for
from .client import Client, Target, TargetError
from .workloads import WorkloadResult, Workloads, random_row

DEFAULT_OUT = Path("benchmarks/results/peer.json")

#: Bounds: the runner loads a server on purpose, so how hard and how long must be bounded.
MAX_CLIENTS = 64
MAX_SECONDS = 300.0
MAX_RECORDS = 200_000

#: Share of the seeded records the scoped user creates (and so owns and sees).
SCOPED_SHARE = 0.1


def _bounded_int(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value
    return parse


def _seconds(text: str) -> float:
    value = float(text)
    if not 0.5 <= value <= MAX_SECONDS:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0.5 and {MAX_SECONDS:g}")
    return value


def _url(text: str) -> Target:
    try:
        return Target.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peer",
        description="The same HTTP workloads against CRMForge or a peer (Frappe), from one "
                    "client: compare targets run on the same machine with the same settings.")
    parser.add_argument("--target", required=True, choices=("crmforge", "frappe"))
    parser.add_argument("--url", required=True, type=_url, help="base URL, http:// or https:// only")
    parser.add_argument("--user", required=True, help="an administrator of the target")
    parser.add_argument("--password", required=True)
    parser.add_argument("--scoped-user", help="a restricted user for the scoped list (optional; "
                        "given a role that reads only its own records, removed at the end)")
    parser.add_argument("--scoped-password")
    parser.add_argument("--clients", type=_bounded_int(1, MAX_CLIENTS), default=4,
                        help="client threads per workload (default 4)")
    parser.add_argument("--seconds", type=_seconds, default=5.0,
                        help="seconds per workload (default 5)")
    parser.add_argument("--records", type=_bounded_int(1, MAX_RECORDS), default=5000,
                        help="records seeded before the workloads (default 5000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results ({DEFAULT_OUT})")
    parser.add_argument("--keep", action="store_true", help="leave the object and its records")
    args = parser.parse_args(argv)
    if (args.scoped_user is None) != (args.scoped_password is None):
        parser.error("--scoped-user and --scoped-password go together")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, run every workload, tear down; the JSON document of the run."""
    target: Target = args.url
    adapter: Adapter = adapter_for(args.target, target)
    setup_started = time.perf_counter()
    admin_headers = adapter.sign_in(args.user, args.password)
    admin = Client(target, admin_headers)
    scoped_headers: dict[str, str] | None = None
    results: list[WorkloadResult] = []
    try:
        log(f"setup: creating the object on {target}")
        adapter.create_object(admin)
        if args.scoped_user:
            adapter.grant_scoped(admin, args.scoped_user)
            scoped_headers = adapter.sign_in(args.scoped_user, args.scoped_password)
        rnd = random.Random(42)
        rows = [random_row(rnd, n) for n in range(args.records)]
        scoped_count = math.ceil(len(rows) * SCOPED_SHARE) if scoped_headers else 0
        log(f"setup: seeding {len(rows)} records")
        ids = adapter.seed(admin, rows[scoped_count:])
        if scoped_headers:
            scoped_client = Client(target, scoped_headers)
            try:
                ids += adapter.seed(scoped_client, rows[:scoped_count])
            finally:
                scoped_client.close()
        setup_seconds = time.perf_counter() - setup_started
        work = Workloads(adapter, ids, args.seconds)

        def clients(headers: dict[str, str]) -> list[Client]:
            return [Client(target, headers) for _ in range(args.clients)]

        steps: list[tuple[str, Any]] = [
            ("get_one", lambda: work.get_one(clients(admin_headers))),
            ("filtered_list", lambda: work.filtered_list(clients(admin_headers)))]
        if scoped_headers is not None:
            scoped = scoped_headers
            steps.append(("scoped_list", lambda: work.filtered_list(clients(scoped), "scoped_list")))
        steps += [("create", lambda: work.create(clients(admin_headers))),
                  ("add_field_reading", lambda: work.add_field_reading(clients(admin_headers), admin))]
        for name, step in steps:
            log(f"workload: {name} ({args.clients} clients, {args.seconds:g} s)")
            results.append(step())
    finally:
        if not args.keep:
            try:
                adapter.teardown(admin, args.scoped_user)
            except Exception as exc:  # a failed clean-up must not hide the results
                log(f"teardown failed: {exc}")
        admin.close()
    return {"target": adapter.name, "url": str(target),
            "machine": {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                        "python": platform.python_version(), "platform": platform.platform(),
                        "cpu_count": os.cpu_count()},
            "settings": {"clients": args.clients, "seconds": args.seconds,
                         "records": args.records, "scoped_user": args.scoped_user is not None},
            "setup_seconds": round(setup_seconds, 2),
            "workloads": {r.name: asdict(r) for r in results}}


def table(doc: dict[str, Any]) -> str:
    """The human-readable summary: one line per workload, latencies in milliseconds."""
    head = (f"{'workload':<18} {'clients':>7} {'requests':>9} {'req/s':>9} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    lines = [f"{doc['target']} at {doc['url']}  ({doc['settings']['records']} records, "
             f"{doc['settings']['seconds']:g} s per workload)", head, "-" * len(head)]
    for w in doc["workloads"].values():
        lat = w["latency_ms"]
        lines.append(f"{w['name']:<18} {w['clients']:>7} {w['requests']:>9} "
                     f"{w['requests_per_second']:>9.1f} {lat['p50']:>8.1f} {lat['p95']:>8.1f} "
                     f"{lat['p99']:>8.1f} {w['errors']:>6}")
    change = doc["workloads"].get("add_field_reading")
    if change:
        d = change["details"]
        lines.append(f"add_field_reading: {d['field_changes']} schema changes, median "
                     f"{d['change_ms_median']:.1f} ms, max {d['change_ms_max']:.1f} ms; latency above "
                     f"is of the {d['reads_during_changes']} reads overlapping a change (others: "
                     f"p99 {d['reads_outside_latency_ms']['p99']:.1f} ms)")
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """NaN (a percentile of no samples) as null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        doc = run(args)
    except (TargetError, OSError, http.client.HTTPException) as exc:
        log(f"error: {exc}")
        return 2
    print(table(doc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n")
    log(f"results: {args.out}")
    return 1 if any(w["errors"] for w in doc["workloads"].values()) else 0
