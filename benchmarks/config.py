"""Run settings: the sizes of a full run and of a ``--quick`` smoke run, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_OUT = RESULTS_DIR / "latest.json"
#: The admin password of every instance the suite creates (they are throwaway or cached).
ADMIN_PASSWORD = "Bench-pass-123"


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does. Full sizes aim at ~10 minutes on 2 cores."""

    rows: int = 1_000_000  # the big table of list_page and add_field_online
    get_requests: int = 2_000  # timed requests per side in get_one
    get_seed_records: int = 1_000  # records get_one reads from (random ids)
    list_requests: int = 400  # timed list pages per side (a p95 of 40 was the 2nd slowest)
    list_budget_s: float = 20.0  # wall-clock cap per list_page figure (a slow plan stays bounded)
    bulk_records: int = 100_000  # records created per side in bulk_create
    bulk_batch: int = 1_000  # records per create_many call (one transaction each)
    ddl_changes: int = 5  # fields added by add_field_online (and raw ALTERs as baseline)
    reader_window_s: float = 2.0  # reader-only window before the first change
    ddl_gap_s: float = 0.5  # pause between changes, so "after" reads are attributable
    warmup: int = 50  # untimed calls before each timed comparison
    import_rows: int = 100_000  # rows import_rows imports per side (half all or none)
    import_file_rows: int = 10_000  # rows per imported file (each side, alternating)
    export_rows: int = 100_000  # records export_xlsx writes (and a quarter, for memory)


FULL = Sizes()
QUICK = Sizes(rows=20_000, get_requests=300, get_seed_records=200, list_requests=30,
              list_budget_s=5.0, bulk_records=10_000, ddl_changes=3, reader_window_s=1.0,
              ddl_gap_s=0.3, warmup=20, import_rows=10_000, import_file_rows=2_500,
              export_rows=4_000)


@dataclass(frozen=True)
class RunConfig:
    sizes: Sizes
    only: tuple[str, ...]  # benchmark names to run, in suite order
    out: Path
    fresh: bool  # rebuild the cached big table even when it is valid
    database_url: str | None  # None: embedded SQLite; else a PostgreSQL URL
    quick: bool

    @property
    def dialect_name(self) -> str:
        return "sqlite" if not self.database_url else self.database_url.split(":")[0].split("+")[0]


def sizes_for(quick: bool, rows: int | None) -> Sizes:
    base = QUICK if quick else FULL
    return replace(base, rows=rows) if rows else base


def database_url_from(arg: str | None) -> str | None:
    """``--database-url`` wins over ``CRMFORGE_DATABASE_URL``; neither means SQLite."""
    return arg or os.environ.get("CRMFORGE_DATABASE_URL") or None
