"""Measurement helpers: per-call timing with warm-up, measured and baseline interleaved.

Interleaving in rounds (measured block, baseline block, then the other way round) makes a
noisy neighbour or a CPU-frequency change hit both sides alike, so the ratio stays
meaningful even when the absolute numbers drift by tens of percent.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

Call = Callable[[], object]


@dataclass(frozen=True)
class Stats:
    """Summary of timings in seconds (``scaled`` converts for display)."""

    n: int
    mean: float
    median: float
    p95: float
    p99: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(samples)
        return cls(len(ordered), sum(ordered) / len(ordered), percentile(ordered, 50),
                   percentile(ordered, 95), percentile(ordered, 99), ordered[0], ordered[-1])

    def scaled(self, factor: float) -> dict[str, Any]:
        """The stats as a dict in another unit (1e6 for microseconds, 1e3 for ms)."""
        return {k: (v if k == "n" else round(v * factor, 3)) for k, v in asdict(self).items()}


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted samples (no interpolation: a p99 of 100
    samples is the second largest, a real observed latency)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def time_calls(fn: Call, count: int) -> list[float]:
    """Run ``fn`` ``count`` times; the duration of each call in seconds."""
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


@dataclass
class Comparison:
    measured: list[float]
    baseline: list[float]

    @property
    def measured_stats(self) -> Stats:
        return Stats.of(self.measured)

    @property
    def baseline_stats(self) -> Stats:
        return Stats.of(self.baseline)


def compare(measured: Call, baseline: Call, *, iterations: int, warmup: int,
            budget_s: float = math.inf, rounds: int = 10) -> Comparison:
    """Time ``measured`` and ``baseline`` alternately, ``iterations`` calls each at most.

    Stops early (after a complete round) when ``budget_s`` of wall time has passed, so a
    pathological query plan cannot stretch a run to hours; both sides always get the same
    number of calls.
    """
    for _ in range(warmup):
        measured()
        baseline()
    gc.collect()
    per_round = max(1, iterations // rounds)
    result = Comparison([], [])
    start = time.perf_counter()
    flip = False
    while len(result.measured) < iterations and time.perf_counter() - start < budget_s:
        n = min(per_round, iterations - len(result.measured))
        if flip:
            result.baseline += time_calls(baseline, n)
            result.measured += time_calls(measured, n)
        else:
            result.measured += time_calls(measured, n)
            result.baseline += time_calls(baseline, n)
        flip = not flip
    return result


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and its wall time in seconds (for one-off setup steps)."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start
