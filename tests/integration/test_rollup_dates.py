"""Roll-up min and max over date and datetime child fields."""

from __future__ import annotations

from typing import Any

import pytest

PROJECT: dict[str, Any] = {"name": "project", "fields": [
    {"name": "title", "type": "text", "required": True}]}
MILESTONE: dict[str, Any] = {"name": "milestone", "fields": [
    {"name": "project", "type": "master_detail", "target": "project"},
    {"name": "due", "type": "date"},
    {"name": "done_at", "type": "datetime"},
    {"name": "open", "type": "boolean"}]}
ROLLUPS = [
    {"name": "first_due", "type": "rollup", "function": "min", "child": "milestone",
     "field": "due"},
    {"name": "last_due", "type": "rollup", "function": "max", "child": "milestone",
     "field": "due"},
    {"name": "last_open_due", "type": "rollup", "function": "max", "child": "milestone",
     "field": "due", "filter": "open"},
    {"name": "last_done", "type": "rollup", "function": "max", "child": "milestone",
     "field": "done_at"},
    {"name": "slack", "type": "formula", "result_type": "integer", "stored": True,
     "expression": "days_between(first_due, last_due)"},
]


@pytest.fixture
def h(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for doc in (PROJECT, MILESTONE):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    for f in ROLLUPS:
        r = client.post("/api/v1/meta/objects/project/fields", json=f, headers=admin)
        assert r.status_code == 201, r.json
    return dict(admin)


def _create(client: Any, h: dict[str, str], obj: str, **values: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/records/{obj}", json=values, headers=h)
    assert r.status_code == 201, r.json
    return dict(r.json)


def test_min_and_max_of_dates_are_dates(client, h) -> None:
    doc = client.get("/api/v1/meta/objects/project", headers=h).json
    by_name = {f["name"]: f for f in doc["fields"]}
    assert by_name["first_due"]["result_type"] == "date"
    assert by_name["last_done"]["result_type"] == "datetime"
    p = _create(client, h, "project", title="P")
    assert p["first_due"] is None and p["last_done"] is None
    _create(client, h, "milestone", project=p["id"], due="2026-03-01", open=True,
            done_at="2026-02-01T10:00:00Z")
    m2 = _create(client, h, "milestone", project=p["id"], due="2026-01-15", open=False,
                 done_at="2026-02-03T08:30:00Z")
    _create(client, h, "milestone", project=p["id"], due="2026-05-20", open=False)
    got = client.get(f"/api/v1/records/project/{p['id']}", headers=h).json
    assert (got["first_due"], got["last_due"], got["last_open_due"]) == \
        ("2026-01-15", "2026-05-20", "2026-03-01")
    assert got["last_done"].startswith("2026-02-03T08:30:00")
    assert got["slack"] == 125
    r = client.delete(f"/api/v1/records/milestone/{m2['id']}", headers=h)
    assert r.status_code == 204
    got = client.get(f"/api/v1/records/project/{p['id']}", headers=h).json
    assert got["first_due"] == "2026-03-01" and got["last_done"].startswith("2026-02-01T10")
    listed = client.get("/api/v1/records/project?first_due__gte=2026-02-01", headers=h).json
    assert [i["id"] for i in listed["items"]] == [p["id"]]
