"""Installing every shipped pack into a fresh tenant (DESIGN §8; target: under 5 seconds).

Run: ``.venv/bin/python -m benchmarks.pack_install [--rounds N]``. Prints a table and writes
``benchmarks/results/pack_install.json``.

With ``--sample-users`` each pack's sample organisation (departments, users, owners) is
made too, as ``pack install --sample-users`` does.

Measured: ``Installer.install`` of each pack in ``packs/`` (dependencies first) into a new
SQLite tenant: loading and checking the files, metadata versions, DDL, roles, layouts,
processes, and the sample records through the record service. Baseline, in the same run
and interleaved round by round: the same final tables created with SQLAlchemy's
``create_all`` and the same number of rows inserted with ``executemany`` in one
transaction, which is the least any installer must do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from crmforge.installer import Installer, load_pack
from crmforge.runtime import Instance
from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

PACKS = Path(__file__).resolve().parents[1] / "packs"
RESULTS = Path(__file__).resolve().parent / "results" / "pack_install.json"


def pack_order() -> list[str]:
    """Every shipped pack, each after its dependencies."""
    names = sorted(p.name for p in PACKS.iterdir() if (p / "pack.yaml").is_file())
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        manifest = yaml.safe_load((PACKS / name / "pack.yaml").read_text())
        for dep in manifest.get("dependencies") or {}:
            visit(dep)
        order.append(name)

    for name in names:
        visit(name)
    return order


def install_all(root: Path, order: list[str], sample_users: bool = False
                ) -> tuple[float, dict[str, float], Any]:
    inst = Instance.init(root, "Bench-pass-123")
    tenant = inst.tenant("default")
    with tenant.read() as conn:
        admin = principal_of(conn, "admin")
    installer = Installer(tenant, admin)
    per: dict[str, float] = {}
    start = time.perf_counter()
    for name in order:
        t = time.perf_counter()
        with_org = sample_users and load_pack(PACKS / name).sample is not None
        installer.install(PACKS / name, sample_users=with_org)
        per[name] = time.perf_counter() - t
    total = time.perf_counter() - start
    snapshot = Designer(tenant).snapshot()
    schema = tenant.schema(snapshot)
    inst.dispose()
    return total, per, schema


def baseline(root: Path, schema: Any, rows: dict[str, int]) -> float:
    """create_all of the final tables and executemany of as many (mostly empty) rows."""
    engine = sa.create_engine(f"sqlite:///{root / 'baseline.db'}")
    now = dt.datetime(2026, 1, 1)
    start = time.perf_counter()
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        for name, table in schema.tables.items():
            n = rows.get(name, 0)
            if n:
                conn.execute(table.insert(), [{"version": 1, "created_at": now, "updated_at": now}
                                              for _ in range(n)])
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pack_install")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--packs", help="comma-separated packs (default: all, with dependencies)")
    parser.add_argument("--sample-users", action="store_true",
                        help="also make each pack's sample organisation (the issue's target "
                             "counts it: five packs with sample data and organisation)")
    args = parser.parse_args(argv)
    order = pack_order()
    if args.packs:
        wanted = {p.strip() for p in args.packs.split(",")}
        order = [n for n in order if n in wanted]
    rows: dict[str, int] = {}
    for name in order:
        for obj, data in load_pack(PACKS / name).data.items():
            rows[obj] = len(data)
    totals: list[float] = []
    bases: list[float] = []
    per_pack: dict[str, list[float]] = {n: [] for n in order}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            total, per, schema = install_all(Path(tmp) / "instance", order, args.sample_users)
            totals.append(total)
            for name, seconds in per.items():
                per_pack[name].append(seconds)
            bases.append(baseline(Path(tmp), schema, rows))
    result = {
        "packs": order, "objects": len(rows), "sample_records": sum(rows.values()),
        "rounds": args.rounds, "sample_users": args.sample_users,
        "install_all_seconds_median": statistics.median(totals),
        "install_all_seconds_min": min(totals),
        "per_pack_seconds_median": {n: statistics.median(v) for n, v in per_pack.items()},
        "baseline_seconds_median": statistics.median(bases),
        "ratio_to_baseline": statistics.median(totals) / statistics.median(bases),
        "target_seconds": 5.0,
        "machine": {"python": platform.python_version(), "machine": platform.machine()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"packs: {', '.join(order)} ({result['objects']} objects with sample data, "
          f"{result['sample_records']} records"
          f"{', with sample organisations' if args.sample_users else ''})")
    for name, seconds in result["per_pack_seconds_median"].items():
        print(f"  {name:<12} {seconds:6.2f} s")
    print(f"install all:  {result['install_all_seconds_median']:6.2f} s median of {args.rounds} "
          f"(min {result['install_all_seconds_min']:.2f} s; target < 5 s)")
    print(f"baseline:     {result['baseline_seconds_median']:6.3f} s (create_all + executemany); "
          f"ratio {result['ratio_to_baseline']:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
