"""Results: figures with their same-run baseline, the printed table and the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Figure:
    """One measured number next to the baseline measured in the same run.

    ``ratio`` is measured / baseline. ``cost`` says how many times the baseline's cost
    CRMForge pays whatever the unit: the ratio for times, its inverse for rates. So
    ``cost`` 3.0 always reads "three times slower than the hand-written baseline".
    """

    name: str
    unit: str
    measured: float
    baseline: float
    better: Better = "lower"
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline or math.isnan(self.baseline) or math.isnan(self.measured):
            return None
        return self.measured / self.baseline

    @property
    def cost(self) -> float | None:
        r = self.ratio
        if r is None or r == 0:
            return None
        return r if self.better == "lower" else 1 / r

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = _round(self.ratio)
        out["cost"] = _round(self.cost)
        out["measured"] = _round(self.measured)
        out["baseline"] = _round(self.baseline)
        return out


@dataclass
class BenchResult:
    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


def _round(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 4 if abs(value) < 10 else 1)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info(database: dict[str, Any]) -> dict[str, Any]:
    """Enough context to judge whether two result files are comparable at all."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": _version("sqlalchemy"),
        "flask": _version("flask"),
        "crmforge_commit": _git_commit(Path(__file__).resolve().parents[1]),
        "database": database,
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)


def payload(machine: dict[str, Any], sizes: dict[str, Any],
            results: list[BenchResult]) -> dict[str, Any]:
    return {
        "machine": machine,
        "sizes": sizes,
        "benchmarks": {
            r.name: {"figures": [f.as_json() for f in r.figures], "details": r.details,
                     "seconds": round(r.seconds, 1), "error": r.error}
            for r in results
        },
    }


def _num(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(results: list[BenchResult]) -> str:
    """The figures as a fixed-width table (the JSON file has the full statistics)."""
    head = ("figure", "crmforge", "baseline", "unit", "ratio", "cost")
    rows = [head]
    for r in results:
        if r.error:
            rows.append((f"{r.name}: FAILED (see the JSON file)", "", "", "", "", ""))
        for f in r.figures:
            cost = "-" if f.cost is None else f"{f.cost:.2f}x"
            rows.append((f.name, _num(f.measured), _num(f.baseline), f.unit, _num(f.ratio), cost))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    left = {0, 3}  # names and units read left-aligned, numbers right-aligned
    lines = []
    for i, row in enumerate(rows):
        cells = [c.ljust(w) if j in left else c.rjust(w)
                 for j, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
