"""Exhibitions 1.3 with its sample organisation: volunteers with their shifts and hours
served (志愿者管理), and the shows' news (新闻), on SQLite and PostgreSQL.

Hours served, by hand from ``packs/exhibitions/data/volunteer_shift.csv`` (done shifts
only; a no-show and a planned shift do not count):
陈雨桐 8 + 6.5 + 7 = 21.5 in 3 shifts; 黄子豪 4 + 8 = 12 in 2 (the no-show's 8 left out);
林思琪 7.5 + 4 = 11.5 in 2; 何家明 none done, 16 planned; 马欣怡 6 in 1."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import error_of, find, records, with_sample_org

HOURS = {"陈雨桐": ("21.5", 3, None), "黄子豪": ("12", 2, None), "林思琪": ("11.5", 2, None),
         "何家明": (None, 0, "16"), "马欣怡": ("6", 1, None)}

NEWS = {"第二十六届投洽会 9 月 8 日在厦门开幕", "投洽会跨境投资项目对接会签约 32 个项目",
        "星辰电子发布新一代伺服驱动器", "2026 华南智能装备展招展进入冲刺阶段",
        "智能制造产业年度观察：工业机器人需求回暖"}


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core, then exhibitions with its sample organisation; a sign-in for its users."""
    return with_sample_org(instance, client, "exhibitions")


def _num(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _hours(client: FlaskClient, who: dict[str, str]) -> dict[str, tuple[Any, Any, Any]]:
    return {v["name"]: (_num(v["hours_served"]), int(v["shifts_done"] or 0),
                        _num(v["hours_planned"]))
            for v in records(client, who, "volunteer")}


def _expected(hours: dict[str, tuple[str | None, int, str | None]]
              ) -> dict[str, tuple[Any, Any, Any]]:
    return {name: (_num(served), done, _num(planned))
            for name, (served, done, planned) in hours.items()}


def test_volunteer_hours_add_up_from_done_shifts_only(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    svc = org("svc")
    got = _hours(client, svc)
    # A sum over no shifts may read empty or zero.
    got = {k: (v[0] if v[0] else None, v[1], v[2] if v[2] else None) for k, v in got.items()}
    assert got == _expected(HOURS)
    chen = find(client, admin, "volunteer", name="陈雨桐")
    assert set(chen["languages"]) == {"mandarin", "english", "french"}
    assert set(chen["skills"]) == {"interpreting", "guiding"}
    # Show services plan a shift, then mark it done: the hours follow.
    he = find(client, svc, "volunteer", name="何家明")
    ime26 = find(client, admin, "edition", name="2026 华南智能装备展")
    r = client.post("/api/v1/records/volunteer_shift", headers=svc, json={
        "volunteer": he["id"], "edition": ime26["id"], "post": "hall_guide",
        "shift_date": "2026-12-04", "hours": "5.5"})
    assert r.status_code == 201, r.json
    shift = r.json
    r = client.patch(f"/api/v1/records/volunteer_shift/{shift['id']}", headers=svc,
                     json={"status": "done", "version": shift["version"]})
    assert r.status_code == 200, r.json
    he = find(client, svc, "volunteer", name="何家明")
    assert (_num(he["hours_served"]), int(he["shifts_done"]), _num(he["hours_planned"])) == (
        Decimal("5.5"), 1, Decimal("16"))
    # A shift outside the edition's move-in and show days is refused.
    r = client.post("/api/v1/records/volunteer_shift", headers={**svc, "Accept-Language": "zh"},
                    json={"volunteer": he["id"], "edition": ime26["id"], "post": "info_desk",
                          "shift_date": "2026-11-28", "hours": "4"})
    assert r.status_code == 422 and "排班日期须在本届展会" in str(error_of(r))
    r = client.post("/api/v1/records/volunteer_shift", headers=svc, json={
        "volunteer": he["id"], "edition": ime26["id"], "post": "info_desk",
        "shift_date": "2026-11-29", "hours": "4"})
    assert r.status_code == 201, r.json  # three days before the opening: move-in


def test_who_sees_and_edits_volunteers(client: FlaskClient, org: Any) -> None:
    fin, director, seller = org("expo_fin"), org("expo_dir"), org("seller1")
    # Finance pays allowances by the hours, without the volunteers' contact details.
    vols = records(client, fin, "volunteer")
    assert {v["name"] for v in vols} == set(HOURS)
    assert all("mobile" not in v and "email" not in v for v in vols)
    assert len(records(client, fin, "volunteer_shift")) == 11
    assert "mobile" in records(client, director, "volunteer")[0]
    chen = next(v for v in records(client, director, "volunteer") if v["name"] == "陈雨桐")
    r = client.patch(f"/api/v1/records/volunteer/{chen['id']}", headers=director,
                     json={"status": "inactive", "version": chen["version"]})
    assert r.status_code == 403, r.json
    # Sellers have nothing to do with volunteers.
    r = client.get("/api/v1/records/volunteer", headers=seller)
    assert r.status_code == 403, r.json


def test_news_is_read_by_every_exhibitions_role_and_published_by_services_and_the_director(
        client: FlaskClient, admin: dict[str, str], org: Any) -> None:
    for user in ("expo_dir", "mgr_east", "seller1", "seller3", "svc", "expo_fin"):
        assert {n["title"] for n in records(client, org(user), "expo_news")} == NEWS, user
    svc, seller = org("svc"), org("seller1")
    cifit = find(client, admin, "exhibition", code="CIFIT")
    ime26 = find(client, admin, "edition", name="2026 华南智能装备展")
    cifit26 = find(client, admin, "edition", name="第二十六届投洽会")
    assert {n["title"] for n in records(client, svc, "expo_news")
            if n["edition"] == cifit26["id"]} == {
        "第二十六届投洽会 9 月 8 日在厦门开幕", "投洽会跨境投资项目对接会签约 32 个项目",
        "星辰电子发布新一代伺服驱动器"}
    body = {"title": "第二十七届投洽会招展启动", "exhibition": cifit["id"], "category": "announcement",
            "publish_on": "2026-12-01", "body": "第二十七届投洽会展位预订即日起开放。"}
    # An edition of another show is refused.
    r = client.post("/api/v1/records/expo_news", headers={**svc, "Accept-Language": "zh"},
                    json={**body, "edition": ime26["id"]})
    assert r.status_code == 422 and "所选届次不属于该展会" in str(error_of(r))
    r = client.post("/api/v1/records/expo_news", headers=svc, json=body)
    assert r.status_code == 201, r.json
    assert "第二十七届投洽会招展启动" in {n["title"] for n in records(client, seller, "expo_news")}
    # Sellers read the news but do not publish it.
    r = client.post("/api/v1/records/expo_news", headers=seller,
                    json={**body, "title": "销售自发新闻"})
    assert r.status_code == 403, r.json
