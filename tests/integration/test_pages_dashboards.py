"""Dashboards and the per-object dashboard through browser sessions: numbers are grouped
over the records the viewer may read (a user who sees 3 of 10 records gets counts over 3),
charts on objects or fields the viewer may not read are left out, and labels holding
markup stay text in the page and in the chart data (JSON, never HTML)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.core.errors import Forbidden
from crmforge.runtime import Instance
from crmforge.runtime.aggregates import distribution
from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

from .conftest import browser_session, sign_in

PASSWORD = "Pass-word-1234"
SCRIPT = "<script>alert(1)</script>"

LEAD: dict[str, Any] = {
    "name": "lead", "label": {"zh": "线索", "en": "Lead"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "label": {"en": "Title"}},
        {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
         "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                     {"value": "won", "label": {"zh": "赢单", "en": "Won " + SCRIPT}},
                     {"value": "lost", "label": {"zh": "丢单", "en": "Lost"}}]},
        {"name": "amount", "type": "decimal", "scale": 2, "label": {"en": "Amount"}},
        {"name": "secret", "type": "picklist", "label": {"en": "Secret"},
         "choices": [{"value": "a", "label": {"en": "A"}}, {"value": "b", "label": {"en": "B"}}]},
        {"name": "done", "type": "percent", "label": {"en": "Done"}},
    ],
}

BOARD: dict[str, Any] = {
    "name": "pipeline", "label": {"zh": "销售管道", "en": "Pipeline " + SCRIPT},
    "charts": [
        {"object": "lead", "type": "bar", "field": "stage", "label": {"en": "By stage"}},
        {"object": "lead", "type": "pie", "field": "stage", "measure": "amount",
         "label": {"en": "Amount by stage", "zh": "各阶段金额"}},
        {"object": "lead", "type": "funnel", "field": "stage", "label": {"en": "Funnel"}},
        {"object": "lead", "type": "bar", "field": "secret", "label": {"en": "Secret split"}},
        {"object": "lead", "type": "progress", "field": "done", "label": {"en": "Progress"}},
    ],
}


def _browser(instance: Instance, username: str, password: str = PASSWORD) -> FlaskClient:
    return browser_session(instance, username, password)


@pytest.fixture
def world(client: FlaskClient, admin: dict[str, str], instance: Instance) -> Instance:
    """Ten leads: three owned by rep (who sees only their own, without ``secret``), seven
    by the administrator; zed may not read leads at all."""
    assert client.post("/api/v1/meta/objects", json=LEAD, headers=admin).status_code == 201
    for role, perms in (("rep", {"lead": {"operations": ["create", "read"], "scope": "own",
                                          "fields": {"secret": "hidden"}}}), ("other", {})):
        r = client.post("/api/v1/admin/roles", json={"name": role, "permissions": perms},
                        headers=admin)
        assert r.status_code == 201, r.json
    for user, role in (("rep", "rep"), ("zed", "other")):
        r = client.post("/api/v1/admin/users", json={"username": user, "password": PASSWORD,
                                                     "roles": [role]}, headers=admin)
        assert r.status_code == 201, r.json
    rep = sign_in(client, username="rep", password=PASSWORD)
    for i, (stage, amount, done) in enumerate((("new", "10", "25"), ("won", "20", "50"),
                                               ("won", "30", "100"))):
        r = client.post("/api/v1/records/lead", json={
            "title": f"Mine {i}", "stage": stage, "amount": amount, "done": done}, headers=rep)
        assert r.status_code == 201, r.json
    for i, stage in enumerate(["new"] * 4 + ["lost"] * 3):
        r = client.post("/api/v1/records/lead", json={
            "title": f"Theirs {i}", "stage": stage, "amount": "100", "secret": "a"},
            headers=admin)
        assert r.status_code == 201, r.json
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        Designer(tenant).set_dashboard(principal_of(conn, "admin"), BOARD)
    return instance


def _charts(text: str) -> dict[str, dict[str, Any]]:
    m = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S)
    assert m
    assert "<" not in m.group(1)  # markup in labels is escaped inside the JSON too
    return {c["title"]: c for c in json.loads(m.group(1))}


def _values(chart: dict[str, Any]) -> dict[str, Any]:
    return {r["name"]: r["value"] for r in chart["rows"]}


def test_aggregates_group_over_the_visible_rows_only(world: Instance) -> None:
    tenant = world.tenant("default")
    with tenant.read() as conn:
        rep, admin, zed = (principal_of(conn, u) for u in ("rep", "admin", "zed"))
    counts = {g["value"]: g["count"] for g in distribution(tenant, rep, "lead", "stage")}
    assert counts == {"new": 1, "won": 2}
    totals = {g["value"]: g["total"] for g in distribution(tenant, rep, "lead", "stage", "amount")}
    assert totals == {"new": 10.0, "won": 50.0}
    everything = distribution(tenant, admin, "lead", "stage", "amount")
    assert [(g["value"], g["count"], g["total"]) for g in everything] == [
        ("new", 5, 410.0), ("lost", 3, 300.0), ("won", 2, 50.0)]  # largest sum first
    with pytest.raises(Forbidden):
        distribution(tenant, rep, "lead", "secret")  # hidden from rep
    with pytest.raises(Forbidden):
        distribution(tenant, rep, "lead", "stage", "secret")
    with pytest.raises(Forbidden):
        distribution(tenant, zed, "lead", "stage")


def test_dashboard_shows_the_viewers_numbers_without_hidden_fields(world: Instance) -> None:
    page = _browser(world, "rep").get("/dashboards/pipeline")
    assert page.status_code == 200
    charts = _charts(page.text)
    assert set(charts) == {"By stage", "Amount by stage", "Funnel", "Progress"}  # no secret
    won = "Won " + SCRIPT
    assert _values(charts["By stage"]) == {won: 2, "New": 1}  # counts over 3 of 10
    assert _values(charts["Amount by stage"]) == {won: 50.0, "New": 10.0}
    assert charts["Funnel"]["type"] == "funnel"
    assert sorted(_values(charts["Progress"]).values()) == [25.0, 50.0, 100.0]
    assert "Secret" not in page.text
    assert SCRIPT not in page.text and "Won &lt;script&gt;" in page.text
    assert "Pipeline &lt;script&gt;" in page.text and "/assets/echarts.js" in page.text
    assert '<progress max="100.0" value="50.0"' in page.text
    # values as the page's language writes them (decision 0038)
    assert '<span class="value">50%</span>' in page.text and "<td>50.00</td>" in page.text
    admin = _charts(_browser(world, "admin", "Admin-pass-123").get("/dashboards/pipeline").text)
    assert _values(admin["By stage"]) == {"New": 5, "Lost": 3, won: 2}
    assert _values(admin["Secret split"]) == {"A": 7, "—": 3}
    zh = _browser(world, "rep").get("/dashboards/pipeline?lang=zh").text
    assert "销售管道" in zh and _values(_charts(zh)["各阶段金额"]) == {"赢单": 50.0, "新建": 10.0}


def test_home_lists_only_dashboards_one_can_see(world: Instance) -> None:
    home = _browser(world, "rep").get("/").text
    assert 'href="/dashboards/pipeline"' in home and "Pipeline &lt;script&gt;" in home
    zed = _browser(world, "zed")
    assert 'href="/dashboards/pipeline"' not in zed.get("/").text
    assert zed.get("/dashboards/pipeline").status_code == 404
    assert zed.get("/records/lead/dashboard").status_code == 404
    assert zed.get("/dashboards/nothing").status_code == 404


def test_object_dashboard_charts_each_readable_picklist(world: Instance) -> None:
    page = _browser(world, "rep").get("/records/lead/dashboard")
    assert page.status_code == 200
    charts = list(_charts(page.text).values())
    assert [c["title"] for c in charts] == ["Lead · Stage"]  # the hidden picklist is absent
    assert _values(charts[0]) == {"Won " + SCRIPT: 2, "New": 1}
    admin = _browser(world, "admin", "Admin-pass-123").get("/records/lead/dashboard").text
    assert [c["title"] for c in _charts(admin).values()] == ["Lead · Stage", "Lead · Secret"]
