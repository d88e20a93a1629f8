"""many_tenants: file descriptors and memory of one process serving many SQLite tenants.

Every tenant is created, then signed in to and read through the app once, in turn; the
process's open file descriptors and resident memory are sampled throughout. With open
tenants in a bounded cache (``CRMFORGE_MAX_OPEN_TENANTS``), descriptors stay bounded
whatever the number of tenants; the baseline column is the process before the first
tenant was touched. Target (operations issue): 1,000 tenants under 1,024 descriptors.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from crmforge.web.app import create_app

from ..config import ADMIN_PASSWORD
from ..report import BenchResult
from .common import Context, value_figure

NAME = "many_tenants"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").exists() else 0


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(ctx: Context, result: BenchResult) -> None:
    if ctx.config.database_url:
        result.details.update(skipped="SQLite files only")
        return
    count = 100 if ctx.config.quick else 1000
    inst = ctx.scratch().instance
    fds0, rss0 = _fds(), _rss_mb()  # before any tenant but the default exists
    names = ["default", *(f"t{i:04d}" for i in range(1, count))]
    for name in names[1:]:
        inst.create_tenant(name, ADMIN_PASSWORD)
    app = create_app(inst, {"TESTING": True,
                            "CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS": "1000000 per minute"})
    client = app.test_client()
    peak_fds, peak_rss = fds0, rss0
    for name in names:
        r = client.post("/api/v1/auth/token", headers={"X-Tenant": name},
                        json={"username": "admin", "password": ADMIN_PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"many_tenants: sign-in to {name} answered {r.status_code}")
        h = {"X-Tenant": name, "Authorization": "Bearer " + r.get_json()["token"]}
        for url in ("/api/v1/admin/users", "/api/v1/recycle-bin"):
            if client.get(url, headers=h).status_code != 200:
                raise RuntimeError(f"many_tenants: {url} of {name} failed")
        peak_fds, peak_rss = max(peak_fds, _fds()), max(peak_rss, _rss_mb())
    result.figures.append(value_figure(f"many_tenants.fds with {count} tenants (peak)",
                                       "descriptors", peak_fds, fds0))
    result.figures.append(value_figure(f"many_tenants.memory with {count} tenants (peak)",
                                       "MB", peak_rss, rss0))
    result.details.update(tenants=count, open_tenants_limit=os.environ.get(
        "CRMFORGE_MAX_OPEN_TENANTS", "64"), target_fds=1024)
