"""Helpers the benchmark cases share: the signed-in HTTP client, id sequences, figures."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crmforge.runtime import Designer, RecordService, Tenant
from crmforge.security import SYSTEM

from ..config import ADMIN_PASSWORD, RunConfig
from ..data import object_doc
from ..report import Better, Figure
from ..timing import Comparison
from ..workspace import Workspace


@dataclass
class Context:
    """What a benchmark case gets: settings and lazily opened instances."""

    config: RunConfig
    dataset: Callable[[], Workspace]  # the big table (opened on first use, then shared)
    scratch: Callable[[], Workspace]  # a throwaway instance for small objects


@dataclass
class Http:
    client: FlaskClient
    headers: dict[str, str]

    def get_json(self, url: str) -> Any:
        return ok(self.client.get(url, headers=self.headers), url).get_json()


def ok(response: TestResponse, url: str) -> TestResponse:
    """Fail loudly on an error answer: timing a 404 or 401 would be a silent lie."""
    if response.status_code != 200:
        body = response.get_data(as_text=True)[:300]
        raise RuntimeError(f"GET {url} answered {response.status_code}: {body}")
    return response


def sign_in(app: Flask, username: str = "admin") -> Http:
    """A test client holding a bearer token of a user of the tenant (the admin by default;
    every benchmark user has the same password) (DESIGN §9 contract)."""
    client = app.test_client()
    response = client.post("/api/v1/auth/token",
                           json={"username": username, "password": ADMIN_PASSWORD})
    if response.status_code != 200:
        body = response.get_data(as_text=True)[:300]
        raise RuntimeError(f"sign-in failed: {response.status_code} {body}")
    return Http(client, {"Authorization": f"Bearer {response.get_json()['token']}"})


def cycle_ids(ids: Sequence[int], seed: int) -> Iterator[int]:
    """An endless shuffled walk over ``ids``: reads hit different rows, reproducibly."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    return itertools.cycle(order)


def create_object(tenant: Tenant, name: str) -> None:
    Designer(tenant).create_object(SYSTEM, object_doc(name))


def service(tenant: Tenant) -> RecordService:
    return RecordService(tenant)


def time_figure(name: str, comparison: Comparison, *, unit: str = "us/request",
                factor: float = 1e6, use: str = "mean") -> Figure:
    """A figure from per-call timings; JSON keeps both sides' full statistics."""
    m, b = comparison.measured_stats, comparison.baseline_stats
    return Figure(name, unit, getattr(m, use) * factor, getattr(b, use) * factor, "lower",
                  {"statistic": use, "crmforge": m.scaled(factor), "baseline": b.scaled(factor)})


def value_figure(name: str, unit: str, measured: float, baseline: float, better: Better = "lower",
                 stats: dict[str, Any] | None = None) -> Figure:
    return Figure(name, unit, measured, baseline, better, stats or {})
