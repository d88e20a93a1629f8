"""Service messages a business user meets on a form, in the page's language: real
refusals from the record service match a template, every template has a Chinese
translation with the same placeholders, and the Chinese form shows them beside fields."""

from __future__ import annotations

import re
from typing import Any

from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web.pages.i18n import SOURCE
from crmforge.web.pages.server_messages import TEMPLATES, translated

from .conftest import browser_session, csrf_token

THING = {"name": "thing", "fields": [
    {"name": "title", "type": "text", "required": True, "max_length": 5},
    {"name": "amount", "type": "decimal", "scale": 2, "min": 0, "max": 100},
    {"name": "count", "type": "integer"},
    {"name": "contact", "type": "email"},
    {"name": "site", "type": "url"},
    {"name": "kind", "type": "picklist", "choices": [{"value": "a"}, {"value": "b"}]},
    {"name": "due", "type": "date"},
    {"name": "code", "type": "text", "unique": True},
]}
BAD: list[dict[str, Any]] = [
    {"title": "far too long", "amount": "-1", "count": "x", "contact": "nope",
     "site": "ftp://x", "kind": "z", "due": "soon"},
    {"amount": "1.234"}, {"amount": "101"}, {"amount": "abc"}, {"count": "1.5"},
]


def _refusals(client: FlaskClient, admin: dict[str, str]) -> list[str]:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    assert client.post("/api/v1/records/thing", json={"title": "ok", "code": "X"},
                       headers=admin).status_code == 201
    found = []
    for body in [*BAD, {"title": "ok", "code": "X"}]:
        r = client.post("/api/v1/records/thing", json=body, headers=admin)
        assert r.status_code == 422, r.json
        found += [m for msgs in r.json["error"]["fields"].values() for m in msgs]
    return found


def test_every_refusal_a_form_can_meet_is_translated(app: Flask, client: FlaskClient,
                                                    admin: dict[str, str]) -> None:
    messages = _refusals(client, admin)
    assert len(messages) >= 12
    with app.test_request_context("/?lang=zh"):
        for message in messages:
            zh = translated(message)
            assert zh != message and re.search(r"[\u4e00-\u9fff]", zh), message
    with app.test_request_context("/?lang=en"):
        assert all(translated(m) == m for m in messages)  # English stays as written
        assert translated("Custom rule message") == "Custom rule message"


def test_every_template_has_a_chinese_translation() -> None:
    with (SOURCE / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id}
    placeholders = re.compile(r"%\(\w+\)s")
    for template in TEMPLATES:
        assert catalog.get(template), template
        assert set(placeholders.findall(str(catalog[template]))) <= \
            set(placeholders.findall(template)), template


def test_the_chinese_form_shows_them_beside_the_fields(client: FlaskClient,
                                                       admin: dict[str, str],
                                                       instance: Instance) -> None:
    assert client.post("/api/v1/meta/objects", json=THING, headers=admin).status_code == 201
    c = browser_session(instance)
    page = c.get("/records/thing/new?lang=zh")
    r = c.post("/records/thing/new", data={
        "csrf_token": csrf_token(page.text), "title": "", "amount": "-1", "kind": ""})
    assert r.status_code == 422
    assert re.search(r'id="err-title">必填<', r.text)
    assert re.search(r'id="err-amount">不能小于 0<', r.text)
