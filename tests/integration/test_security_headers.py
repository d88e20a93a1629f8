"""Security headers on every answer: pages carry a Content-Security-Policy without inline
scripts, eval or inline styles and refuse framing; the API docs page has its own policy;
JSON, files and errors get a policy that runs nothing; all send ``nosniff`` and a
Referrer-Policy. The templates hold nothing the page policy would block (tests/browser
checks the pages in Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import BOOTH, EXHIBITOR, browser_session

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [*sorted((ROOT / "crmforge" / "web" / "templates").rglob("*.html")),
             *sorted((ROOT / "admin_ui" / "templates").rglob("*.html"))]


def _policy(value: str) -> dict[str, set[str]]:
    out = {}
    for part in value.split(";"):
        name, *sources = part.split()
        out[name] = set(sources)
    return out


def _common(r: object) -> dict[str, set[str]]:
    headers = r.headers  # type: ignore[attr-defined]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    policy = _policy(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == {"'none'"}
    return policy


def _page_policy(r: object) -> None:
    policy = _common(r)
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == {"'self'"}
    assert policy["object-src"] == {"'none'"} and policy["base-uri"] == {"'self'"}
    assert policy["form-action"] == {"'self'"}


@pytest.fixture
def booth(client: FlaskClient, admin: dict[str, str]) -> int:
    for doc in (EXHIBITOR, BOOTH):
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    r = client.post("/api/v1/records/booth", json={"number": "A1"}, headers=admin)
    return int(r.json["id"])


def test_pages_carry_the_page_policy(client: FlaskClient, instance: Instance, booth: int) -> None:
    assert client.get("/login").status_code == 200
    _page_policy(client.get("/login"))
    browser = browser_session(instance)
    for url in ("/", "/records/booth", "/records/booth/new", f"/records/booth/{booth}",
                "/inbox", "/recycle-bin", "/admin/", "/admin/objects/booth",
                "/records/booth/999999", "/records/nothing"):  # error pages too
        r = browser.get(url)
        assert r.mimetype == "text/html", url
        _page_policy(r)


def test_api_answers_run_nothing(client: FlaskClient, admin: dict[str, str], booth: int) -> None:
    for r in (client.get("/api/v1/meta/objects", headers=admin),
              client.get(f"/api/v1/records/booth/{booth}", headers=admin),
              client.get("/api/v1/records/booth/export", headers=admin),
              client.get("/api/v1/openapi.json", headers=admin),
              client.get("/api/v1/meta/objects"),  # 401
              client.get("/api/v1/records/booth/999999", headers=admin),  # 404
              client.put("/api/v1/records/booth", headers=admin),  # 405
              client.get("/static/crmforge.css")):
        policy = _common(r)
        assert policy["default-src"] == {"'none'"}, r.request.path


def test_the_api_docs_page_has_its_own_policy(client: FlaskClient) -> None:
    r = client.get("/api/v1/docs")
    policy = _common(r)
    assert policy["script-src"] == {"'self'"}  # still no inline script and no eval
    assert policy["style-src"] == {"'self'", "'unsafe-inline'"}  # Swagger UI's rendering
    assert "<script>" not in r.text and "<style" not in r.text and "style=" not in r.text
    assert client.get("/static/api-docs.js").status_code == 200


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_hold_nothing_the_policy_blocks(template: Path) -> None:
    """No inline script (a script either has ``src`` or is a JSON data block), no style
    element or attribute, no event handler attribute, no ``javascript:`` address."""
    text = template.read_text(encoding="utf-8")
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag or 'type="application/json"' in tag, (template, tag)
    assert not re.search(r"<style\b", text), template
    assert not re.search(r"\sstyle\s*=", text), template
    assert not re.search(r"\son[a-z]+\s*=", text), template
    assert "javascript:" not in text, template
