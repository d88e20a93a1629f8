"""Hostile input answers the JSON envelope (DESIGN §9), in bounded time, changing nothing:
numbers beyond every column and beyond a double, ids beyond BIGINT in bodies, paths and
query strings, lists too long for a statement, and methods a route does not take."""

from __future__ import annotations

import pytest

from .conftest import error_of


# -- methods --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, url", [
    ("PUT", "/api/v1/auth/me"), ("DELETE", "/api/v1/meta/objects"),
    ("PATCH", "/api/v1/auth/token"), ("PUT", "/login"), ("DELETE", "/login"),
])
def test_405_names_the_allowed_methods(client, admin, method, url) -> None:
    r = client.open(url, method=method, headers=admin)
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed and method not in allowed
    assert "GET" in allowed or "POST" in allowed
    if url.startswith("/api/"):
        assert error_of(r)["code"] == "method_not_allowed"
