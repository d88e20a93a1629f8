"""HTTP fixtures: a Flask test client on the instance, signed-in headers, helpers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.core import clock
from crmforge.runtime import Instance
from crmforge.web import create_app

from ..conftest import ADMIN_PASSWORD


@pytest.fixture
def app(instance: Instance):  # type: ignore[no-untyped-def]
    return create_app(instance, {"TESTING": True})


@pytest.fixture
def client(app) -> FlaskClient:  # type: ignore[no-untyped-def]
    return app.test_client()


def sign_in(client: FlaskClient, tenant: str = "default", username: str = "admin",
            password: str = ADMIN_PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"username": username, "password": password},
                    headers={"X-Tenant": tenant})
    assert r.status_code == 200, r.json
    return {"Authorization": "Bearer " + r.json["token"], "X-Tenant": tenant}


@pytest.fixture
def admin(client: FlaskClient) -> dict[str, str]:
    return sign_in(client)


def csrf_token(page_text: str) -> str:
    """The CSRF token of a page's forms (every POST form carries one)."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


def browser_session(instance: Instance, username: str = "admin",
                    password: str = ADMIN_PASSWORD) -> FlaskClient:
    """A test client signed in through the sign-in page, as a browser would be (session
    cookie, CSRF-protected forms)."""
    c = create_app(instance, {"TESTING": True}).test_client()
    r = c.post("/login", data={"username": username, "password": password,
                               "csrf_token": csrf_token(c.get("/login").text)})
    assert r.status_code == 303, r.text
    return c


BOOTH: dict[str, Any] = {
    "name": "booth", "label": {"zh": "展位", "en": "Booth"},
    "fields": [
        {"name": "number", "type": "text", "label": {"zh": "展位号", "en": "Number"},
         "required": True, "unique": True, "max_length": 20, "searchable": True},
        {"name": "area", "type": "decimal", "scale": 2, "min": 0, "label": {"en": "Area"}},
        {"name": "price", "type": "currency", "label": {"en": "Price"}},
        {"name": "status", "type": "picklist", "label": {"en": "Status"},
         "default": "'available'",
         "choices": [{"value": "available", "label": {"en": "Available"}},
                     {"value": "contracted", "label": {"en": "Contracted"}}]},
        {"name": "exhibitor", "type": "lookup", "target": "exhibitor",
         "label": {"en": "Exhibitor"}},
        {"name": "total", "type": "formula", "result_type": "currency", "stored": True,
         "expression": "area * price", "label": {"en": "Total"}},
    ],
}

EXHIBITOR: dict[str, Any] = {
    "name": "exhibitor", "label": {"zh": "展商", "en": "Exhibitor"},
    "fields": [{"name": "company", "type": "text", "required": True, "searchable": True}],
}


def error_of(response: Any) -> dict[str, Any]:
    """The error envelope of a response, checking its shape (DESIGN §9)."""
    body = response.json
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


#: The moment tests that move the clock start from (a Monday, 09:00 UTC).
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen() -> Iterator[list[dt.datetime]]:
    """The platform's clock held at ``START``; a test moves it by setting ``frozen[0]``."""
    now = [START]
    clock.set_clock(lambda: now[0])
    try:
        yield now
    finally:
        clock.set_clock(None)
