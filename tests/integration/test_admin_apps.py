"""The designer's app pages (decision 0034): create, reorder without JavaScript, refusals
beside their input, delete, in both languages; non-administrators get 403."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token


@pytest.fixture
def world(client: FlaskClient, admin: dict[str, str]) -> None:
    for name, zh, en in (("thing", "物品", "Thing"), ("place", "地点", "Place"),
                         ("tool", "工具", "Tool")):
        r = client.post("/api/v1/meta/objects", headers=admin, json={
            "name": name, "label": {"zh": zh, "en": en},
            "fields": [{"name": "title", "type": "text"}]})
        assert r.status_code == 201, r.json


def _rows(text: str) -> list[str]:
    ol = re.search(r'<ol class="app-objects-edit"[^>]*>(.*?)</ol>', text, re.S)
    assert ol, text
    return re.findall(r'name="objects" value="(\w+)"', ol.group(1))


def test_create_reorder_save_delete(instance: Instance, world: None,
                                    client: FlaskClient, admin: dict[str, str]) -> None:
    b = browser_session(instance)
    page = b.get("/admin/apps?lang=en")
    assert page.status_code == 200 and "No apps yet." in page.text
    token = csrf_token(page.text)
    r = b.post("/admin/apps", data={"csrf_token": token, "name": "stock", "label_zh": "库存",
                                    "label_en": "Stock", "objects": ["place", "thing"]})
    assert r.status_code == 303, r.text
    page = b.get(r.headers["Location"])
    assert "App created." in page.text and _rows(page.text) == ["place", "thing"]
    before = _rows(page.text)
    base: dict[str, Any] = {"csrf_token": token, "label_zh": "库存", "label_en": "Stock",
                            "icon": "", "objects": before}
    # Down on the first row: the page comes back reordered, nothing published yet.
    r = b.post("/admin/apps/stock", data={**base, "move": "down:0"})
    assert r.status_code == 200 and _rows(r.text) == before[::-1]
    assert "Not saved yet" in r.text
    assert client.get("/api/v1/meta/apps/stock", headers=admin).json["objects"] == before
    r = b.post("/admin/apps/stock", data={**base, "objects": before[::-1], "action": "add",
                                          "add": "tool"})
    assert _rows(r.text) == [*before[::-1], "tool"]
    r = b.post("/admin/apps/stock", data={**base, "objects": [*before[::-1], "tool"],
                                          "move": "up:2"})
    assert _rows(r.text) == [before[1], "tool", before[0]]
    r = b.post("/admin/apps/stock", data={**base, "objects": [before[1], "tool", before[0]],
                                          "move": "remove:2"})
    assert _rows(r.text) == [before[1], "tool"]
    r = b.post("/admin/apps/stock", data={**base, "objects": [before[1], "tool"],
                                          "action": "save"})
    assert r.status_code == 303, r.text
    assert client.get("/api/v1/meta/apps/stock", headers=admin).json["objects"] == \
        [before[1], "tool"]
    assert "App saved." in b.get("/admin/apps/stock?lang=en").text
    assert "应用已保存" not in b.get("/admin/apps/stock?lang=zh").text  # shown once
    asked = b.post("/admin/apps/stock/delete", data={"csrf_token": token})
    assert asked.status_code == 200 and "confirm-question" in asked.text  # asked first
    assert client.get("/api/v1/meta/apps/stock", headers=admin).status_code == 200
    r = b.post("/admin/apps/stock/delete", data={"csrf_token": token, "confirmed": "1"})
    assert r.status_code == 303
    assert client.get("/api/v1/meta/apps/stock", headers=admin).status_code == 404
    assert "应用已删除。" in b.get("/admin/apps?lang=zh").text
    assert b.post("/admin/apps/stock/delete", data={"csrf_token": token}).status_code == 404
    # Without the CSRF token nothing happens.
    assert b.post("/admin/apps", data={"name": "x"}).status_code == 403


def test_refusals_beside_the_inputs(instance: Instance, world: None) -> None:
    b = browser_session(instance)
    token = csrf_token(b.get("/admin/apps").text)
    r = b.post("/admin/apps?lang=zh", data={"csrf_token": token, "name": "Bad",
                                            "label_zh": "", "label_en": "Stock"})
    assert r.status_code == 422
    assert re.search(r'id="err-name">[^<]+<', r.text)
    r = b.post("/admin/apps?lang=zh", data={"csrf_token": token, "name": "stock",
                                            "label_zh": "", "label_en": "Stock",
                                            "objects": ["thing"]})
    assert r.status_code == 422 and re.search(r'id="err-label_zh">必填<', r.text)
    r = b.post("/admin/apps?lang=en", data={"csrf_token": token, "name": "stock",
                                            "label_zh": "库存", "label_en": "Stock"})
    assert r.status_code == 422
    assert re.search(r'id="err-objects">an app lists at least one object<', r.text)
    assert b.post("/admin/apps", data={"csrf_token": token, "name": "stock", "label_zh": "库存",
                                       "label_en": "Stock", "objects": ["thing"]}
                  ).status_code == 303
    # A row the Designer refuses (an object that is gone) gets its message beside it.
    r = b.post("/admin/apps/stock?lang=zh", data={
        "csrf_token": token, "label_zh": "库存", "label_en": "Stock", "icon": "",
        "objects": ["thing", "gone"], "action": "save"})
    assert r.status_code == 422
    assert re.search(r'id="err-objects.1">没有名为“gone”的对象<', r.text)
    r = b.post("/admin/apps/stock?lang=en", data={
        "csrf_token": token, "label_zh": "库存", "label_en": "Stock", "icon": "",
        "objects": ["thing", "thing"], "action": "save"})
    assert r.status_code == 422 and re.search(r"id=\"err-objects.1\">&#39;thing&#39; is listed twice<",
                                              r.text)
    assert b.get("/admin/apps/nope").status_code == 404


def test_non_admins_get_403(instance: Instance, world: None, client: FlaskClient,
                            admin: dict[str, str]) -> None:
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "ann", "password": "Ann-pass-1234", "roles": []})
    assert r.status_code == 201, r.json
    b = browser_session(instance, "ann", "Ann-pass-1234")
    assert b.get("/admin/apps").status_code == 403
    assert b.get("/admin/apps/stock").status_code == 403
