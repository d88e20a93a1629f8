"""No page answers 500, and no page answers raw JSON.

A world with every field type (a required master-detail among them), then every page of
the business interface, each generated form submitted empty and with wrong values
(letters in numbers, impossible dates, unknown choices, ids of missing records, huge
strings), odd list addresses, missing records: as an administrator and as a user limited
to their department, in Chinese and in English. Each answer is below 500, pages answer
HTML, and what an error page or a form says is in the page's language.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, sign_in

PASSWORD = "Clerk-pass-1234"

ACCOUNT: dict[str, Any] = {
    "name": "account", "label": {"zh": "客户", "en": "Account"},
    "fields": [
        {"name": "name", "type": "text", "required": True, "searchable": True,
         "label": {"zh": "名称", "en": "Name"}},
        {"name": "total", "type": "rollup", "function": "sum", "child": "item",
         "field": "amount", "label": {"zh": "合计", "en": "Total"}},
        {"name": "lines", "type": "rollup", "function": "count", "child": "item",
         "label": {"zh": "行数", "en": "Lines"}},
        {"name": "last_due", "type": "rollup", "function": "max", "child": "item",
         "field": "due", "label": {"zh": "最晚到期", "en": "Last due"}},
    ],
}

ITEM: dict[str, Any] = {
    "name": "item", "label": {"zh": "明细", "en": "Item"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "max_length": 50,
         "searchable": True, "label": {"zh": "标题", "en": "Title"}},
        {"name": "notes", "type": "textarea", "max_length": 500, "label": {"en": "Notes"}},
        {"name": "qty", "type": "integer", "min": 0, "max": 1000, "label": {"en": "Qty"}},
        {"name": "rate", "type": "decimal", "scale": 2, "label": {"en": "Rate"}},
        {"name": "amount", "type": "currency", "label": {"en": "Amount"}},
        {"name": "share", "type": "percent", "label": {"en": "Share"}},
        {"name": "due", "type": "date", "label": {"en": "Due"}},
        {"name": "at", "type": "datetime", "label": {"en": "At"}},
        {"name": "flag", "type": "boolean", "label": {"en": "Flag"}},
        {"name": "stage", "type": "picklist", "label": {"en": "Stage"},
         "choices": [{"value": "new", "label": {"zh": "新", "en": "New"}},
                     {"value": "won", "label": {"zh": "赢", "en": "Won"}}]},
        {"name": "tags", "type": "multipicklist", "label": {"en": "Tags"},
         "choices": [{"value": "a"}, {"value": "b"}]},
        {"name": "ref", "type": "lookup", "target": "account", "label": {"en": "Ref"}},
        {"name": "account", "type": "master_detail", "target": "account", "required": True,
         "label": {"zh": "客户", "en": "Account"}},
        {"name": "person", "type": "user", "label": {"en": "Person"}},
        {"name": "email", "type": "email", "label": {"en": "Email"}},
        {"name": "phone", "type": "phone", "label": {"en": "Phone"}},
        {"name": "site", "type": "url", "label": {"en": "Site"}},
        {"name": "line_total", "type": "formula", "result_type": "currency", "stored": True,
         "expression": "qty * amount", "label": {"en": "Line total"}},
        {"name": "live", "type": "formula", "result_type": "text",
         "expression": "title", "label": {"en": "Live"}},
        {"name": "code", "type": "autonumber", "label": {"en": "Code"}},
        {"name": "doc", "type": "file", "label": {"en": "Document"}},
    ],
}

#: Values wrong for (nearly) every type, each sent in every field at once and field by
#: field. Ids of missing records, unknown choices, impossible dates, huge text.
WRONG = ("abc", "2024-13-45", "nope", "999999999", "-1", "1e999", "9" * 40,
         "x" * 20_000, "12,5", " ", "2024-02-30T25:61")
ODD_LISTS = (
    "?amount__gte=abc&sort=nope&cursor=xyz", "?due__between=a", "?due__between=2024-01-01,x",
    "?tags__in=", "?limit=abc", "?limit=0", "?total=maybe", "?ref=abc", "?flag=maybe",
    "?nofield=1", "?title__bogus=1", "?view=999", "?view=abc", "?ff=amount&fo=gte&fv=abc",
    "?ff=nofield&fo=eq&fv=1", "?ff=title&fo=nope&fv=1", "?cursor=", "?sort=" + ",".join("abcdef"),
    "?sort=-live", "?live=x", "?line_total__gte=1", "?qty__in=" + ",".join(["1"] * 1001),
    "?at__lt=yesterday", "?person=bob", "?account__isnull=maybe", "?doc__isnull=x",
    "?q=" + "x" * 5000, "?stage__gt=zzz", "?code__startswith=%25", "?amount=1e999",
    # the list page's own: filter form, pages, columns, board
    "?ff=due&pick=1", "?ff=nofield&pick=1", "?ff=due&fo=between&fv=2024-01-01",
    "?ff=stage&fo=ne&fv=new&fv=won", "?ff=flag&fo=eq&fv=maybe", "?ff=qty&fo=notnull",
    "?page=abc&cursor=xyz&back=1", "?page=99999999999&cursor=", "?back=1",
    "?fields=nope,secret", "?fields=", "?view=kanban", "?view=kanban&by=nope",
    "?view=kanban&by=title", "?view=kanban&by=stage&amount__gte=abc",
    "?view=kanban&by=stage&q=x&sort=nope",
)
CJK = re.compile(r"[\u4e00-\u9fff]")
ALERT = re.compile(r'<(p|div|section)[^>]*role="alert"[^>]*>(.*?)</\1>', re.S)
FIELD_ERROR = re.compile(r'<p class="field-error"[^>]*>(.*?)</p>', re.S)


@pytest.fixture
def world(client: FlaskClient) -> dict[str, Any]:
    admin = sign_in(client)
    r = client.post("/api/v1/admin/departments", headers=admin,
                    json={"name": "north", "label": {"en": "North"}, "parent": None})
    assert r.status_code == 201, r.json
    # The parent first, its roll-ups once the child exists.
    rollups = [f for f in ACCOUNT["fields"] if f["type"] == "rollup"]
    first = {**ACCOUNT, "fields": [f for f in ACCOUNT["fields"] if f["type"] != "rollup"]}
    assert client.post("/api/v1/meta/objects", json=first, headers=admin).status_code == 201
    r = client.post("/api/v1/meta/objects", json=ITEM, headers=admin)
    assert r.status_code == 201, r.json
    for f in rollups:
        r = client.post("/api/v1/meta/objects/account/fields", json=f, headers=admin)
        assert r.status_code == 201, r.json
    ops = ["create", "read", "update", "delete", "export", "transfer"]
    role = {"name": "clerk", "permissions": {
        "account": {"operations": ops, "scope": "department"},
        "item": {"operations": ops, "scope": "department"}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "clerk", "password": PASSWORD, "department": "north", "roles": ["clerk"]})
    assert r.status_code == 201, r.json
    clerk = sign_in(client, username="clerk", password=PASSWORD)
    acct = client.post("/api/v1/records/account", json={"name": "Acme"}, headers=clerk).json
    item = client.post("/api/v1/records/item", headers=clerk, json={
        "title": "First", "account": acct["id"], "qty": 2, "amount": "3.50", "due": "2024-05-01"})
    assert item.status_code == 201, item.json
    # A record the clerk cannot see (the administrator's, outside the department).
    other = client.post("/api/v1/records/account", json={"name": "Hidden"}, headers=admin).json
    return {"account": acct["id"], "item": item.json["id"], "other": other["id"]}


#: Messages not in the page's language, gathered over a whole test so that one run names
#: them all.
UNTRANSLATED: list[str] = []


def _check(r: Any, lang: str, where: str) -> None:
    """Below 500; HTML unless a redirect; an error's words in the page's language."""
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:500]}"
    if r.status_code in (301, 302, 303):
        return
    assert r.mimetype == "text/html", f"{where}: {r.status_code} {r.mimetype} {r.text[:300]}"
    if r.status_code < 400 and 'role="alert"' not in r.text and "field-error" not in r.text:
        return
    said = [m.group(2) for m in ALERT.finditer(r.text)] + FIELD_ERROR.findall(r.text)
    for text in said:
        plain = html.unescape(re.sub(r"<[^>]+>", " ", text)).strip()
        if not plain:
            continue
        if lang == "zh" and not CJK.search(plain):
            UNTRANSLATED.append(f"{where}: {plain[:200]}")
        # A service message may carry its Chinese beside the English.
        if lang == "en" and not re.search(r"[A-Za-z]{2}", plain):
            UNTRANSLATED.append(f"{where}: {plain[:200]}")


def _form_names(page_text: str) -> list[str]:
    names = re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', page_text)
    return [n for n in dict.fromkeys(names)
            if n not in ("csrf_token", "_record", "version") and not n.startswith("q_")]


def _submit_wrong(c: FlaskClient, url: str, names: list[str], valid: dict[str, str],
                  extra: dict[str, str], lang: str) -> None:
    """The form at ``url`` empty, with each wrong value everywhere, and field by field."""
    h = {"Accept-Language": lang}
    token = csrf_token(c.get(url, headers=h).text)
    base = {"csrf_token": token, **extra}
    r = c.post(url, data=base, headers=h)
    _check(r, lang, f"POST {url} empty")
    for bad in WRONG:
        r = c.post(url, data={**base, **{n: bad for n in names}}, headers=h)
        _check(r, lang, f"POST {url} all={bad[:20]!r}")
    for name in names:
        for bad in ("abc", "999999999", "x" * 20_000):
            r = c.post(url, data={**base, **valid, name: bad}, headers=h)
            _check(r, lang, f"POST {url} {name}={bad[:20]!r}")


def _role_editor_pages(c: FlaskClient, token: str, h: dict[str, str], lang: str) -> None:
    page = "/admin/roles/clerk"
    for url in (page + "?q=" + "x" * 3000, page + "?q=%25_", page + "?q=%00", page + "?q=",
                "/admin/roles/nope?q=a"):
        _check(c.get(url, headers=h), lang, f"GET {url[:60]}")
    posts: list[tuple[str, dict[str, Any]]] = [
        (page, {"shown": ["item", "nope"], "row": "nope", "column": "fly", "all_fields": "item",
                "all_access.item": "x" * 5000, "version": "abc"}),
        (page, {"shown": "item", "only": "nope", "ops.item": "fly", "scope.item": "galaxy"}),
        (page, {"shown": "item", "only": "item", "version": "9" * 40}),
        (page, {"shown": "account", "row": "account", "field.account.name": "write"}),
        (page, {"shown": "item", "label_en": "x" * 5000, "reports_to": "nope"}),
        ("/admin/roles/nope", {"shown": "item", "only": "item"}),
        (page + "/copy", {}), (page + "/copy", {"copy_name": "clerk"}),
        (page + "/copy", {"copy_name": "x" * 5000, "copy_label_zh": "x" * 5000}),
        (page + "/copy", {"copy_name": "Bad Name"}), ("/admin/roles/nope/copy", {"copy_name": "a"}),
    ]
    for url, data in posts:
        _check(c.post(url, data={"csrf_token": token, **data}, headers=h), lang,
               f"POST {url} {sorted(data)}")


@pytest.mark.parametrize("who,lang", [("admin", "en"), ("admin", "zh"), ("clerk", "en"),
                                      ("clerk", "zh")])
def test_no_page_answers_500_or_json(client: FlaskClient, instance: Instance,
                                     world: dict[str, Any], who: str, lang: str) -> None:
    UNTRANSLATED.clear()
    c = browser_session(instance, *(("clerk", PASSWORD) if who == "clerk" else ()))
    h = {"Accept-Language": lang}
    item, account, other = world["item"], world["account"], world["other"]
    valid = {"title": "Fine", "account": str(account)}

    # The generated forms: new and edit, of the child (every type) and of the parent.
    new = c.get("/records/item/new", headers=h)
    _check(new, lang, "GET /records/item/new")
    assert new.status_code == 200
    names = _form_names(new.text)
    assert {"title", "qty", "due", "at", "stage", "tags", "ref", "account", "person"} <= set(names)
    _submit_wrong(c, "/records/item/new", names, valid, {"_record": ""}, lang)
    _check(c.get(f"/records/item/{item}", headers=h), lang, "GET read view")
    edit = c.get(f"/records/item/{item}/edit", headers=h)
    _check(edit, lang, "GET edit")
    version = re.search(r'name="version" value="(\d+)"', edit.text)
    assert version, "the edit form carries the record's version"
    for v in (version.group(1), "", "abc", "999", "-1", "9" * 30):
        _submit_wrong(c, f"/records/item/{item}", names[:4], valid,
                      {"_record": str(item), "version": v}, lang)
    _submit_wrong(c, "/records/account/new", ["name"], {"name": "x"}, {}, lang)
    _submit_wrong(c, f"/records/account/{account}", ["name"], {"name": "x"},
                  {"version": "1"}, lang)

    token = csrf_token(edit.text)
    gets = [f"/records/item{q}" for q in ODD_LISTS] + [
        "/records/item/999999", f"/records/account/{other}", "/records/nope",
        "/records/nope/new", "/records/nope/1", "/records/item/0",
        "/records/item/_options?field=ref&q_ref=" + "x" * 3000,
        "/records/item/_options?field=nope", "/records/item/_options?field=title",
        "/records/item/_options?field=account&q_account=%25_", "/records/item/_options",
        "/records/item/dashboard", "/records/nope/dashboard", "/dashboards/nope",
        "/recycle-bin", "/inbox", "/imports", "/imports?id=abc", "/imports?id=999",
        "/settings/delegation", "/", "/records/item/abc", "/records/item/1/nope",
        "/records/item/999999/edit", f"/records/account/{other}/edit", "/records/nope/1/edit",
        f"/records/item/new?account={account}", "/records/item/new?account=999999",
        "/records/item/new?account=abc&ref=-1&nope=1", f"/records/account/{account}",
    ]
    for url in gets:
        _check(c.get(url, headers=h), lang, f"GET {url}")
    posts: list[tuple[str, dict[str, Any]]] = [
        ("/records/item/999999", {**valid, "version": "1"}),
        (f"/records/account/{other}", {"name": "x", "version": "1"}),
        ("/records/item/999999/delete", {}), (f"/records/account/{other}/delete", {}),
        ("/records/nope/1/delete", {}), ("/records/nope/new", {"title": "x"}),
        ("/records/item/_state", {"_record": "999999", "qty": "abc", "due": "x"}),
        ("/records/item/_state", {"_record": str(item), **{n: "abc" for n in names}}),
        ("/records/item/_state", {"_record": "abc", "account": "999999999"}),
        ("/records/item/_views", {"name": ""}), ("/records/item/_views", {"name": "x" * 5000}),
        ("/records/item/_views/delete", {"view": "abc"}),
        ("/records/item/_views/delete", {"view": "999"}),
        ("/records/item/_columns", {}), ("/records/item/_columns", {"column": ["nope"]}),
        ("/records/item/_columns", {"column": ["title"] * 40 + [str(i) for i in range(40)]}),
        (f"/records/item/{item}/_move", {}),
        (f"/records/item/{item}/_move", {"field": "stage", "value": "nope", "version": "1"}),
        (f"/records/item/{item}/_move", {"field": "title", "value": "x", "version": "abc",
                                         "back": "https://elsewhere.example/"}),
        ("/records/item/999999/_move", {"field": "stage", "value": "won", "version": "1"}),
        ("/records/item/_mass", {}), ("/records/item/_mass", {"action": "delete", "id": "abc"}),
        ("/records/item/_mass", {"action": "delete", "id": "999999"}),
        ("/records/item/_mass", {"action": "transfer", "id": str(item), "owner": "nobody"}),
        ("/records/item/_mass", {"action": "submit", "id": str(item)}),
        ("/recycle-bin/item/999999/restore", {}), ("/recycle-bin/nope/1/restore", {}),
        ("/recycle-bin/item/999999/files/1/restore", {}),
        (f"/records/item/{item}/attachments", {}),
        ("/records/item/999999/attachments", {}),
        (f"/records/item/{item}/attachments/999/remove", {}),
        (f"/records/item/{item}/files/doc", {"version": "abc"}),
        (f"/records/item/{item}/files/nope", {"version": "1"}),
        (f"/records/item/{item}/submit", {}), ("/records/item/999999/submit", {}),
        (f"/records/item/{item}/remind/999", {}),
        ("/inbox/999", {"action": "approve"}), ("/inbox/999", {"action": "nope"}),
        ("/inbox/approve", {"task": ["abc", "999"]}), ("/inbox/approve", {}),
        ("/settings/delegation", {"to": "nobody", "from": "x", "until": "y"}),
        ("/settings/delegation", {"to": ""}),
        (f"/records/item/{item}/notes", {}), (f"/records/item/{item}/notes", {"body": " "}),
        (f"/records/item/{item}/notes", {"body": "x" * 20_000, "follow_up": "2024-13-45"}),
        (f"/records/item/{item}/notes", {"body": "ok\x00", "follow_up": "9" * 40}),
        (f"/records/item/{item}/notes", {"body": "fine", "follow_up": "2024-02-30"}),
        (f"/records/item/{item}/notes", {"body": "fine", "follow_up": "2030-01-01"}),
        (f"/records/account/{other}/notes", {"body": "x"}),
        ("/records/item/999999/notes", {"body": "x"}), ("/records/nope/1/notes", {"body": "x"}),
    ]
    for url, data in posts:
        _check(c.post(url, data={"csrf_token": token, **data}, headers=h), lang,
               f"POST {url} {sorted(data)}")
    _check(c.post("/records/item/new", data={**valid}, headers=h), lang, "POST without CSRF")
    if who == "admin":  # the role editor (decision 0040): odd filters, buttons and versions
        _role_editor_pages(c, token, h, lang)
    assert not UNTRANSLATED, "\n".join(sorted(set(UNTRANSLATED)))


def test_a_required_parent_is_asked_for_on_the_form(client: FlaskClient, instance: Instance,
                                                    world: dict[str, Any]) -> None:
    """The new form of an object with a required master-detail field opens, and saving it
    without the parent says so beside the field, in the page's language."""
    c = browser_session(instance)
    page = c.get("/records/item/new?lang=zh")
    assert page.status_code == 200 and 'aria-required="true"' in page.text
    r = c.post("/records/item/new", data={"csrf_token": csrf_token(page.text), "title": "x"})
    assert r.status_code == 422 and r.mimetype == "text/html"
    error = re.search(r'<p class="field-error" id="err-account">(.*?)</p>', r.text)
    assert error and CJK.search(error.group(1)), r.text


def test_faults_and_unknown_addresses_answer_pages(client: FlaskClient, instance: Instance,
                                                   world: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected fault in a page, an unknown address or a wrong method answers an error
    page in the user's language; the API keeps its JSON envelope."""
    from crmforge.web.pages import lists

    c = browser_session(instance)
    r = c.get("/records/item/abc", headers={"Accept-Language": "zh"})
    assert r.status_code == 404 and r.mimetype == "text/html" and "没有这个页面" in r.text
    r = c.delete("/records/item/new")
    assert r.status_code == 405 and r.mimetype == "text/html"
    assert c.get("/api/v1/nope").mimetype == "application/json"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault")

    monkeypatch.setattr(lists, "render_list", broken)
    r = c.get("/records/item?lang=en")
    assert r.status_code == 500 and r.mimetype == "text/html"
    assert "it has been logged with request id" in r.text and "a fault" not in r.text
