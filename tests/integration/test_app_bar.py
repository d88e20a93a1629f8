"""The top bar's apps (decision 0034): the apps a user sees, the current app following the
object in view, "Other" for objects no app lists, link objects left out, in both
languages, for an administrator and for a user who may read only some objects."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

from .conftest import browser_session

PASSWORD = "Ann-pass-1234"


def _obj(name: str, zh: str, en: str) -> dict[str, Any]:
    return {"name": name, "label": {"zh": zh, "en": en},
            "fields": [{"name": "title", "type": "text"}]}


@pytest.fixture
def world(client: FlaskClient, admin: dict[str, str]) -> None:
    for doc in (_obj("thing", "物品", "Thing"), _obj("place", "地点", "Place"),
                _obj("secret", "机密", "Secret"), _obj("loose", "散件", "Loose"),
                {"name": "thing_place", "label": {"en": "Thing place"}, "fields": [
                    {"name": "thing", "type": "lookup", "target": "thing"},
                    {"name": "place", "type": "lookup", "target": "place"}]}):
        assert client.post("/api/v1/meta/objects", headers=admin, json=doc).status_code == 201
    for name, zh, en, objects in (("stock", "库存", "Stock", ["place", "thing"]),
                                  ("vault", "保险库", "Vault", ["secret"]),
                                  ("shop", "商店", "Shop", ["thing"])):
        r = client.post("/api/v1/meta/apps", headers=admin, json={
            "name": name, "label": {"zh": zh, "en": en}, "objects": objects})
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/roles", headers=admin, json={
        "name": "clerk", "label": {"en": "Clerk"}, "permissions": {
            "thing": {"operations": ["read"], "scope": "all"},
            "loose": {"operations": ["read"], "scope": "all"}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "ann", "password": PASSWORD, "roles": ["clerk"]})
    assert r.status_code == 201, r.json


def bar(text: str) -> dict[str, Any]:
    """The switcher's apps, the current app and the wide bar's objects of a page."""
    apps = re.search(r'<nav aria-label="[^"]*" class="apps">(.*?)</nav>', text, re.S)
    objects = re.search(r'<nav aria-label="[^"]*" class="objects">(.*?)</nav>', text, re.S)
    assert apps and objects, text
    current = re.search(r'</span>([^<]*)</summary>', apps.group(1))
    wide = objects.group(1).split('<li class="nav-more app-menu"')[0]
    menu = re.search(r'id="app-menu">(.*?)</details>', objects.group(1), re.S)
    return {"apps": re.findall(r'<a href="[^"]*"[^>]*>([^<]*)</a>', apps.group(1)),
            "current": current.group(1) if current else None,
            "objects": re.findall(r'href="/records/(\w+)', wide),
            "menu": re.findall(r'href="/records/(\w+)', menu.group(1)) if menu else []}


def test_admin_sees_every_app_and_other(instance: Instance, world: None) -> None:
    browser = browser_session(instance)
    page = bar(browser.get("/records/place?lang=en").text)
    assert page["apps"] == ["Stock", "Vault", "Shop", "Other"]
    assert page["current"] == "Stock"
    assert page["objects"] == ["place", "thing"] == page["menu"]
    other = bar(browser.get("/records/loose").text)
    assert other["current"] == "Other" and other["objects"] == ["loose"]  # no link object
    zh = bar(browser.get("/records/secret?lang=zh").text)
    assert zh["apps"] == ["库存", "保险库", "商店", "其他"] and zh["current"] == "保险库"


def test_current_app_follows_the_choice(instance: Instance, world: None) -> None:
    browser = browser_session(instance)
    text = browser.get("/records/place?lang=en").text
    # "thing" is in two apps: its link names the app it is shown under.
    assert 'href="/records/thing?app=stock"' in text
    assert bar(browser.get("/records/thing").text)["current"] == "Stock"  # the first
    chosen = browser.get("/records/thing?app=shop")
    assert bar(chosen.text)["current"] == "Shop"
    assert "no such field" not in chosen.text  # ?app= is no filter of the list
    assert bar(browser.get("/records/thing").text)["current"] == "Shop"  # remembered
    assert bar(browser.get("/").text)["current"] == "Shop"
    # An object the remembered app does not hold: the app holding it.
    assert bar(browser.get("/records/place").text)["current"] == "Stock"
    # A name that is no app, or an app without the object, changes nothing.
    assert bar(browser.get("/records/place?app=nope").text)["current"] == "Stock"
    assert bar(browser.get("/records/place?app=vault").text)["current"] == "Stock"


def test_user_sees_only_what_they_may_read(instance: Instance, world: None) -> None:
    browser = browser_session(instance, "ann", PASSWORD)
    page = bar(browser.get("/records/thing?lang=en").text)
    assert page["apps"] == ["Stock", "Shop", "Other"]  # no Vault: nothing readable in it
    assert page["objects"] == ["thing"]  # "place" left out of Stock
    text = browser.get("/?lang=zh").text
    assert "保险库" not in text and "/records/secret" not in text and "/records/place" not in text
    assert bar(text)["apps"] == ["库存", "商店", "其他"]
    assert bar(browser.get("/records/loose").text)["objects"] == ["loose"]


def test_no_other_app_when_every_object_is_in_one(client: FlaskClient, admin: dict[str, str],
                                                   instance: Instance) -> None:
    assert client.post("/api/v1/meta/objects", headers=admin,
                       json=_obj("thing", "物品", "Thing")).status_code == 201
    assert client.post("/api/v1/meta/apps", headers=admin, json={
        "name": "stock", "label": {"zh": "库存", "en": "Stock"},
        "objects": ["thing"]}).status_code == 201
    page = bar(browser_session(instance).get("/?lang=en").text)
    assert page["apps"] == ["Stock"] and page["objects"] == ["thing"]


def test_an_app_opens_on_its_home_dashboard_for_those_who_may_see_it(
        instance: Instance, client: FlaskClient, admin: dict[str, str], world: None) -> None:
    """An app naming a dashboard opens on it (the app stays current there); a reader who
    may see none of its charts opens the app on its first object; a dashboard that does
    not exist is refused beside ``$.dashboard``."""
    for board in ({"name": "stock_home", "label": {"en": "Stock home"}, "charts": [
                   {"object": "thing", "type": "bar", "field": "title",
                    "label": {"en": "Things"}}]},
                  {"name": "place_home", "label": {"en": "Place home"}, "charts": [
                   {"object": "place", "type": "bar", "field": "title",
                    "label": {"en": "Places"}}]}):
        tenant = instance.tenant("default")
        with tenant.read() as conn:
            Designer(tenant).set_dashboard(principal_of(conn, "admin"), board)
    r = client.patch("/api/v1/meta/apps/stock", headers=admin, json={"dashboard": "nothing"})
    assert r.status_code == 422 and "$.dashboard" in r.json["error"]["fields"], r.json
    for name, board in (("stock", "stock_home"), ("shop", "place_home")):
        r = client.patch(f"/api/v1/meta/apps/{name}", headers=admin, json={"dashboard": board})
        assert r.status_code == 200, r.json
    page = browser_session(instance).get("/records/loose?lang=en").text
    assert 'href="/dashboards/stock_home?app=stock"' in page
    home = browser_session(instance).get("/dashboards/stock_home?app=stock&lang=en")
    assert home.status_code == 200 and bar(home.text)["current"] == "Stock"
    ann = browser_session(instance, "ann", PASSWORD).get("/records/thing?lang=en").text
    # ann reads things, not places: Stock opens on its dashboard of things; Shop's home
    # charts places, which she may not see, so Shop opens on its first object
    assert 'href="/dashboards/stock_home?app=stock"' in ann
    assert 'href="/dashboards/place_home' not in ann
