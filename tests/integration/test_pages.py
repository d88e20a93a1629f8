"""The business pages through a browser session (Flask's test client): sign-in redirect,
languages, the list, the generated form with its 422 errors, live states, field-level
permissions, escaping, delete and restore."""

from __future__ import annotations

import json
import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web import create_app

from .conftest import browser_session, csrf_token, sign_in

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"zh": "商机", "en": "Deal <script>alert(1)</script>"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "searchable": True,
         "label": {"zh": "标题", "en": "Title"}},
        {"name": "qty", "type": "integer", "label": {"zh": "数量", "en": "Quantity"},
         "help": {"zh": "件数", "en": "How many <units>"}},
        {"name": "price", "type": "currency", "label": {"zh": "单价", "en": "Price"}},
        {"name": "amount", "type": "formula", "result_type": "currency",
         "expression": "qty * price", "label": {"zh": "金额", "en": "Amount"}},
        {"name": "secret", "type": "text", "label": {"en": "Secret"}},
        {"name": "notes", "type": "textarea", "label": {"en": "Notes"},
         "visible_if": "qty > 10"},
        {"name": "stage", "type": "picklist", "label": {"en": "Stage"},
         "default": "'won'",
         "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                     {"value": "won", "label": {"zh": "赢单", "en": "Won"}}]},
    ],
    "validation_rules": [{"name": "positive", "condition": "is_blank(qty) or qty > 0",
                          "field": "qty",
                          "message": {"zh": "数量必须为正", "en": "Quantity must be positive"}}],
}


def _setup(client: FlaskClient) -> dict[str, str]:
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=DEAL, headers=admin).status_code == 201
    role = {"name": "sales", "permissions": {"deal": {
        "operations": ["create", "read", "update"], "scope": "own",
        "fields": {"secret": "hidden"}}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    assert client.post("/api/v1/admin/users", json={
        "username": "sue", "password": "Sue-pass-1234", "roles": ["sales"]},
        headers=admin).status_code == 201
    return admin


def test_pages_need_a_session_and_come_back_after_sign_in(instance: Instance) -> None:
    c = create_app(instance, {"TESTING": True}).test_client()
    r = c.get("/records/deal?stage=new")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login?next=")
    login = c.get(r.headers["Location"])
    assert 'name="next" value="/records/deal?stage=new"' in login.text


def test_language_switch_is_remembered(instance: Instance) -> None:
    c = browser_session(instance)
    assert ">Sign out<" in c.get("/").text
    zh = c.get("/?lang=zh")
    assert "退出登录" in zh.text and 'lang="zh-CN"' in zh.text
    assert "crmforge_lang=zh" in zh.headers.get("Set-Cookie", "")
    assert "退出登录" in c.get("/").text  # remembered by the cookie
    fresh = create_app(instance, {"TESTING": True}).test_client()
    assert "登录" in fresh.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert ">Sign in<" in fresh.get("/login", headers={"Accept-Language": "en-US"}).text


def test_form_create_with_errors_then_list(client: FlaskClient, instance: Instance) -> None:
    _setup(client)
    c = browser_session(instance)
    page = c.get("/records/deal/new")
    assert page.status_code == 200
    text = page.text
    assert 'type="number"' in text and '<select' in text and 'name="title"' in text
    assert re.search(r'<option selected value="won">', text)  # the default, preselected
    # Labels with markup are text (autoescaped), never markup.
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    bad = {"csrf_token": csrf_token(text), "title": "Big <b>deal</b>", "qty": "-3", "price": "2.5",
           "stage": "new"}
    r = c.post("/records/deal/new", data=bad)
    assert r.status_code == 422
    assert 'id="err-qty"' in r.text and "Quantity must be positive" in r.text
    assert 'aria-describedby="err-qty help-qty"' in r.text
    assert '<p class="help" id="help-qty">How many &lt;units&gt;</p>' in r.text
    r = c.post("/records/deal/new", data={**bad, "qty": "4"})
    assert r.status_code == 303, r.text
    record = c.get(r.headers["Location"])
    assert record.status_code == 200 and "10.00" in record.text  # the formula, computed
    listing = c.get("/records/deal")
    assert "Big &lt;b&gt;deal&lt;/b&gt;" in listing.text and "Big <b>" not in listing.text
    assert "/api/v1/records/deal/export" in listing.text and ">New<" in listing.text
    assert c.get("/records/deal?lang=zh").text.count("新建") >= 2  # button and choice label
    export = c.get("/api/v1/records/deal/export")  # the list's CSV link, with the session
    assert export.status_code == 200 and "Big <b>deal</b>" in export.text


def test_live_state_and_formula(client: FlaskClient, instance: Instance) -> None:
    _setup(client)
    c = browser_session(instance)
    token = csrf_token(c.get("/records/deal/new").text)
    r = c.post("/records/deal/_state", data={"csrf_token": token, "_record": "", "title": "x",
                                             "qty": "12", "price": "3"})
    assert r.status_code == 200
    assert 'id="value-amount"' in r.text and "36.00" in r.text
    states = json.loads(r.headers["HX-Trigger"])["crmforge:states"]
    assert states["notes"]["visible"] is True
    r = c.post("/records/deal/_state", data={"csrf_token": token, "qty": "2", "price": "x"})
    states = json.loads(r.headers["HX-Trigger"])["crmforge:states"]
    assert states["notes"]["visible"] is False
    assert c.post("/records/deal/_state", data={"qty": "2"}).status_code == 403  # no CSRF token


def test_hidden_fields_and_scope(client: FlaskClient, instance: Instance) -> None:
    admin = _setup(client)
    theirs = client.post("/api/v1/records/deal", json={"title": "Admin's", "secret": "s3"},
                         headers=admin).json
    sue = browser_session(instance, "sue", "Sue-pass-1234")
    page = sue.get("/records/deal/new")
    assert page.status_code == 200 and 'name="secret"' not in page.text and "Secret" not in page.text
    r = sue.post("/records/deal/new", data={"csrf_token": csrf_token(page.text), "title": "Sue's",
                                            "secret": "ignored"})
    assert r.status_code == 303, r.text
    listing = sue.get("/records/deal").text
    assert "Sue&#39;s" in listing and "Admin&#39;s" not in listing
    assert sue.get(f"/records/deal/{theirs['id']}").status_code == 404
    assert "Export CSV" not in listing  # no export operation
    assert sue.get("/records/deal?secret=s3").status_code == 400  # no filtering on hidden fields
    nav = sue.get("/").text
    assert "/records/deal" in nav


def test_delete_and_restore_through_the_recycle_bin(client: FlaskClient,
                                                   instance: Instance) -> None:
    admin = _setup(client)
    rec = client.post("/api/v1/records/deal", json={"title": "Gone"}, headers=admin).json
    c = browser_session(instance)
    page = c.get(f"/records/deal/{rec['id']}")
    token = csrf_token(page.text)
    assert "Activity" in page.text and "<strong>Title</strong>: <ins>Gone</ins>" in page.text
    r = c.post(f"/records/deal/{rec['id']}/delete", data={"csrf_token": token})
    assert r.status_code == 303
    assert c.get(f"/records/deal/{rec['id']}").status_code == 404
    bin_page = c.get("/recycle-bin")
    assert "Gone" in bin_page.text
    r = c.post(f"/recycle-bin/deal/{rec['id']}/restore", data={"csrf_token": token})
    assert r.status_code == 303
    assert c.get(f"/records/deal/{rec['id']}").status_code == 200


def test_stale_form_is_a_conflict(client: FlaskClient, instance: Instance) -> None:
    admin = _setup(client)
    rec = client.post("/api/v1/records/deal", json={"title": "One"}, headers=admin).json
    c = browser_session(instance)
    token = csrf_token(c.get(f"/records/deal/{rec['id']}").text)
    assert client.patch(f"/api/v1/records/deal/{rec['id']}", json={"title": "Two", "version": 1},
                        headers=admin).status_code == 200
    r = c.post(f"/records/deal/{rec['id']}", data={"csrf_token": token, "title": "Three",
                                                   "version": "1"})
    assert r.status_code == 409
    r = c.post(f"/records/deal/{rec['id']}", data={"csrf_token": token, "title": "Three",
                                                   "version": "2"})
    assert r.status_code == 303


def test_list_pages_sorts_and_filters(client: FlaskClient, instance: Instance) -> None:
    admin = _setup(client)
    for i in range(60):
        assert client.post("/api/v1/records/deal", json={"title": f"d{i:02}", "qty": i + 1},
                           headers=admin).status_code == 201
    c = browser_session(instance)
    first = c.get("/records/deal?sort=qty").text
    assert "d00" in first and "d59" not in first and 'rel="next"' in first
    nxt = re.search(r'href="([^"]+)" rel="next"', first)
    assert nxt
    second = c.get(nxt.group(1).replace("&amp;", "&")).text
    assert "d59" in second and "d00" not in second
    r = c.get("/records/deal?ff=qty&fo=gte&fv=59")
    assert r.status_code == 303 and "qty__gte=59" in r.headers["Location"]
    filtered = c.get(r.headers["Location"]).text
    assert "d58" in filtered and "d57" not in filtered
    assert 'aria-sort="descending"' in c.get("/records/deal?sort=-title").text


ACCOUNT: dict[str, Any] = {
    "name": "account", "label": {"zh": "客户", "en": "Account"},
    "fields": [{"name": "company", "type": "text", "required": True, "searchable": True,
                "label": {"en": "Company"}}],
}
CONTACT: dict[str, Any] = {
    "name": "contact", "label": {"en": "Contact"},
    "fields": [{"name": "full_name", "type": "text", "required": True, "label": {"en": "Name"}},
               {"name": "account", "type": "lookup", "target": "account",
                "label": {"en": "Account"}},
               {"name": "phone", "type": "phone", "label": {"en": "Phone"}}],
}


def test_lookups_related_lists_and_layouts(client: FlaskClient, instance: Instance) -> None:
    admin = _setup(client)
    for doc in (ACCOUNT, CONTACT):
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    acme = client.post("/api/v1/records/account", json={"company": "Acme <Ltd>"},
                       headers=admin).json
    client.post("/api/v1/records/account", json={"company": "Globex"}, headers=admin)
    c = browser_session(instance)
    options = c.get("/records/contact/_options?field=account&q_account=acme")
    assert options.status_code == 200
    assert f'value="{acme["id"]}"' in options.text and "Acme &lt;Ltd&gt;" in options.text
    assert "Globex" not in options.text
    page = c.get("/records/contact/new")
    r = c.post("/records/contact/new", data={"csrf_token": csrf_token(page.text),
                                              "full_name": "Ann", "account": str(acme["id"])})
    assert r.status_code == 303, r.text
    contact = c.get(r.headers["Location"] + "/edit").text
    assert f'<option selected value="{acme["id"]}">Acme &lt;Ltd&gt;</option>' in contact \
        or f'value="{acme["id"]}" selected' in contact
    account_page = c.get(f"/records/account/{acme['id']}").text
    assert "Contact · Account" in account_page and ">Ann</a>" in account_page
    listing = c.get("/records/contact").text
    assert "Acme &lt;Ltd&gt;" in listing  # the lookup column shows the title

    layout = {"form": {"sections": [
        {"label": {"zh": "联系方式", "en": "Reach"}, "columns": 1, "fields": ["phone", "full_name"]}]},
        "list": {"columns": ["full_name", "phone"]},
        "roles": {"sales": {"list": {"columns": ["phone"]}}}}
    assert client.put("/api/v1/meta/objects/contact/layout", json=layout,
                      headers=admin).status_code == 200
    form = c.get("/records/contact/new").text
    assert "<legend>Reach</legend>" in form and 'name="account"' not in form
    assert form.index('name="phone"') < form.index('name="full_name"')
    assert "<legend>联系方式</legend>" in c.get("/records/contact/new?lang=zh").text
    headers = re.findall(r'data-field="(\w+)"', c.get("/records/contact").text)
    assert headers == ["full_name", "phone"]


def test_every_field_type_gets_a_fitting_widget(client: FlaskClient, instance: Instance) -> None:
    from .conftest import EXHIBITOR
    from .test_api_meta import ALL_TYPES

    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin).status_code == 201
    doc = {"name": "kitchen", "fields": ALL_TYPES}
    assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    c = browser_session(instance)
    page = c.get("/records/kitchen/new")
    assert page.status_code == 200
    text = page.text

    def tag(name: str) -> str:
        m = re.search(rf'<(input|select|textarea)[^>]*name="{name}"[^>]*>', text)
        assert m, name
        return m.group(0)

    assert 'type="date"' in tag("due") and 'type="datetime-local"' in tag("met_at")
    assert 'type="checkbox"' in tag("active") and "checked" in tag("active")  # default True
    assert 'type="number"' in tag("qty") and 'step="1"' in tag("qty") and 'max="1000"' in tag("qty")
    assert 'step="0.001"' in tag("ratio") and 'type="email"' in tag("mail")
    assert 'type="tel"' in tag("tel") and 'type="url"' in tag("site")
    assert tag("stage").startswith("<select") and "multiple" in tag("tags")
    assert tag("notes").startswith("<textarea") and tag("account").startswith("<select")
    assert 'name="code"' not in text  # shown, not edited
    assert 'type="file"' in tag("attachment")  # a new record's file goes with the form
    assert 'enctype="multipart/form-data"' in text
    r = c.post("/records/kitchen/new", data={
        "csrf_token": csrf_token(text), "title": "All", "qty": "7", "ratio": "0.125", "active": "y",
        "due": "2026-05-01", "met_at": "2026-05-01T09:30", "stage": "a", "sub_stage": "a1",
        "tags": ["x", "y"], "mail": "a@example.com", "site": "https://example.com"})
    assert r.status_code == 303, r.text
    rid = r.headers["Location"].rsplit("/", 1)[1]
    rec = client.get(f"/api/v1/records/kitchen/{rid}", headers=admin).json
    assert rec["qty"] == 7 and rec["ratio"] == "0.125" and rec["active"] is True
    # the form's time is read in the tenant's zone (Asia/Shanghai, decision 0038)
    assert rec["met_at"].startswith("2026-05-01T01:30") and rec["tags"] == ["x", "y"]
    assert rec["double_qty"] == 14 and rec["code"]
    shown = c.get(f"/records/kitchen/{rid}/edit").text
    assert 'value="2026-05-01T09:30"' in shown and "<option selected value=\"a\">" in shown


def test_live_state_never_reveals_hidden_fields(client: FlaskClient, instance: Instance) -> None:
    admin = _setup(client)
    leak = {"name": "peek", "type": "formula", "result_type": "text", "expression": "secret",
            "label": {"en": "Peek"}}
    assert client.post("/api/v1/meta/objects/deal/fields", json=leak,
                       headers=admin).status_code == 201
    assert client.post("/api/v1/admin/roles", json={"name": "viewer", "permissions": {
        "deal": {"operations": ["read"], "scope": "all", "fields": {"secret": "hidden"}}}},
        headers=admin).status_code == 201
    assert client.post("/api/v1/admin/users", json={
        "username": "val", "password": "Val-pass-1234", "roles": ["viewer"]},
        headers=admin).status_code == 201
    rec = client.post("/api/v1/records/deal", json={"title": "T", "secret": "s3cr3t"},
                      headers=admin).json
    sue = browser_session(instance, "sue", "Sue-pass-1234")
    token = csrf_token(sue.get("/records/deal/new").text)
    r = sue.post("/records/deal/_state", data={"csrf_token": token, "secret": "typed"})
    assert r.status_code == 200 and "typed" not in r.text
    assert "secret" not in json.loads(r.headers["HX-Trigger"])["crmforge:states"]
    val = browser_session(instance, "val", "Val-pass-1234")
    page = val.get(f"/records/deal/{rec['id']}")
    assert page.status_code == 200 and "s3cr3t" not in page.text
    assert ">Save</button>" not in page.text and 'name="title"' not in page.text
    assert '<span class="value" aria-labelledby="lbl-title">T</span>' in page.text
    r = val.post("/records/deal/_state", data={"csrf_token": csrf_token(page.text),
                                                "_record": str(rec["id"])})
    assert r.status_code == 200 and "s3cr3t" not in r.text
    assert val.post(f"/records/deal/{rec['id']}", data={
        "csrf_token": csrf_token(page.text), "title": "X", "version": "1"}).status_code == 403
