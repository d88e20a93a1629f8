"""The browser designer (``/admin/``) through a browser session (Flask's test client):
admins only, objects and fields of several types, rename, a type change's dry run before
it applies, the metadata recycle bin, the live expression check with line and column, the
preview, validation rules the record API then enforces, history, diff and rollback."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web import create_app

from .conftest import browser_session, csrf_token, sign_in


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/admin/").text), **data})


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return m.group(1)


def _api_object(client: FlaskClient, api: dict[str, str], name: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/meta/objects/{name}", headers=api)
    assert r.status_code == 200, r.json
    return dict(r.json)


def _fields(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in doc["fields"]}


def _create(c: FlaskClient, name: str = "deal", **extra: str) -> Any:
    return _post(c, "/admin/objects", {"name": name, "label_zh": "商机", "first_field": "title",
                                       "label_en": "Deal <script>alert(1)</script>", **extra})


def _create_child(c: FlaskClient) -> Any:
    return _post(c, "/admin/objects", {"name": "line", "label_en": "Line", "first_field": "item"})


def test_only_administrators_get_in(client: FlaskClient, instance: Instance) -> None:
    anonymous = create_app(instance, {"TESTING": True}).test_client()
    r = anonymous.get("/admin/objects/deal?x=1")
    assert r.status_code == 302
    assert r.headers["Location"] == "/login?next=/admin/objects/deal?x%3D1" or \
        r.headers["Location"].startswith("/login?next=/admin/objects/deal")
    admin = sign_in(client)
    assert client.post("/api/v1/admin/users", json={
        "username": "sue", "password": "Sue-pass-1234", "roles": []},
        headers=admin).status_code == 201
    sue = browser_session(instance, "sue", "Sue-pass-1234")
    home = sue.get("/")
    assert home.status_code == 200 and 'href="/admin/"' not in home.text
    for path in ("/admin/", "/admin/history", "/admin/objects/deal/fields/new"):
        assert sue.get(path).status_code == 403, path
    r = sue.post("/admin/objects", data={"csrf_token": csrf_token(home.text), "name": "sneaky",
                                         "first_field": "title"})
    assert r.status_code == 403
    assert client.get("/api/v1/meta/objects/sneaky", headers=admin).status_code == 404
    boss = browser_session(instance)
    assert 'href="/admin/"' in boss.get("/").text  # the top bar links the designer for admins


def test_create_an_object_and_fields_of_several_types(client: FlaskClient,
                                                      instance: Instance) -> None:
    api = sign_in(client)
    c = browser_session(instance)
    r = _create(c)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/objects/deal"
    page = c.get("/admin/objects/deal").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    home = c.get("/admin/").text
    assert "<code>obj_deal</code>" in home and "&lt;script&gt;" in home
    again = _create(c)  # the same name twice: the Designer's conflict, beside the name
    assert again.status_code == 409 and _error_beside(again.text, "name") == "already exists"

    new = "/admin/objects/deal/fields/new"
    assert 'name="max_length"' in c.get(new + "?type=text").text
    assert 'name="choices"' in c.get(new + "?type=picklist").text
    assert 'name="expression"' in c.get(new + "?type=formula").text
    bad = _post(c, new, {"name": "code", "type": "text", "max_length": "many"})
    assert bad.status_code == 422
    assert "is not of type" in _error_beside(bad.text, "max_length")
    assert 'value="many"' in bad.text  # what was typed stays
    fields = [
        {"name": "code", "type": "text", "label_en": "Code", "max_length": "12",
         "required": "1", "unique": "1", "searchable": "1"},
        {"name": "area", "type": "decimal", "label_zh": "面积", "scale": "2"},
        {"name": "qty", "type": "integer", "label_en": "Quantity",
         "visible_if": "not is_blank(area)"},
        {"name": "stage", "type": "picklist", "label_en": "Stage",
         "choices": "new|新建|New\nwon|赢单|Won\nlost"},
        {"name": "partner", "type": "lookup", "target": "deal"},
        {"name": "total", "type": "formula", "expression": "area * qty",
         "result_type": "decimal", "stored": "1"},
    ]
    for data in fields:
        r = _post(c, new, data)
        assert r.status_code == 303, (data["name"], r.text[:2000])
        assert r.headers["Location"] == f"/admin/objects/deal/fields/{data['name']}"
    got = _fields(_api_object(client, api, "deal"))
    assert got["code"]["max_length"] == 12 and got["code"]["required"] and got["code"]["unique"]
    assert got["code"]["searchable"] and got["code"]["label"] == {"en": "Code"}
    assert got["area"]["scale"] == 2 and got["qty"]["visible_if"] == "not is_blank(area)"
    assert got["stage"]["choices"] == [
        {"value": "new", "label": {"zh": "新建", "en": "New"}},
        {"value": "won", "label": {"zh": "赢单", "en": "Won"}}, {"value": "lost"}]
    assert got["partner"]["target"] == "deal"
    assert got["total"]["expression"] == "area * qty" and got["total"]["stored"] is True
    listing = c.get("/admin/objects/deal").text
    assert listing.count("decimals") == 1 and "2 decimals" in listing
    assert "max. 12 characters" in listing and "<code>= area * qty</code>" in listing
    edit = c.get("/admin/objects/deal/fields/stage").text  # choices back as lines
    assert "new|新建|New\nwon|赢单|Won\nlost</textarea>" in edit
    rec = client.post("/api/v1/records/deal", json={"title": "A", "code": "A1", "area": "2.5",
                                                     "qty": 4}, headers=api)
    assert rec.status_code == 201 and rec.json["total"] == "10.00"

    assert _create_child(c).status_code == 303  # a child object for a roll-up
    for data in ({"name": "deal", "type": "master_detail", "target": "deal"},
                 {"name": "amount", "type": "currency"}):
        assert _post(c, "/admin/objects/line/fields/new", data).status_code == 303
    rollup_form = c.get(new + "?type=rollup").text
    assert '<option value="line"' in rollup_form
    r = _post(c, new, {"name": "lines_total", "type": "rollup", "function": "sum",
                       "child": "line", "field": "amount", "filter": "amount > 0"})
    assert r.status_code == 303, r.text[:2000]
    rollup = _fields(_api_object(client, api, "deal"))["lines_total"]
    assert (rollup["function"], rollup["child"], rollup["field"], rollup["filter"]) == (
        "sum", "line", "amount", "amount > 0")
    for amount in ("3", "-1"):
        assert client.post("/api/v1/records/line", json={
            "item": "x", "deal": rec.json["id"], "amount": amount}, headers=api).status_code == 201
    got = client.get(f"/api/v1/records/deal/{rec.json['id']}", headers=api).json
    assert got["lines_total"] == "3.00"


def test_rename_and_a_type_change_dry_run_before_it_applies(client: FlaskClient,
                                                             instance: Instance) -> None:
    api = sign_in(client)
    c = browser_session(instance)
    assert _create(c).status_code == 303
    assert _post(c, "/admin/objects/deal/fields/new",
                 {"name": "ref", "type": "text"}).status_code == 303
    ok = client.post("/api/v1/records/deal", json={"title": "a", "ref": "12"}, headers=api).json
    bad = client.post("/api/v1/records/deal", json={"title": "b", "ref": "12x"},
                      headers=api).json

    r = _post(c, "/admin/objects/deal/fields/ref", {"name": "number", "type": "text",
                                                     "label_en": "Number"})
    assert r.status_code == 303 and r.headers["Location"] == "/admin/objects/deal/fields/number"
    assert client.get(f"/api/v1/records/deal/{ok['id']}", headers=api).json["number"] == "12"

    shown = _post(c, "/admin/objects/deal/fields/number", {  # the options of another type
        "name": "number", "type": "picklist", "_refresh": "1"})
    assert shown.status_code == 200 and 'name="choices"' in shown.text
    assert _fields(_api_object(client, api, "deal"))["number"]["type"] == "text"

    change = {"name": "number", "type": "integer", "label_en": "Number"}
    dry = _post(c, "/admin/objects/deal/fields/number", change)
    assert dry.status_code == 200
    assert "Type change: what would happen" in dry.text
    assert "<code>12x</code>" in dry.text and f"#{bad['id']}</a>" in dry.text
    assert f"#{ok['id']}</a>" not in dry.text
    assert _fields(_api_object(client, api, "deal"))["number"]["type"] == "text"  # not yet
    refused = _post(c, "/admin/objects/deal/fields/number", {**change, "confirm_type": "integer"})
    assert refused.status_code == 422 and "would not convert" in refused.text
    assert client.patch(f"/api/v1/records/deal/{bad['id']}",
                        json={"number": "13", "version": bad["version"]},
                        headers=api).status_code == 200
    dry = _post(c, "/admin/objects/deal/fields/number", change)
    assert "Every stored value converts." in dry.text
    assert 'name="confirm_type" value="integer"' in dry.text
    done = _post(c, "/admin/objects/deal/fields/number", {**change, "confirm_type": "integer"})
    assert done.status_code == 303
    assert _fields(_api_object(client, api, "deal"))["number"]["type"] == "integer"
    assert client.get(f"/api/v1/records/deal/{bad['id']}", headers=api).json["number"] == 13


def test_remove_and_restore_fields_and_objects(client: FlaskClient, instance: Instance) -> None:
    api = sign_in(client)
    c = browser_session(instance)
    assert _create(c).status_code == 303
    assert _post(c, "/admin/objects/deal/fields/new",
                 {"name": "note", "type": "textarea"}).status_code == 303
    rec = client.post("/api/v1/records/deal", json={"title": "t", "note": "kept"},
                      headers=api).json
    asked = _post(c, "/admin/objects/deal/fields/note/remove", {})
    assert asked.status_code == 200 and 'name="confirmed" value="1"' in asked.text
    assert "note" in _fields(_api_object(client, api, "deal"))  # nothing before the answer
    r = _post(c, "/admin/objects/deal/fields/note/remove", {"confirmed": "1"})
    assert r.status_code == 303
    assert "note" not in _fields(_api_object(client, api, "deal"))
    home = c.get("/admin/").text
    assert "deal.note" in home
    field_id = re.search(r'/admin/objects/deal/removed-fields/(fld_\w+)/restore', home)
    assert field_id
    assert _post(c, f"/admin/objects/deal/removed-fields/{field_id.group(1)}/restore",
                 {}).status_code == 303
    assert client.get(f"/api/v1/records/deal/{rec['id']}", headers=api).json["note"] == "kept"

    assert _post(c, "/admin/objects/deal/remove", {"confirmed": "1"}).status_code == 303
    assert client.get("/api/v1/meta/objects/deal", headers=api).status_code == 404
    home = c.get("/admin/").text
    object_id = re.search(r'/admin/recycle/objects/(obj_\w+)/restore', home)
    assert object_id and "No objects yet." in home
    r = _post(c, f"/admin/recycle/objects/{object_id.group(1)}/restore", {})
    assert r.status_code == 303 and r.headers["Location"] == "/admin/objects/deal"
    assert client.get(f"/api/v1/records/deal/{rec['id']}", headers=api).json["note"] == "kept"
    assert "The metadata recycle bin is empty." in c.get("/admin/").text


def test_formula_live_check_and_preview(client: FlaskClient, instance: Instance) -> None:
    api = sign_in(client)
    c = browser_session(instance)
    assert _create(c).status_code == 303
    for data in ({"name": "qty", "type": "integer"}, {"name": "price", "type": "decimal"}):
        assert _post(c, "/admin/objects/deal/fields/new", data).status_code == 303
    rec = client.post("/api/v1/records/deal", json={"title": "x", "qty": 3, "price": "2.5"},
                      headers=api).json
    check = "/admin/objects/deal/_check?input=expression"
    r = _post(c, check, {"expression": "qty *\n  (price + title)", "result_type": "decimal"})
    assert r.status_code == 200
    problem = re.search(r"<li>Line (\d+), column (\d+): ([^<]+)</li>", r.text)
    assert problem and problem.group(1) == "2", r.text
    assert "does not apply" in problem.group(3)
    r = _post(c, check, {"expression": "qty * nope", "result_type": "decimal"})
    assert "Line 1, column 7" in r.text and "nope" in r.text
    r = _post(c, check, {"expression": "qty * price", "result_type": "text"})
    assert "Line 1, column 1" in r.text  # a number where text is expected
    r = _post(c, check, {"expression": "qty * price", "result_type": "decimal"})
    assert "The expression is valid; it gives: number" in r.text
    cond = _post(c, "/admin/objects/deal/_check?input=visible_if", {"visible_if": "qty"})
    assert "boolean" in cond.text and "Line 1, column 1" in cond.text

    preview = "/admin/objects/deal/_preview?input=expression"
    r = _post(c, preview, {"expression": "qty * price", "result_type": "decimal",
                           "preview_record": str(rec["id"])})
    assert f"Value on record #{rec['id']}:" in r.text and "<code>7.5" in r.text
    r = _post(c, preview, {"expression": "qty *", "result_type": "decimal",
                           "preview_record": str(rec["id"])})
    assert 'class="field-error"' in r.text and "Line 1, column" in r.text
    r = _post(c, preview, {"expression": "qty", "preview_record": "999"})
    assert 'class="field-error"' in r.text
    zh = c.post(check + "&lang=zh", data={"csrf_token": csrf_token(c.get("/admin/").text),
                                          "expression": "qty +", "result_type": "decimal"})
    assert "第 1 行" in zh.text


def test_a_validation_rule_is_enforced_by_the_record_api(client: FlaskClient,
                                                         instance: Instance) -> None:
    api = sign_in(client)
    c = browser_session(instance)
    assert _create(c).status_code == 303
    assert _post(c, "/admin/objects/deal/fields/new",
                 {"name": "qty", "type": "integer"}).status_code == 303
    rule = {"name": "positive", "field": "qty", "message_zh": "数量必须为正",
            "message_en": "Quantity must be positive <b>"}
    bad = _post(c, "/admin/objects/deal/rules", {**rule, "condition": "qty >"})
    assert bad.status_code == 422 and _error_beside(bad.text, "condition")
    assert 'value="positive"' in bad.text
    r = _post(c, "/admin/objects/deal/rules", {**rule, "condition": "is_blank(qty) or qty > 0"})
    assert r.status_code == 303
    page = c.get("/admin/objects/deal").text
    assert "Quantity must be positive &lt;b&gt;" in page
    refused = client.post("/api/v1/records/deal", json={"title": "t", "qty": -1}, headers=api)
    assert refused.status_code == 422
    assert refused.json["error"]["fields"]["qty"] == ["Quantity must be positive <b>"]
    assert client.post("/api/v1/records/deal", json={"title": "t", "qty": 2},
                       headers=api).status_code == 201
    form = c.get("/admin/objects/deal?rule=positive").text  # the rule in the form, to change
    assert 'name="original" value="positive"' in form and "数量必须为正" in form
    r = _post(c, "/admin/objects/deal/rules", {**rule, "original": "positive",
                                               "condition": "is_blank(qty) or qty > 5"})
    assert r.status_code == 303
    doc = _api_object(client, api, "deal")
    assert [x["condition"] for x in doc["validation_rules"]] == ["is_blank(qty) or qty > 5"]
    assert client.post("/api/v1/records/deal", json={"title": "t", "qty": 2},
                       headers=api).status_code == 422
    assert _post(c, "/admin/objects/deal/rules/positive/remove",
                 {"confirmed": "1"}).status_code == 303
    assert client.post("/api/v1/records/deal", json={"title": "t", "qty": -1},
                       headers=api).status_code == 201


def test_history_diff_and_rollback(client: FlaskClient, instance: Instance) -> None:
    api = sign_in(client)
    c = browser_session(instance)
    assert _create(c).status_code == 303
    assert _post(c, "/admin/objects/deal/fields/new",
                 {"name": "extra", "type": "text"}).status_code == 303
    history = c.get("/admin/history").text
    assert "create object deal" in history and "add field deal.extra" in history
    assert "<td>admin</td>" in history
    version = c.get("/admin/history/2").text
    assert "added the field" in version and "extra" in version
    assert c.get("/admin/history/99").status_code == 404
    confirm = c.get("/admin/history/1/rollback")
    assert confirm.status_code == 200 and "Yes, roll back" in confirm.text
    r = c.post("/admin/history/1/rollback", data={"csrf_token": csrf_token(confirm.text)})
    assert r.status_code == 303 and r.headers["Location"] == "/admin/history"
    assert "extra" not in _fields(_api_object(client, api, "deal"))
    history = c.get("/admin/history").text
    assert "roll back to version 1" in history and "Rolled back" in history
    assert "deal.extra" in c.get("/admin/").text  # the field waits in the recycle bin
    assert "moved the field to the recycle bin" in c.get("/admin/history/3").text


def test_the_designer_speaks_chinese(client: FlaskClient, instance: Instance) -> None:
    c = browser_session(instance)
    assert _create(c).status_code == 303
    home = c.get("/admin/?lang=zh").text
    assert "设计器" in home and "元数据回收站" in home and "创建对象" in home
    assert "商机" in home  # the object's Chinese label
    field = c.get("/admin/objects/deal/fields/new?type=formula").text
    assert "公式表达式" in field and "结果类型" in field
