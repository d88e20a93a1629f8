"""The API's error envelope in the request's language: ``?lang=zh`` or ``Accept-Language:
zh`` gives every message and field message in Chinese, for every error class; a client that
asks for nothing, or for English, reads exactly what it always did."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web.app import create_app

from .conftest import error_of, sign_in

CJK = re.compile(r"[\u4e00-\u9fff]")
THING = {"name": "thing", "fields": [
    {"name": "title", "type": "text", "required": True, "max_length": 5},
    {"name": "amount", "type": "decimal", "scale": 2, "min": 0},
]}


def _chinese(text: str) -> bool:
    return bool(CJK.search(text))


def _refusals(client: FlaskClient, admin: dict[str, str], zh: dict[str, str],
              lang: str) -> dict[int, Any]:
    """One refusal of each class the API answers, asked in ``lang``."""
    q = f"?lang={lang}" if lang else ""
    headers = {**admin, **zh}
    created = client.post("/api/v1/records/thing", json={"title": "ok"}, headers=admin).json
    out = {
        400: client.post(f"/api/v1/records/thing{q}", data="{", headers={
            **headers, "Content-Type": "application/json"}),
        401: client.get(f"/api/v1/records/thing{q}", headers=zh),
        404: client.get(f"/api/v1/records/nothing{q}", headers=headers),
        409: client.patch(f"/api/v1/records/thing/{created['id']}{q}", json={"title": "b"},
                          headers={**headers, "If-Match": str(created["version"] + 5)}),
        422: client.post(f"/api/v1/records/thing{q}", json={"title": "far too long",
                                                             "amount": "-1"}, headers=headers),
        405: client.put(f"/api/v1/records/thing{q}", headers=headers),
    }
    return out


def test_every_error_class_answers_in_chinese_when_asked(client: FlaskClient,
                                                        admin: dict[str, str]) -> None:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    for how in ({"Accept-Language": "zh-CN,zh;q=0.9"}, {}):
        answers = _refusals(client, admin, how, "" if how else "zh")
        for status, r in answers.items():
            assert r.status_code == status, (status, r.json)
            error = error_of(r)
            assert _chinese(error["message"]), (status, error)
            for field, messages in error["fields"].items():
                assert all(_chinese(m) for m in messages), (status, field, messages)
        fields = error_of(answers[422])["fields"]
        assert fields["title"] == ["超过 5 个字符"] or _chinese(fields["title"][0])
        assert fields["amount"] == ["不能小于 0"]
        assert error_of(answers[404])["message"] == "没有名为“nothing”的对象"


def test_a_client_that_asks_for_nothing_reads_english_as_before(
        client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    for lang in ("", "en"):
        answers = _refusals(client, admin, {"Accept-Language": "en"} if lang else {}, lang)
        assert error_of(answers[404])["message"] == "no object named 'nothing'"
        assert error_of(answers[422])["fields"] == {
            "title": ["is longer than 5 characters"], "amount": ["must be at least 0"]}
        assert error_of(answers[409])["message"].startswith("the record changed since version")
        for r in answers.values():
            assert not _chinese(r.json["error"]["message"])


def test_forbidden_and_rate_limited_answer_in_chinese(client: FlaskClient,
                                                      admin: dict[str, str]) -> None:
    r = client.post("/api/v1/admin/users", json={
        "username": "ann", "password": "correct-horse-9", "roles": []}, headers=admin)
    assert r.status_code == 201, r.json
    ann = sign_in(client, username="ann", password="correct-horse-9")
    r = client.get("/api/v1/admin/users?lang=zh", headers=ann)
    assert r.status_code == 403 and _chinese(error_of(r)["message"]), r.json
    for _ in range(30):
        r = client.post("/api/v1/auth/token?lang=zh", json={"username": "nobody",
                                                            "password": "wrong"})
        if r.status_code == 429:
            break
        assert r.status_code == 401 and error_of(r)["message"] == "用户名或密码错误"
    assert r.status_code == 429, r.json
    assert re.fullmatch(r"登录尝试次数过多，请 \d+ 秒后再试", error_of(r)["message"])


def test_a_body_over_the_limit_answers_in_chinese(instance: Instance) -> None:
    client = create_app(instance, {"TESTING": True, "MAX_CONTENT_LENGTH": 1000}).test_client()
    admin = sign_in(client)
    body = {"title": "x" * 2000}
    r = client.post("/api/v1/records/thing?lang=zh", json=body, headers=admin)
    assert r.status_code == 413
    assert error_of(r)["message"] == "请求内容超过上限 1000 字节"
    r = client.post("/api/v1/records/thing", json=body, headers=admin)
    assert error_of(r)["message"] == "the request body is larger than the limit of 1000 bytes"


def test_lang_on_a_record_list_is_the_language_unless_a_field_has_that_name(
        client: FlaskClient, admin: dict[str, str]) -> None:
    """``?lang=zh`` on a list of an object without a ``lang`` field asks for Chinese, as
    on every other endpoint, and filters nothing; on an object with such a field it is a
    filter, as before."""
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    for title in ("a", "b"):
        client.post("/api/v1/records/thing", json={"title": title}, headers=admin)
    listed = client.get("/api/v1/records/thing?lang=zh&sort=title", headers=admin)
    assert listed.status_code == 200, listed.json
    assert [i["title"] for i in listed.json["items"]] == ["a", "b"]
    refused = client.get("/api/v1/records/thing?lang=zh&amount__gte=x", headers=admin)
    assert refused.status_code == 400 and _chinese(error_of(refused)["message"])
    # Any other use of "lang" is still a filter on a field the object does not have.
    for query in ("lang=fr", "lang__contains=z"):
        assert client.get(f"/api/v1/records/thing?{query}",
                          headers=admin).status_code == 400, query
    spoken = {"name": "spoken", "fields": [{"name": "lang", "type": "text"}]}
    assert client.post("/api/v1/meta/objects", json=spoken, headers=admin).status_code == 201
    for lang in ("zh", "en"):
        client.post("/api/v1/records/spoken", json={"lang": lang}, headers=admin)
    only = client.get("/api/v1/records/spoken?lang=zh", headers=admin).json["items"]
    assert [i["lang"] for i in only] == ["zh"]
