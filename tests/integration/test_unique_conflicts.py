"""A unique-value conflict answers the same 422 whoever holds the value (decision 0015): a
record the writer can see, one they cannot, a deleted one, found by the check or by the
unique index in a race. It never names or hints at the other record, and a unique field
hidden from the writer is not named either."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import writes

from .conftest import error_of, sign_in

PASSWORD = "Rep-pass-12345"
ACCOUNT: dict[str, Any] = {
    "name": "account", "fields": [
        {"name": "code", "type": "text", "unique": True},
        {"name": "tax_id", "type": "text", "unique": True, "default": "note"},
        {"name": "note", "type": "text"},
    ],
}


@pytest.fixture
def heads(client: FlaskClient, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    assert client.post("/api/v1/meta/objects", json=ACCOUNT, headers=admin).status_code == 201
    role = {"name": "rep", "permissions": {"account": {
        "operations": ["read", "create", "update", "delete"], "scope": "own",
        "fields": {"tax_id": "hidden"}}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": "rep", "password": PASSWORD, "roles": ["rep"]})
    assert r.status_code == 201, r.json
    return {"admin": admin, "rep": sign_in(client, username="rep", password=PASSWORD)}


def _create(client: FlaskClient, who: dict[str, str], **values: Any) -> Any:
    return client.post("/api/v1/records/account", headers=who, json=values)


def _answer(r: Any) -> tuple[int, dict[str, Any]]:
    return r.status_code, error_of(r)


def test_the_answer_is_the_same_whoever_holds_the_value(client, heads) -> None:
    admin, rep = heads["admin"], heads["rep"]
    assert _create(client, admin, code="THEIRS").status_code == 201  # rep cannot see it
    assert _create(client, rep, code="MINE").status_code == 201
    gone = _create(client, rep, code="GONE").json
    assert client.delete(f"/api/v1/records/account/{gone['id']}", headers=rep).status_code == 204
    answers = [_answer(_create(client, rep, code=code)) for code in ("THEIRS", "MINE", "GONE")]
    expected = (422, {"code": "validation_failed",
                      "message": "code: must be unique; another record has this value",
                      "fields": {"code": ["must be unique; another record has this value"]}})
    assert answers == [expected] * 3
    # An update meets the same answer.
    mine = client.get("/api/v1/records/account?code=MINE", headers=rep).json["items"][0]
    for code in ("THEIRS", "GONE"):
        r = client.patch(f"/api/v1/records/account/{mine['id']}", headers=rep,
                         json={"code": code, "version": mine["version"]})
        assert _answer(r) == expected
    listed = client.get("/api/v1/records/account?total=true", headers=rep).json
    assert listed["total"] == 1  # nothing was written


def test_the_unique_index_answers_like_the_check(client, heads, monkeypatch) -> None:
    """Two writers at once both pass the check; the second meets the unique index and
    gets the very same answer (simulated by skipping the check)."""
    admin, rep = heads["admin"], heads["rep"]
    assert _create(client, admin, code="THEIRS").status_code == 201
    checked = _answer(_create(client, rep, code="THEIRS"))
    monkeypatch.setattr(writes, "unique", lambda *args: None)
    raced = _answer(_create(client, rep, code="THEIRS"))
    assert raced == checked
    assert client.get("/api/v1/records/account?total=true", headers=rep).json["total"] == 0


def test_a_hidden_unique_field_is_never_named(client, heads, monkeypatch) -> None:
    """``tax_id`` is hidden from the rep and set by its default: a conflict on it is
    refused without naming it, by the check and by the index alike."""
    admin, rep = heads["admin"], heads["rep"]
    assert _create(client, admin, code="A", tax_id="B").status_code == 201
    expected = (422, {"code": "validation_failed",
                      "message": "__all__: another record has a value that must be unique",
                      "fields": {"__all__": ["another record has a value that must be unique"]}})
    r = _create(client, rep, code="X", note="B")  # its default tax_id is B
    assert _answer(r) == expected and "tax_id" not in r.get_data(as_text=True)
    monkeypatch.setattr(writes, "unique", lambda *args: None)
    r = _create(client, rep, code="X", note="B")
    assert _answer(r) == expected and "tax_id" not in r.get_data(as_text=True)
    # The administrator, who reads the field, is told which field it is.
    r = _create(client, admin, code="C", tax_id="B")
    assert error_of(r)["fields"] == {"tax_id": ["must be unique; another record has this value"]}


def test_the_page_shows_both_refusals_in_chinese(client, heads, instance) -> None:
    from .conftest import browser_session, csrf_token

    admin = heads["admin"]
    assert _create(client, admin, code="A", tax_id="B").status_code == 201
    page = browser_session(instance, "rep", PASSWORD)
    form = page.get("/records/account/new?lang=zh").text
    r = page.post("/records/account/new?lang=zh",
                  data={"csrf_token": csrf_token(form), "code": "X", "note": "B"})
    assert r.status_code == 422
    assert "已有其他记录使用了必须唯一的值" in r.text and "tax_id" not in r.text
    r = page.post("/records/account/new?lang=zh",
                  data={"csrf_token": csrf_token(form), "code": "A", "note": ""})
    assert r.status_code == 422 and "必须唯一；已有其他记录使用该值" in r.text
