"""Saved list views through the list page (browser sessions: Flask's test client with a
signed-in cookie and CSRF tokens) and the API: save, pick, delete; sharing by an
administrator reaches readers of the object only; a bad query, name or duplicate is
refused with nothing stored; names with markup stay text; both languages render."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from ..conftest import ADMIN_PASSWORD
from .conftest import browser_session, csrf_token, error_of, sign_in

TICKET: dict[str, Any] = {
    "name": "ticket", "label": {"zh": "工单", "en": "Ticket"},
    "fields": [
        {"name": "subject", "type": "text", "required": True, "searchable": True,
         "label": {"zh": "主题", "en": "Subject"}},
        {"name": "hours", "type": "integer", "label": {"zh": "工时", "en": "Hours"}},
        {"name": "secret", "type": "text", "label": {"en": "Secret"}},
        {"name": "stage", "type": "picklist", "default": "'new'", "label": {"en": "Stage"},
         "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                     {"value": "done", "label": {"zh": "完成", "en": "Done"}}]},
    ],
}
NOTE = {"name": "note", "label": {"en": "Note"},
        "fields": [{"name": "text", "type": "text", "required": True}]}
PASSWORDS = {"sue": "Sue-pass-1234", "otto": "Otto-pass-1234"}


def _browser(instance: Instance, username: str = "admin") -> FlaskClient:
    return browser_session(instance, username, PASSWORDS.get(username, ADMIN_PASSWORD))


def _world(client: FlaskClient) -> dict[str, dict[str, str]]:
    """Tickets and notes; sue reads tickets (the secret field hidden), otto only notes."""
    admin = sign_in(client)
    for doc in (TICKET, NOTE):
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    for role in ({"name": "support", "permissions": {"ticket": {
                     "operations": ["read", "create"], "scope": "all",
                     "fields": {"secret": "hidden"}}}},
                 {"name": "writer", "permissions": {"note": {
                     "operations": ["read", "create"], "scope": "all"}}}):
        assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    for user, role in (("sue", "support"), ("otto", "writer")):
        r = client.post("/api/v1/admin/users", json={
            "username": user, "password": PASSWORDS[user], "roles": [role]}, headers=admin)
        assert r.status_code == 201, r.json
    for subject, hours, stage in (("Printer jam", 2, "new"), ("Broken <b>screen</b>", 5, "new"),
                                  ("Old case", 1, "done")):
        r = client.post("/api/v1/records/ticket", json={
            "subject": subject, "hours": hours, "stage": stage}, headers=admin)
        assert r.status_code == 201, r.json
    return {"admin": admin, "sue": sign_in(client, username="sue", password=PASSWORDS["sue"]),
            "otto": sign_in(client, username="otto", password=PASSWORDS["otto"])}


def _views(client: FlaskClient, who: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/list-views/ticket", headers=who)
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def test_save_pick_and_delete_a_view_on_the_page(client: FlaskClient,
                                                 instance: Instance) -> None:
    heads = _world(client)
    c = _browser(instance, "sue")
    page = c.get("/records/ticket?stage=new&sort=-hours")
    assert page.status_code == 200
    assert 'id="view-name"' in page.text and 'id="view-shared"' not in page.text  # not admin
    r = c.post("/records/ticket/_views?stage=new&sort=-hours&cursor=abc&lang=en",
               data={"csrf_token": csrf_token(page.text), "name": "My open tickets"})
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/records/ticket?stage=new&sort=-hours"
    (view,) = _views(client, heads["sue"])
    assert view["name"] == "My open tickets" and view["query"] == "stage=new&sort=-hours"
    assert view["mine"] and not view["shared"] and view["owner"] == "sue"
    opened = c.get(r.headers["Location"])
    assert "View saved." in opened.text
    assert re.search(rf'<option value="{view["id"]}" selected>My open tickets</option>',
                     opened.text)  # the current address is this view
    assert "Printer jam" in opened.text and "Old case" not in opened.text
    # Picking a view from the select opens its address.
    r = c.get(f"/records/ticket?view={view['id']}")
    assert r.status_code == 303 and r.headers["Location"] == "/records/ticket?stage=new&sort=-hours"
    assert c.get("/records/ticket?view=99999").status_code == 404
    # Deleting it.
    # Deleting it asks first and keeps the view until confirmed.
    r = c.post("/records/ticket/_views/delete", data={"csrf_token": csrf_token(opened.text),
                                                      "view": str(view["id"])})
    assert r.status_code == 200 and "Delete the saved view My open tickets?" in r.text
    asked_zh = c.post("/records/ticket/_views/delete?lang=zh", data={
        "csrf_token": csrf_token(opened.text), "view": str(view["id"])}).text
    assert "删除已保存的视图 My open tickets？" in asked_zh
    c.get("/records/ticket?lang=en")  # back to English, remembered
    assert [v["name"] for v in _views(client, heads["sue"])] == ["My open tickets"]
    r = c.post("/records/ticket/_views/delete", data={"csrf_token": csrf_token(opened.text),
                                                      "view": str(view["id"]), "confirmed": "1"})
    assert r.status_code == 303
    assert "View deleted." in c.get(r.headers["Location"]).text
    assert _views(client, heads["sue"]) == []
    # Without the CSRF token nothing is saved.
    assert c.post("/records/ticket/_views", data={"name": "x"}).status_code == 403
    assert _views(client, heads["sue"]) == []


def test_views_through_the_api(client: FlaskClient) -> None:
    heads = _world(client)
    sue = heads["sue"]
    r = client.post("/api/v1/list-views/ticket", json={"name": "Long", "query": "?hours__gte=3"},
                    headers=sue)
    assert r.status_code == 201, r.json
    assert r.headers["Location"] == f"/api/v1/list-views/ticket/{r.json['id']}"
    assert r.json["query"] == "hours__gte=3"
    got = client.get(f"/api/v1/list-views/ticket/{r.json['id']}", headers=sue)
    assert got.status_code == 200 and got.json["name"] == "Long"
    listed = client.get("/api/v1/records/ticket?" + got.json["query"], headers=sue).json
    assert [t["subject"] for t in listed["items"]] == ["Broken <b>screen</b>"]
    dup = client.post("/api/v1/list-views/ticket", json={"name": " Long ", "query": ""},
                      headers=sue)
    assert dup.status_code == 409 and error_of(dup)["fields"] == {"name": ["already taken"]}
    # The same name is free for another owner.
    assert client.post("/api/v1/list-views/ticket", json={"name": "Long"},
                       headers=heads["admin"]).status_code == 201
    assert client.delete(f"/api/v1/list-views/ticket/{r.json['id']}",
                         headers=sue).status_code == 204
    assert client.delete(f"/api/v1/list-views/ticket/{r.json['id']}",
                         headers=sue).status_code == 404
    assert client.get("/api/v1/list-views/ticket/nope", headers=sue).status_code == 404
    assert error_of(client.post("/api/v1/list-views/ticket", data="x", headers=sue))
    # The OpenAPI document describes the paths.
    paths = client.get("/api/v1/openapi.json", headers=sue).json["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/list-views/{object}"])
    assert "delete" in paths["/api/v1/list-views/{object}/{id}"]


def test_bad_queries_and_names_store_nothing(client: FlaskClient, instance: Instance) -> None:
    heads = _world(client)
    sue = heads["sue"]
    for query, problem in (("nosuch=1", "no such field"),
                           ("secret=x", "no such field"),  # hidden from sue: like unknown
                           ("hours__gte=many", "hours"),
                           ("subject__between=a", "between"),
                           ("sort=-nosuch", "no such field"),
                           ("limit=0", "limit"),
                           ("fields=secret", "secret")):
        r = client.post("/api/v1/list-views/ticket", json={"name": "v", "query": query},
                        headers=sue)
        assert r.status_code == 422, (query, r.json)
        error = error_of(r)
        assert error["message"].startswith("the view's query is not valid")
        assert problem in error["message"] and error["fields"]["query"], (query, error)
    for body, field in (({"name": "   ", "query": ""}, "name"),
                        ({"name": "x" * 101, "query": ""}, "name"),
                        ({"query": ""}, "name"),
                        ({"name": "v", "query": 5}, "query")):
        r = client.post("/api/v1/list-views/ticket", json=body, headers=sue)
        assert r.status_code == 422 and field in error_of(r)["fields"], (body, r.json)
    assert client.post("/api/v1/list-views/ticket", json={"name": "x" * 100, "query": ""},
                       headers=sue).status_code == 201
    r = client.post("/api/v1/list-views/ticket", json={"name": "s", "shared": True}, headers=sue)
    assert r.status_code == 403  # only administrators share
    assert [v["name"] for v in _views(client, sue)] == ["x" * 100]
    # On the page: the list is shown again with the reason, with a 4xx, nothing stored.
    c = _browser(instance, "sue")
    token = csrf_token(c.get("/records/ticket").text)
    r = c.post("/records/ticket/_views?nosuch=1", data={"csrf_token": token, "name": "bad"})
    assert r.status_code == 422
    assert 'id="problem"' in r.text and "the view&#39;s query is not valid" in r.text
    r = c.post("/records/ticket/_views", data={"csrf_token": token, "name": ""})
    assert r.status_code == 422 and "the view needs a name" in r.text
    assert [v["name"] for v in _views(client, sue)] == ["x" * 100]


def test_shared_views_reach_readers_of_the_object_only(client: FlaskClient,
                                                        instance: Instance) -> None:
    heads = _world(client)
    admin = sign_in(client)
    r = client.post("/api/v1/list-views/ticket", json={
        "name": "Team <script>alert(1)</script>", "query": "stage=new", "shared": True},
        headers=admin)
    assert r.status_code == 201, r.json
    shared = r.json
    private = client.post("/api/v1/list-views/ticket", json={"name": "Admin only"},
                          headers=admin).json
    (seen,) = _views(client, heads["sue"])
    assert seen["id"] == shared["id"] and seen["shared"] and not seen["mine"]
    assert not seen["deletable"]
    assert client.get(f"/api/v1/list-views/ticket/{private['id']}",
                      headers=heads["sue"]).status_code == 404
    page = _browser(instance, "sue").get("/records/ticket").text
    assert "Team &lt;script&gt;alert(1)&lt;/script&gt; (shared)" in page
    assert "<script>alert(1)" not in page and "Admin only" not in page
    assert 'id="view-delete"' not in page  # nothing sue may delete
    r = client.delete(f"/api/v1/list-views/ticket/{shared['id']}", headers=heads["sue"])
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    sue = _browser(instance, "sue")
    r = sue.post("/records/ticket/_views/delete", data={
        "csrf_token": csrf_token(sue.get("/records/ticket").text), "view": str(shared["id"])})
    assert r.status_code == 403 and "administrator" in r.text
    # Otto may not read tickets: no views, no page, as if the object did not exist.
    r = client.get("/api/v1/list-views/ticket", headers=heads["otto"])
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert client.get(f"/api/v1/list-views/ticket/{shared['id']}",
                      headers=heads["otto"]).status_code == 404
    assert _browser(instance, "otto").get("/records/ticket").status_code == 404
    assert client.get("/api/v1/list-views/note", headers=heads["otto"]).json["items"] == []
    # The administrator's page offers sharing and deletes the shared view.
    c = _browser(instance)
    page = c.get("/records/ticket").text
    assert 'id="view-shared"' in page and 'id="view-delete"' in page
    r = c.post("/records/ticket/_views/delete", data={"csrf_token": csrf_token(page),
                                                      "view": str(shared["id"])})
    assert r.status_code == 200 and "for everyone it is shared with" in r.text
    r = c.post("/records/ticket/_views/delete", data={"csrf_token": csrf_token(page),
                                                      "view": str(shared["id"]), "confirmed": "1"})
    assert r.status_code == 303
    r = c.post("/records/ticket/_views?stage=done", data={
        "csrf_token": csrf_token(page), "name": "Done", "shared": "1"})
    assert r.status_code == 303
    assert [(v["name"], v["shared"]) for v in _views(client, heads["sue"])] == [("Done", True)]


def test_both_languages_render_the_views_and_the_action_bar(client: FlaskClient,
                                                            instance: Instance) -> None:
    _world(client)
    c = _browser(instance)
    token = csrf_token(c.get("/records/ticket").text)
    assert c.post("/records/ticket/_views?stage=new", data={
        "csrf_token": token, "name": "Neu"}).status_code == 303
    en = c.get("/records/ticket?lang=en").text
    assert "Save view" in en and "Saved view" in en and "Select all" in en
    zh = c.get("/records/ticket?lang=zh").text
    assert "保存视图" in zh and "已保存的视图" in zh and "全选" in zh and "删除" in zh
    assert "Save view" not in zh and "Neu" in zh


def test_a_view_never_shows_or_runs_a_condition_on_a_field_hidden_from_its_reader(
        client: FlaskClient, instance: Instance) -> None:
    """A shared view filtering, sorting or showing a field hidden from a reader reaches
    them without those terms (and without a hint that there were any); what they get runs
    for them. The administrator who shared it still gets the whole query."""
    heads = _world(client)
    admin, sue = heads["admin"], heads["sue"]
    query = ("stage=new&secret__contains=x&secret=&hours__gte=1&sort=-secret,hours"
             "&fields=subject,secret&q=jam")
    r = client.post("/api/v1/list-views/ticket", json={
        "name": "Team", "query": query, "shared": True}, headers=admin)
    assert r.status_code == 201, r.json
    view = r.json
    assert _pairs(view["query"]) == _pairs(query)
    expected = "stage=new&hours__gte=1&sort=hours&fields=subject&q=jam"
    (listed,) = _views(client, sue)
    got = client.get(f"/api/v1/list-views/ticket/{view['id']}", headers=sue).json
    assert _pairs(listed["query"]) == _pairs(got["query"]) == _pairs(expected)
    assert "secret" not in str(listed) and "secret" not in str(got)
    assert _pairs(client.get(f"/api/v1/list-views/ticket/{view['id']}",
                             headers=admin).json["query"]) == _pairs(query)
    # What sue receives runs for her; the stored query would not (a hidden field is 400).
    r = client.get(f"/api/v1/records/ticket?{expected}", headers=sue)
    assert r.status_code == 200 and [i["subject"] for i in r.json["items"]] == ["Printer jam"]
    assert client.get(f"/api/v1/records/ticket?{query}", headers=sue).status_code == 400
    # The list page opens the view at its reduced address and lists the records.
    page = _browser(instance, "sue")
    r = page.get(f"/records/ticket?view={view['id']}")
    assert r.status_code == 303 and "secret" not in r.headers["Location"]
    r = page.get(r.headers["Location"])
    assert r.status_code == 200 and "Printer jam" in r.text and "secret" not in r.text.lower()
    # A view of one's own follows the reader's roles too: a field hidden later drops out.
    r = client.post("/api/v1/list-views/ticket", json={
        "name": "Mine", "query": "hours__gte=2&sort=-hours"}, headers=sue)
    assert r.status_code == 201, r.json
    r = client.patch("/api/v1/admin/roles/support", headers=admin, json={"permissions": {
        "ticket": {"operations": ["read", "create"], "scope": "all",
                   "fields": {"secret": "hidden", "hours": "hidden"}}}})
    assert r.status_code == 200, r.json
    mine = next(v for v in _views(client, sue) if v["name"] == "Mine")
    assert mine["query"] == ""
    team = next(v for v in _views(client, sue) if v["name"] == "Team")
    assert _pairs(team["query"]) == _pairs("stage=new&fields=subject&q=jam")
    assert client.get(f"/api/v1/records/ticket?{team['query']}", headers=sue).status_code == 200


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def test_saved_views_propose_composite_indexes(client: FlaskClient) -> None:
    heads = _world(client)
    admin = heads["admin"]
    for name, query in (("New by subject", "stage=new&sort=subject"),
                        ("Done by subject", "stage=done&sort=-subject"),
                        ("By hours", "stage=new&sort=hours"),
                        ("Search", "q=printer&sort=subject"),
                        ("Unsorted", "stage=new")):
        r = client.post("/api/v1/list-views/ticket", json={"name": name, "query": query},
                        headers=admin)
        assert r.status_code == 201, r.json
    url = "/api/v1/meta/objects/ticket/index-suggestions"
    assert client.get(url, headers=heads["sue"]).status_code == 403
    r = client.get(url, headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["items"] == [
        {"fields": ["stage", "subject"], "views": ["New by subject", "Done by subject"],
         "slow": None},
        {"fields": ["stage", "hours"], "views": ["By hours"], "slow": None}]
    r = client.patch("/api/v1/meta/objects/ticket", json={"indexes": [["stage", "subject"]]},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert client.get(url, headers=admin).json["items"] == [
        {"fields": ["stage", "hours"], "views": ["By hours"], "slow": None}]


def test_slow_lists_propose_indexes_without_their_values(client: FlaskClient, instance: Instance,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    heads = _world(client)
    admin, sue = heads["admin"], heads["sue"]
    url = "/api/v1/meta/objects/ticket/index-suggestions"
    monkeypatch.setenv("CRMFORGE_SLOW_LIST_MS", "60000")  # under the threshold, however busy
    assert client.get("/api/v1/records/ticket?stage=new&sort=hours", headers=sue).status_code \
        == 200
    assert client.get(url, headers=admin).json["items"] == []  # fast lists leave nothing
    monkeypatch.setenv("CRMFORGE_SLOW_LIST_MS", "0")  # every list is slow now
    for query in ("stage=new&sort=hours", "stage=done&sort=-hours", "sort=hours",
                  "q=printer&sort=subject"):
        assert client.get(f"/api/v1/records/ticket?{query}", headers=sue).status_code == 200
    items = client.get(url, headers=admin).json["items"]
    assert [(i["fields"], i["views"], i["slow"]["hits"]) for i in items] == [
        (["stage", "hours"], [], 2)]
    with instance.tenant("default").read() as conn:
        stored = conn.execute(sa.text("SELECT shape FROM sys_slow_lists")).scalars().all()
    assert stored == ["stage>hours"]  # the shape only, never the values filtered by
    r = client.patch("/api/v1/meta/objects/ticket", json={"indexes": [["stage", "hours"]]},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert client.get(url, headers=admin).json["items"] == []


def test_the_designer_proposes_and_creates_indexes(client: FlaskClient, instance: Instance,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    heads = _world(client)
    monkeypatch.setenv("CRMFORGE_SLOW_LIST_MS", "0")
    assert client.get("/api/v1/records/ticket?stage=new&sort=hours",
                      headers=heads["sue"]).status_code == 200
    page = _browser(instance)
    zh = page.get("/admin/objects/ticket?lang=zh")
    assert zh.status_code == 200 and "建议的索引" in zh.text and "stage, hours" in zh.text
    en = page.get("/admin/objects/ticket?lang=en")
    assert "Proposed indexes" in en.text and "slow 1 times" in en.text
    token = csrf_token(en.text)
    bad = page.post("/admin/objects/ticket/indexes",
                    data={"csrf_token": token, "fields": "stage,nope"})
    assert bad.status_code == 422 and "nope" in bad.text
    made = page.post("/admin/objects/ticket/indexes",
                     data={"csrf_token": token, "fields": "stage,hours"})
    assert made.status_code == 303
    doc = client.get("/api/v1/meta/objects/ticket", headers=heads["admin"]).json
    assert doc["indexes"] == [["stage", "hours"]]
    assert "Proposed indexes" not in page.get("/admin/objects/ticket?lang=en").text
    gone = page.post("/admin/objects/ticket/indexes/remove",
                     data={"csrf_token": token, "fields": "stage,hours", "confirmed": "1"})
    assert gone.status_code == 303
    doc = client.get("/api/v1/meta/objects/ticket", headers=heads["admin"]).json
    assert not doc.get("indexes")
