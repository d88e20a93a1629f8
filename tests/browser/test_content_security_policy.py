"""The Content-Security-Policy does not break the pages: every page of the product and the
designer, and the API docs page, opened in Chromium under the policy the server sends,
reports no violation, and what their scripts and styles draw is there (multi-column form
sections, htmx requests, ECharts charts, bpmn-js diagrams, Swagger UI)."""

from __future__ import annotations

from typing import Any

import pytest

from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

LEAD = {
    "name": "lead", "label": {"zh": "线索", "en": "Lead"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "label": {"en": "Title"}},
        {"name": "amount", "type": "decimal", "label": {"en": "Amount"}},
        {"name": "stage", "type": "picklist", "label": {"en": "Stage"},
         "choices": [{"value": "new"}, {"value": "won"}]},
        {"name": "parent", "type": "lookup", "target": "lead", "label": {"en": "Parent"}},
        {"name": "status", "type": "picklist", "default": "'open'",
         "choices": [{"value": "open"}, {"value": "approved"}, {"value": "rejected"}]},
    ],
}
LAYOUT = {"form": {"sections": [{"label": {"en": "Main"}, "columns": 3,
                                 "fields": ["title", "amount", "stage", "parent"]}]}}
PROCESS = {"name": "lead_approval", "object": "lead",
           "steps": [{"name": "review", "mode": "single", "approvers": {"users": ["admin"]}}],
           "on_approve": {"status": "'approved'"}}
BOARD = {"name": "leads", "label": {"en": "Leads"},
         "charts": [{"object": "lead", "type": "bar", "field": "stage", "label": {"en": "By stage"}},
                    {"object": "lead", "type": "pie", "field": "stage", "label": {"en": "Share"}}]}


@pytest.fixture(scope="module")
def world(server: Server) -> dict[str, Any]:
    server.sign_in_api()
    for method, path, body in (("POST", "/api/v1/meta/objects", LEAD),
                               ("PUT", "/api/v1/meta/objects/lead/layout", LAYOUT),
                               ("POST", "/api/v1/meta/processes", PROCESS)):
        status, answer = server.api(method, path, body)
        assert status in (200, 201), answer
    ids = []
    for title, stage in (("First lead", "new"), ("Second lead", "won")):
        status, answer = server.api("POST", "/api/v1/records/lead",
                                    {"title": title, "stage": stage, "amount": "10"})
        assert status == 201, answer
        ids.append(answer["id"])
    status, answer = server.api("POST", "/api/v1/approvals", {"object": "lead", "record": ids[1]})
    assert status == 201, answer
    assert server.instance is not None
    tenant = server.instance.tenant("default")
    with tenant.read() as conn:
        Designer(tenant).set_dashboard(principal_of(conn, "admin"), BOARD)
    return {"server": server, "ids": ids}


class Violations:
    """CSP violations a page reports (Chromium logs each as a console error)."""

    def __init__(self, page: Any) -> None:
        self.found: list[str] = []
        page.on("console", self._console)

    def _console(self, msg: Any) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.found.append(msg.text)


def _open(page: Any, violations: Violations, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    assert violations.found == [], (url, violations.found)


def test_pages_run_under_the_policy(world: dict[str, Any], browser: Any) -> None:
    server: Server = world["server"]
    first, second = world["ids"]
    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD, "/")
    violations = Violations(page)
    try:
        for url in ("/", "/records/lead", "/records/lead?sort=-amount", f"/records/lead/{first}",
                    f"/records/lead/{second}",
                    "/inbox", "/recycle-bin", "/admin/", "/admin/objects/lead",
                    "/admin/objects/lead/layout", "/admin/objects/lead/layout/preview",
                    "/admin/roles", "/admin/processes", "/admin/history"):
            _open(page, violations, server.url + url)

        # A three-column section is three columns (a class now, not a style attribute).
        _open(page, violations, server.url + "/records/lead/new")
        columns = page.locator(".grid").first.evaluate(
            "el => getComputedStyle(el).gridTemplateColumns.split(' ').length")
        assert columns == 3
        # htmx: the lookup's search asks the server as the user types.
        with page.expect_response(lambda r: "/_options" in r.url):
            page.locator("main input[type=search]").first.fill("First")
        page.wait_for_load_state("networkidle")
        assert violations.found == []

        # ECharts draws the dashboard's charts.
        _open(page, violations, server.url + "/dashboards/leads")
        expect(page.locator(".chart canvas, .chart svg").first).to_be_visible()

        # bpmn-js: the approval's diagram (viewer) and the process designer (modeler).
        _open(page, violations, server.url + "/admin/processes/lead_approval")
        expect(page.locator(".djs-container svg").first).to_be_visible()
        _open(page, violations, server.url + "/admin/processes/lead_approval/diagram")
        expect(page.locator(".djs-container svg").first).to_be_visible()
        assert violations.found == []
    finally:
        context.close()


def test_the_api_docs_page_runs_under_its_policy(world: dict[str, Any], browser: Any) -> None:
    server: Server = world["server"]
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = Violations(page)
    try:
        _open(page, violations, server.url + "/api/v1/docs")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in and load this tenant's API").click()
        expect(page.locator("#status")).to_contain_text("Signed in")
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert violations.found == []
    finally:
        context.close()
