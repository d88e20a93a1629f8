"""Every delete reachable from a page asks first (in the page's language) and changes
nothing until confirmed: a record (its own question page), the list's mass delete, and the
designer's app delete and field, object, rule and index removals."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token

THING: dict[str, Any] = {
    "name": "thing", "label": {"zh": "物品", "en": "Thing"},
    "fields": [{"name": "title", "type": "text", "label": {"zh": "名称", "en": "Title"}},
               {"name": "note", "type": "text", "label": {"zh": "备注", "en": "Note"}}],
    "validation_rules": [{"name": "titled", "condition": "not is_blank(title)",
                          "field": "title", "message": {"zh": "请填写", "en": "Fill in"}}],
    "indexes": [["title", "note"]],
}


def _confirm_form(text: str) -> tuple[str, dict[str, list[str]]]:
    """The confirmation page's form: its action and its fields (hidden ones included)."""
    form = re.search(r'<form method="post"[^>]*action="([^"]+)"[^>]*'
                     r'aria-labelledby="confirm-question">(.*?)</form>', text, re.S)
    assert form is not None, text[:500]
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                  form.group(2)):
        fields.setdefault(name, []).append(value)
    return form.group(1).replace("&amp;", "&"), fields


def test_a_mass_delete_asks_then_deletes(client: FlaskClient, admin: dict[str, str],
                                         instance: Instance) -> None:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    ids = [client.post("/api/v1/records/thing", json={"title": t}, headers=admin).json["id"]
           for t in ("Lamp", "Desk <b>", "Chair")]
    c = browser_session(instance)
    for lang, question, yes in (
            ("en", "Delete the selected records (2)?", "Yes, move them to the recycle bin"),
            ("zh", "删除所选的记录（2 条）？", "是，移入回收站")):
        token = csrf_token(c.get(f"/records/thing?lang={lang}").text)
        asked = c.post("/records/thing/_mass?sort=-title", data={
            "csrf_token": token, "action": "delete", "id": [str(ids[0]), str(ids[1])]})
        assert asked.status_code == 200
        assert question in asked.text and yes in asked.text
        assert "Lamp" in asked.text and "Desk &lt;b&gt;" in asked.text  # named, escaped
        assert 'href="/records/thing?sort=-title"' in asked.text  # Cancel: back to the list
        listed = client.get("/api/v1/records/thing", headers=admin).json["items"]
        assert len(listed) == 3  # nothing deleted yet
    action, fields = _confirm_form(asked.text)
    assert action == "/records/thing/_mass?sort=-title"
    assert fields["id"] == [str(ids[0]), str(ids[1])] and fields["confirmed"] == ["1"]
    done = c.post(action, data={"csrf_token": csrf_token(asked.text), **fields})
    assert done.status_code == 303
    left = client.get("/api/v1/records/thing", headers=admin).json["items"]
    assert [r["title"] for r in left] == ["Chair"]
    bin_page = c.get("/recycle-bin?lang=zh").text  # deleted at: in the zone, the locale's form
    assert re.search(r"<td>\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}</td>", bin_page)


def test_a_record_delete_asks_on_a_page_of_its_own(client: FlaskClient, admin: dict[str, str],
                                                   instance: Instance) -> None:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    rid = client.post("/api/v1/records/thing", json={"title": "Lamp"}, headers=admin).json["id"]
    c = browser_session(instance)
    record = c.get(f"/records/thing/{rid}?lang=zh").text
    assert f'href="/records/thing/{rid}/delete"' in record  # a link to the question, no POST
    asked = c.get(f"/records/thing/{rid}/delete?lang=zh").text
    assert "<h1>删除Lamp？</h1>" in asked and "是，移入回收站" not in record
    assert client.get(f"/api/v1/records/thing/{rid}", headers=admin).status_code == 200


def test_designer_deletes_ask_first(client: FlaskClient, admin: dict[str, str],
                                    instance: Instance) -> None:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    app = {"name": "home_goods", "label": {"zh": "家居", "en": "Home goods"},
           "objects": ["thing"]}
    assert client.post("/api/v1/meta/apps", json=app, headers=admin).status_code == 201
    c = browser_session(instance)
    cases = [
        ("/admin/apps/home_goods/delete", {}, "Delete the app Home goods?", "删除应用 家居？"),
        ("/admin/objects/thing/fields/note/remove", {},
         "Remove the field Note of Thing?", "移除 物品 的字段 备注？"),
        ("/admin/objects/thing/rules/titled/remove", {},
         "Remove the validation rule titled?", "移除校验规则 titled？"),
        ("/admin/objects/thing/indexes/remove", {"fields": "title,note"},
         "Remove the index on title,note?", "移除 title,note 上的索引？"),
        ("/admin/objects/thing/remove", {}, "Remove the object Thing?", "移除对象 物品？"),
    ]
    for path, data, en, zh in cases:
        for lang, question in (("en", en), ("zh", zh)):
            token = csrf_token(c.get("/admin/").text)
            asked = c.post(f"{path}?lang={lang}", data={"csrf_token": token, **data})
            assert asked.status_code == 200, (path, asked.text[:300])
            assert f'<h1 id="confirm-question">{question}</h1>' in asked.text
        doc = client.get("/api/v1/meta/objects/thing", headers=admin).json
        assert doc["indexes"] and doc["validation_rules"]  # nothing changed by asking
        assert {f["name"] for f in doc["fields"]} >= {"title", "note"}
        assert client.get("/api/v1/meta/apps/home_goods", headers=admin).status_code == 200
    # the confirmed request does it
    for path, data, _, _ in cases:
        token = csrf_token(c.get("/admin/").text)
        r = c.post(path, data={"csrf_token": token, "confirmed": "1", **data})
        assert r.status_code == 303, (path, r.text[:300])
    assert client.get("/api/v1/meta/apps/home_goods", headers=admin).status_code == 404
    assert client.get("/api/v1/meta/objects/thing", headers=admin).status_code == 404
    # an unknown app or field is a 404 at once, not a question
    token = csrf_token(c.get("/admin/").text)
    assert c.post("/admin/apps/nope/delete", data={"csrf_token": token}).status_code == 404
