"""The command line: parse options, run the selected cases, print the table, write JSON."""

from __future__ import annotations

import argparse
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .cases import CASES, Context
from .config import DEFAULT_OUT, RunConfig, database_url_from, sizes_for
from .report import BenchResult, machine_info, payload, table, write_json
from .workspace import Workspace, log, open_dataset, open_scratch


def parse_args(argv: Sequence[str] | None) -> RunConfig:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="CRMForge performance suite: every figure next to a hand-written "
                    "baseline measured in the same run.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke run in about a minute")
    parser.add_argument("--rows", type=_rows, metavar="N",
                        help="rows in the big table (default 1,000,000; --quick: 20,000)")
    parser.add_argument("--only", metavar="NAME[,NAME]", type=_names,
                        help="run only these benchmarks: " + ", ".join(CASES))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="PATH",
                        help="JSON results file (default benchmarks/results/latest.json)")
    parser.add_argument("--fresh", action="store_true",
                        help="rebuild the cached big table even when it is valid")
    parser.add_argument("--database-url", metavar="URL",
                        help="run on PostgreSQL (default: CRMFORGE_DATABASE_URL, else SQLite)")
    args = parser.parse_args(argv)
    only = args.only or tuple(CASES)
    return RunConfig(sizes=sizes_for(args.quick, args.rows), only=only, out=args.out,
                     fresh=args.fresh, database_url=database_url_from(args.database_url),
                     quick=args.quick)


def _rows(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 200:
        raise argparse.ArgumentTypeError("needs at least 200 rows (two pages of 50 must match)")
    return value


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown) or '(none)'}; choose from {', '.join(CASES)}")
    return tuple(n for n in CASES if n in names)  # suite order, whatever the option's order


class Resources:
    """Opens the dataset and the scratch instance on first use and closes what it opened."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self._open: dict[str, Workspace] = {}

    def get(self, kind: str, opener: Callable[[RunConfig], Workspace]) -> Workspace:
        if kind not in self._open:
            self._open[kind] = opener(self.config)
        return self._open[kind]

    def context(self) -> Context:
        return Context(self.config, lambda: self.get("dataset", open_dataset),
                       lambda: self.get("scratch", open_scratch))

    def dataset_info(self) -> dict[str, Any] | None:
        ws = self._open.get("dataset")
        return ws.info if ws else None

    def close(self) -> None:
        """Close everything; a failing clean-up is reported and the others still run."""
        for kind, ws in self._open.items():
            try:
                ws.close()
            except Exception as exc:
                log(f"closing the {kind} instance failed: {type(exc).__name__}: {exc}")
        self._open.clear()


def run_cases(config: RunConfig) -> tuple[list[BenchResult], dict[str, Any] | None]:
    """Run each selected case; a failing case is recorded and the others still run.

    Returns the results and the big table's setup info (None when no case needed it).
    """
    resources = Resources(config)
    results = []
    try:
        ctx = resources.context()
        for name in config.only:
            log(f"== {name}")
            result = BenchResult(name)
            start = time.perf_counter()
            try:
                CASES[name](ctx, result)
            except Exception as exc:
                traceback.print_exc()
                result.error = f"{type(exc).__name__}: {exc}"
            result.seconds = time.perf_counter() - start
            log(f"   {name} took {result.seconds:.1f} s")
            results.append(result)
        dataset = resources.dataset_info()
    finally:
        resources.close()
    return results, dataset


def setup_line(dataset: dict[str, Any] | None) -> str | None:
    """The untimed setup, printed because a slow bulk load is worth knowing about too."""
    if dataset is None:
        return None
    how = "reused from cache" if dataset["reused"] else "built now"
    load = dataset.get("bulk_load_seconds")
    return (f"setup: big table {dataset['rows']:,} rows ({how}; bulk load "
            f"{'-' if load is None else f'{load:.1f} s'}, working copy and cache warm-up "
            f"{dataset.get('copy_seconds', '-')} s)")


def database_info(url: str | None) -> dict[str, Any]:
    if not url:
        return {"dialect": "sqlite"}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
    finally:
        engine.dispose()
    return {"dialect": engine.dialect.name, "server_version": version,
            "url": engine.url.render_as_string(hide_password=True)}


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    # SQLite keeps decimals as floats; SQLAlchemy says so once per type. Known and harmless here.
    warnings.filterwarnings("ignore", message=r".*does \*not\* support Decimal objects natively")
    started = time.perf_counter()
    results, dataset = run_cases(config)
    print(table(results))
    line = setup_line(dataset)
    if line:
        print(line)
    machine = machine_info(database_info(config.database_url))
    sizes = {**asdict(config.sizes), "quick": config.quick}
    write_json(config.out, {**payload(machine, sizes, results), "dataset": dataset,
                            "total_seconds": round(time.perf_counter() - started, 1)})
    print(f"\nresults: {config.out}  ({time.perf_counter() - started:.0f} s in all)")
    return 1 if any(r.error for r in results) else 0


__all__ = ["main"]
