"""The metadata designer's refusals in the reader's language: beside the field form's
inputs on the pages (``?lang=zh``) and in the ``fields`` of the API's 422 answer
(``Accept-Language: zh``); English, asked or not, reads exactly what the services write."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, error_of, sign_in

CJK = re.compile(r"[\u4e00-\u9fff]")

#: An object document the designer refuses in several places: a reserved name, a text
#: field's pattern RE2 cannot run, an option out of range, a computed field made unique.
BAD = {"name": "gadget", "fields": [
    {"name": "select", "type": "text"},
    {"name": "code", "type": "text", "pattern": "(?=a)b", "max_length": 5000},
    {"name": "total", "type": "formula", "expression": "1", "result_type": "integer",
     "unique": True},
]}
ENGLISH = {
    "$.fields[0].name": ["field name 'select' is a reserved SQL word"],
    "$.fields[1].max_length": ["must be a whole number from 1 to 4000"],
    "$.fields[1].pattern": ["look-ahead (?=...) is not supported (patterns use RE2 syntax, "
                            "which never backtracks)"],
    "$.fields[2].unique": ["a formula field cannot be unique"],
}
CHINESE = {
    "$.fields[0].name": ["字段名 'select' 是 SQL 保留字"],
    "$.fields[1].max_length": ["必须是 1 到 4000 之间的整数"],
    "$.fields[1].pattern": ["不支持向前查找 (?=...)（模式使用 RE2 语法，不会回溯）"],
    "$.fields[2].unique": ["formula 字段不能设为唯一"],
}


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return m.group(1)


def _unescaped(html: str) -> str:
    return html.replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">") \
        .replace("&amp;", "&").replace("&#34;", '"')


def test_the_api_answers_the_designers_refusals_in_chinese(client: FlaskClient) -> None:
    admin = sign_in(client)
    answers: dict[str, Any] = {}
    for lang in ("", "en", "zh-CN,zh;q=0.9"):
        headers = {**admin, **({"Accept-Language": lang} if lang else {})}
        answers[lang] = client.post("/api/v1/meta/objects", json=BAD, headers=headers)
        assert answers[lang].status_code == 422, answers[lang].json
    english = error_of(answers[""])
    assert {k: english["fields"][k] for k in ENGLISH} == ENGLISH
    assert answers["en"].data == answers[""].data  # English: the bytes it always was
    chinese = error_of(answers["zh-CN,zh;q=0.9"])
    assert {k: chinese["fields"][k] for k in CHINESE} == CHINESE
    assert set(chinese["fields"]) == set(english["fields"])  # the keys never change
    for path, messages in chinese["fields"].items():
        assert all(CJK.search(m) for m in messages), (path, messages)
    assert CJK.search(chinese["message"]), chinese["message"]


def test_a_refused_field_form_shows_chinese_beside_its_inputs(client: FlaskClient,
                                                               instance: Instance) -> None:
    sign_in(client)
    c = browser_session(instance)
    token = csrf_token(c.get("/admin/").text)
    made = c.post("/admin/objects", data={"csrf_token": token, "name": "deal",
                                          "label_en": "Deal", "first_field": "title"})
    assert made.status_code == 303
    new = "/admin/objects/deal/fields/new"
    # (the form does not edit a text field's pattern: the API test covers that refusal)
    form = {"csrf_token": token, "name": "select", "type": "text", "max_length": "5000"}
    zh = c.post(new + "?lang=zh", data=form)
    assert zh.status_code == 422
    assert _unescaped(_error_beside(zh.text, "name")) == "字段名 'select' 是 SQL 保留字"
    assert _error_beside(zh.text, "max_length") == "必须是 1 到 4000 之间的整数"
    en = c.post(new + "?lang=en", data=form)
    assert en.status_code == 422
    assert _unescaped(_error_beside(en.text, "name")) == \
        "field name 'select' is a reserved SQL word"
    assert _error_beside(en.text, "max_length") == "must be a whole number from 1 to 4000"
