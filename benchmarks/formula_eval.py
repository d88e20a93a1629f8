"""Formula evaluation and trigger round-trip costs (DESIGN §6).

Run: ``.venv/bin/python -m benchmarks.formula_eval [--quick]``. Prints a table and writes
``benchmarks/results/formula_eval.json``.

Each figure is measured against a baseline in the same run, interleaved, because absolute
timings on a shared 2-core machine swing by +-40%: the formula
``if_blank(area, 0) * price * (1 - discount / 100)`` over Decimal values, compiled by the
rules sandbox, against the same expression compiled as plain Python (``compile`` +
``eval`` with a Python ``if_blank``). The target is at least half the plain speed.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import time
import timeit
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmforge.rules import ExpressionContext, T, compile_expression
from crmforge.rules.compiler import cache_clear
from crmforge.rules.triggers import TriggerRunner

FORMULA = "if_blank(area, 0) * price * (1 - discount / 100)"
RESULTS = Path(__file__).resolve().parent / "results" / "formula_eval.json"


def plain_if_blank(value: Any, fallback: Any) -> Any:
    return fallback if value is None or value == "" or value == [] else value


def rate(fn: Callable[[], Any], number: int) -> float:
    """Calls per second of ``fn`` (best of a short repeat, which filters out neighbours)."""
    best = min(timeit.repeat(fn, number=number, repeat=3))
    return number / best


def bench_formula(rounds: int, number: int) -> dict[str, Any]:
    ctx = ExpressionContext.from_types({"area": T.NUMBER, "price": T.NUMBER,
                                        "discount": T.NUMBER})
    compiled = compile_expression(FORMULA, ctx)
    code = compile(FORMULA, "<plain>", "eval")
    plain_globals = {"if_blank": plain_if_blank, "__builtins__": {}}
    rows: list[Mapping[str, Any]] = [
        {"area": Decimal("12.50"), "price": Decimal("199.00"), "discount": Decimal("7.5")},
        {"area": None, "price": Decimal("80.00"), "discount": Decimal("0")},
    ]
    for values in rows:  # both give the same answer before anything is timed
        assert compiled.evaluate(values) == eval(code, plain_globals, dict(values))
    sandbox, plain = [], []
    for _ in range(rounds):
        for values in rows:
            v = dict(values)
            sandbox.append(rate(functools.partial(compiled.evaluate, v), number))
            plain.append(rate(functools.partial(eval, code, plain_globals, v), number))
    ratios = [s / p for s, p in zip(sandbox, plain, strict=True)]
    cache_clear()
    started = time.perf_counter()
    compile_expression(FORMULA, ctx)
    cold_ms = (time.perf_counter() - started) * 1000
    hit = rate(lambda: compile_expression(FORMULA, ctx), number)
    return {
        "expression": FORMULA,
        "sandbox_per_second": round(statistics.median(sandbox)),
        "plain_python_per_second": round(statistics.median(plain)),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "target_ratio": 0.5,
        "meets_target": statistics.median(ratios) >= 0.5,
        "compile_cold_ms": round(cold_ms, 3),
        "compile_cached_per_second": round(hit),
    }


def bench_triggers(runs: int) -> dict[str, Any]:
    class Host:
        def query(self, object_name: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
            return [{"id": 1, "name": "ACME"}]

        def create(self, object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
            return {"id": 2, **values}

        def update(self, object_name: str, record_id: int, values: Mapping[str, Any]
                   ) -> dict[str, Any]:
            return {"id": record_id, **values}

    started = time.perf_counter()
    runner = TriggerRunner(workers=1)
    spawn_ms = (time.perf_counter() - started) * 1000
    record = {"amount": Decimal("1200.00"), "name": "x"}
    simple = "if record.amount > 1000:\n    set_field('name', 'vip')"
    with_query = "rows = query('account', name='ACME')\nset_field('name', rows[0].name)"
    host = Host()
    try:
        runner.run(simple, fields=["amount", "name"], record=record)  # warm the cache

        def timed(source: str) -> list[float]:
            out = []
            for _ in range(runs):
                t0 = time.perf_counter()
                runner.run(source, fields=["amount", "name"], record=record, host=host)
                out.append((time.perf_counter() - t0) * 1000)
            return out

        plain_runs = timed(simple)
        query_runs = timed(with_query)
    finally:
        runner.close()
    return {
        "worker_start_ms": round(spawn_ms, 1),
        "run_ms_median": round(statistics.median(plain_runs), 3),
        "run_ms_p95": round(sorted(plain_runs)[int(len(plain_runs) * 0.95) - 1], 3),
        "run_with_one_query_ms_median": round(statistics.median(query_runs), 3),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args(argv)
    rounds, number, runs = (2, 5_000, 20) if args.quick else (5, 50_000, 200)
    formula = bench_formula(rounds, number)
    triggers = bench_triggers(runs)
    report = {"python": platform.python_version(), "machine": platform.machine(),
              "formula": formula, "triggers": triggers}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"formula  {FORMULA}")
    print(f"  sandbox       {formula['sandbox_per_second']:>12,} evaluations/s")
    print(f"  plain Python  {formula['plain_python_per_second']:>12,} evaluations/s")
    print(f"  ratio         {formula['ratio_median']:>12} (min {formula['ratio_min']}, "
          f"target >= 0.5: {'met' if formula['meets_target'] else 'NOT MET'})")
    print(f"  compile       {formula['compile_cold_ms']:>12} ms cold, "
          f"{formula['compile_cached_per_second']:,}/s cached")
    print("triggers")
    print(f"  worker start  {triggers['worker_start_ms']:>12} ms")
    print(f"  run           {triggers['run_ms_median']:>12} ms median, "
          f"{triggers['run_ms_p95']} ms p95")
    print(f"  run + query   {triggers['run_with_one_query_ms_median']:>12} ms median")
    print(f"wrote {RESULTS}")
    return 0 if formula["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
