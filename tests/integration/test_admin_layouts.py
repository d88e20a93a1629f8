"""The layout designer (``/admin/objects/<name>/layout``) through a browser session: the page
in both languages, saving the document its script posts (for everyone and per role), the
Designer's refusals shown with nothing saved, a stale page refused, removing a role's own
layout, the preview as a role (its layout, its hidden and read-only fields), admins only,
and metadata text shown as text."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.metadata.layouts import layout_for
from crmforge.runtime import Designer, Instance
from crmforge.web import create_app

from .conftest import BOOTH, EXHIBITOR, browser_session, csrf_token, sign_in

PAGE = "/admin/objects/booth/layout"

LAYOUT: dict[str, Any] = {
    "form": {"sections": [
        {"label": {"zh": "基本", "en": "Basics"}, "columns": 2, "fields": ["number", "status"]},
        {"label": {"en": "Money"}, "columns": 1, "fields": ["area", "price", "total"]}]},
    "list": {"columns": ["number", "total", "created_at"], "sort": "-area"},
}
SALES_FORM: dict[str, Any] = {"sections": [
    {"label": {"zh": "销售", "en": "Sales view"}, "columns": 1,
     "fields": ["status", "number", "price", "area"]}]}


def _setup(client: FlaskClient, *, roles: bool = True) -> dict[str, str]:
    """Booth and exhibitor; a ``sales`` role that may create booths but not see the price
    and only read the area; a ``viewer`` role with no access to booths."""
    api = sign_in(client)
    for doc in (EXHIBITOR, BOOTH):
        assert client.post("/api/v1/meta/objects", json=doc, headers=api).status_code == 201
    if roles:
        for role in (
            {"name": "sales", "label": {"zh": "销售", "en": "Sales"}, "permissions": {"booth": {
                "operations": ["create", "read", "update"], "scope": "own",
                "fields": {"price": "hidden", "area": "read"}}}},
            {"name": "viewer", "label": {"en": "Viewer"}, "permissions": {}},
        ):
            r = client.post("/api/v1/admin/roles", json=role, headers=api)
            assert r.status_code == 201, r.json
    return api


def _save(c: FlaskClient, doc: Any, path: str = PAGE, **extra: str) -> Any:
    page = c.get(path + (f"?role={extra['role']}" if extra.get("role") else ""))
    assert page.status_code == 200, page.text
    raw = doc if isinstance(doc, str) else json.dumps(doc)
    return c.post(path, data={"csrf_token": csrf_token(page.text), "layout": raw, **extra})


def _data(text: str) -> dict[str, Any]:
    """What the page hands its script."""
    m = re.search(r'<script type="application/json" id="ld-data">(.*?)</script>', text, re.S)
    assert m
    return dict(json.loads(m.group(1)))


def _stored(instance: Instance) -> dict[str, Any]:
    d = Designer(instance.tenant("default"))
    return dict(d.layout(d.snapshot(), "booth"))


def test_the_page_renders_in_both_languages(client: FlaskClient, instance: Instance) -> None:
    _setup(client)
    c = browser_session(instance)
    obj_page = c.get("/admin/objects/booth").text
    assert f'href="{PAGE}"' in obj_page  # the object page links the layout designer
    en = c.get(PAGE + "?lang=en")
    assert en.status_code == 200
    assert "<h1>Layout of Booth</h1>" in en.text
    assert "Fields not on the form" in en.text and "Save layout" in en.text
    assert "/assets/sortable.js" in en.text and "layout-designer.js" in en.text
    data = _data(en.text)
    assert data["role"] is None
    assert [f["name"] for f in data["fields"]] == [f["name"] for f in BOOTH["fields"]]
    assert data["doc"]["form"]["sections"][0]["fields"] == [f["name"] for f in BOOTH["fields"]]
    assert "created_at" in {s["name"] for s in data["system"]}
    # The roles to choose from, each saying whether it has a layout of its own.
    assert re.search(r'<option value="sales"\s*>Layout for role Sales · uses the default</option>',
                     en.text)
    zh = c.get(PAGE + "?lang=zh")
    assert zh.status_code == 200
    assert "<h1>展位的布局</h1>" in zh.text
    assert "保存布局" in zh.text and "不在表单上的字段" in zh.text
    text = json.loads(re.search(r'id="ld-text">(.*?)</script>', zh.text, re.S).group(1))
    assert text["up"] == "上移 %(label)s"  # the script's messages, translated
    assert text["types"]["currency"] == "金额"
    assert c.get("/admin/objects/nothing/layout").status_code == 404
    assert c.get(PAGE + "?role=nobody").status_code == 404


def test_a_posted_layout_is_saved_and_the_designer_returns_it(client: FlaskClient,
                                                              instance: Instance) -> None:
    api = _setup(client)
    c = browser_session(instance)
    before = _stored(instance)
    assert before["generated"] is True
    r = _save(c, LAYOUT)
    assert r.status_code == 303 and r.headers["Location"] == PAGE
    stored = _stored(instance)
    assert stored["generated"] is False
    assert stored["form"] == LAYOUT["form"] and stored["list"] == LAYOUT["list"]
    assert stored["version"] == before["version"] + 1
    assert client.get("/api/v1/meta/objects/booth/layout", headers=api).json["form"] == LAYOUT["form"]
    page = c.get(PAGE)
    assert "Layout saved." in page.text
    assert _data(page.text)["doc"]["form"] == LAYOUT["form"]


def test_a_role_layout_is_saved_under_roles_and_can_be_removed(client: FlaskClient,
                                                               instance: Instance) -> None:
    _setup(client)
    c = browser_session(instance)
    assert _save(c, LAYOUT).status_code == 303
    per_role = {**LAYOUT, "roles": {"sales": {"form": SALES_FORM}}}
    r = _save(c, per_role, role="sales")
    assert r.status_code == 303 and r.headers["Location"] == PAGE + "?role=sales"
    stored = _stored(instance)
    assert stored["roles"] == {"sales": {"form": SALES_FORM}}
    assert stored["form"] == LAYOUT["form"]  # the default stays as it was
    d = Designer(instance.tenant("default"))
    snap = d.snapshot()
    obj = snap.object("booth")
    assert obj is not None
    assert layout_for(snap, obj, {"sales"}).form_fields == ("status", "number", "price", "area")
    assert layout_for(snap, obj, {"sales"}).columns == tuple(LAYOUT["list"]["columns"])

    page = c.get(PAGE + "?role=sales&lang=en")
    assert page.status_code == 200
    data = _data(page.text)
    assert data["role"] == "sales" and data["doc"]["roles"]["sales"]["form"] == SALES_FORM
    assert "Remove the layout of this role (use the default)" in page.text
    assert re.search(r'<option value="sales"\s*selected>Layout for role Sales · own layout</option>',
                     page.text)

    asked = c.post(PAGE, data={"csrf_token": csrf_token(page.text), "remove_role": "sales",
                               "role": "sales"})
    assert asked.status_code == 200 and 'name="confirmed" value="1"' in asked.text
    assert "roles" in _stored(instance)  # nothing removed before the answer
    r = c.post(PAGE, data={"csrf_token": csrf_token(page.text), "remove_role": "sales",
                           "role": "sales", "confirmed": "1"})
    assert r.status_code == 303
    stored = _stored(instance)
    assert "roles" not in stored and stored["form"] == LAYOUT["form"]
    snap = d.snapshot()
    obj = snap.object("booth")
    assert obj is not None
    assert layout_for(snap, obj, {"sales"}).form_fields == ("number", "status", "area", "price",
                                                            "total")
    assert "The role now gets the default layout." in c.get(PAGE + "?role=sales").text
    r = c.post(PAGE, data={"csrf_token": csrf_token(page.text), "remove_role": "nobody"})
    assert r.status_code == 404


def test_a_refused_layout_is_shown_with_the_messages_and_nothing_is_saved(
        client: FlaskClient, instance: Instance) -> None:
    _setup(client)
    c = browser_session(instance)
    before = _stored(instance)
    bad = {"form": {"sections": [{"label": {"en": "Main"}, "columns": 2,
                                  "fields": ["number", "ghost", "number"]}]},
           "list": {"columns": ["number", "nowhere"]}}
    r = _save(c, bad)
    assert r.status_code == 422
    assert "$.form.sections[0].fields[1]: &#39;booth&#39; has no field &#39;ghost&#39;" in r.text
    assert "$.form.sections[0].fields[2]: &#39;number&#39; is already on the form" in r.text
    assert "$.list.columns[1]" in r.text
    assert 'role="alert"' in r.text
    assert _data(r.text)["doc"]["form"] == bad["form"]  # the posted arrangement stays
    assert _stored(instance) == before  # nothing saved, no new version

    r = _save(c, {"form": {"sections": [{"columns": 9, "fields": []}]}})
    assert r.status_code == 422 and "$.form.sections[0].columns" in r.text
    for raw in ("{not json", "[" * 100_000):
        r = _save(c, raw)
        assert r.status_code == 422 and "The layout could not be read" in r.text
    r = _save(c, {"roles": {"nobody": {"list": {"columns": ["number"]}}}})
    assert r.status_code == 422 and "no role named &#39;nobody&#39;" in r.text
    assert _stored(instance) == before


def test_saving_over_a_newer_layout_is_refused(client: FlaskClient, instance: Instance) -> None:
    api = _setup(client)
    c = browser_session(instance)
    page = c.get(PAGE).text
    base = re.search(r'name="base" value="([0-9a-f]+)"', page)
    assert base
    theirs = {"list": {"columns": ["number", "status"]}}
    assert client.put("/api/v1/meta/objects/booth/layout", json=theirs, headers=api).status_code == 200
    r = c.post(PAGE, data={"csrf_token": csrf_token(page), "base": base.group(1),
                           "layout": json.dumps(LAYOUT)})
    assert r.status_code == 409
    assert "Someone else changed this layout" in r.text
    assert _stored(instance)["list"]["columns"] == ["number", "status"]
    # The page now stands on their version: saving again replaces it knowingly.
    again = re.search(r'name="base" value="([0-9a-f]+)"', r.text)
    assert again and again.group(1) != base.group(1)
    r = c.post(PAGE, data={"csrf_token": csrf_token(r.text), "base": again.group(1),
                           "layout": json.dumps(LAYOUT)})
    assert r.status_code == 303
    assert _stored(instance)["list"] == LAYOUT["list"]


def test_preview_as_a_role_shows_its_layout_without_its_hidden_fields(
        client: FlaskClient, instance: Instance) -> None:
    _setup(client)
    c = browser_session(instance)
    assert _save(c, {**LAYOUT, "roles": {"sales": {"form": SALES_FORM}}}).status_code == 303
    r = c.get(PAGE + "/preview?role=sales&lang=en")
    assert r.status_code == 200
    text = r.text
    assert "Record form: the layout of this role." in text
    assert "<legend>Sales view</legend>" in text and "<legend>Basics</legend>" not in text
    order = re.findall(r'data-field="(\w+)"', text)
    assert order == ["status", "number", "area"]  # the role's order; price is hidden
    assert 'id="fld-price"' not in text and 'name="price"' not in text
    # total = area * price: derived from the hidden price, hidden with it
    assert re.search(r'<dd id="pv-hidden">Price, Total</dd>', text)
    assert re.search(r'<dd id="pv-off-form">Exhibitor</dd>', text)
    # Editable fields are inputs (disabled: nothing can be sent), read-only ones values.
    assert re.search(r'<input[^>]*disabled[^>]*id="number"|<input[^>]*id="number"[^>]*disabled', text)
    area = re.search(r'<div class="fld" id="fld-area".*?</div>', text, re.S)
    assert area and "read-only" in area.group(0) and "<input" not in area.group(0)
    assert "<form method=\"post\"" not in text.split('class="preview-form"')[1]
    assert "type=\"submit\"" not in text.split('class="preview-form"')[1]

    # The default layout for a role without one; the admin's own view is not used.
    r = c.get(PAGE + "/preview?role=viewer&lang=en")
    assert r.status_code == 200
    assert "Record form: the default layout." in r.text
    assert "may neither read nor create these records" in r.text
    assert 'id="fld-number"' not in r.text
    zh = c.get(PAGE + "/preview?role=sales&lang=zh")
    assert zh.status_code == 200 and "<legend>销售</legend>" in zh.text
    assert c.get(PAGE + "/preview?role=nobody").status_code == 404
    assert c.get(PAGE + "/preview").status_code == 200  # only the role chooser


def test_only_administrators_use_the_layout_designer(client: FlaskClient,
                                                     instance: Instance) -> None:
    api = _setup(client)
    assert client.post("/api/v1/admin/users", json={
        "username": "sam", "password": "Sam-pass-1234", "roles": ["sales"]},
        headers=api).status_code == 201
    sam = browser_session(instance, "sam", "Sam-pass-1234")
    token = csrf_token(sam.get("/").text)
    assert sam.get(PAGE).status_code == 403
    assert sam.get(PAGE + "/preview?role=sales").status_code == 403
    r = sam.post(PAGE, data={"csrf_token": token, "layout": json.dumps(LAYOUT)})
    assert r.status_code == 403
    r = sam.post(PAGE, data={"csrf_token": token, "remove_role": "sales"})
    assert r.status_code == 403
    assert _stored(instance)["generated"] is True
    anonymous = create_app(instance, {"TESTING": True}).test_client()
    r = anonymous.get(PAGE)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_labels_holding_markup_are_shown_as_text(client: FlaskClient, instance: Instance) -> None:
    api = _setup(client)
    evil = "<script>alert(1)</script>"
    r = client.patch("/api/v1/meta/objects/booth/fields/number", json={"label": {"en": evil}},
                     headers=api)
    assert r.status_code == 200, r.json
    c = browser_session(instance)
    doc = {"form": {"sections": [{"label": {"en": evil, "zh": evil}, "columns": 1,
                                  "fields": ["number", "status"]}]}}
    assert _save(c, doc).status_code == 303
    assert _stored(instance)["form"]["sections"][0]["label"]["en"] == evil
    page = c.get(PAGE + "?lang=en").text
    assert evil not in page
    assert _data(page)["doc"]["form"]["sections"][0]["label"]["en"] == evil  # JSON, escaped
    value = re.search(r'name="layout" id="ld-layout" value="([^"]*)"', page)
    assert value and json.loads(html.unescape(value.group(1)))["form"] == doc["form"]
    preview = c.get("/admin/objects/booth/layout/preview?role=sales&lang=en").text
    assert evil not in preview and "&lt;script&gt;alert(1)&lt;/script&gt;" in preview
