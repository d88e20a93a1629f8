"""Approvals and dashboards in a real browser: a seller submits a quote from its page, the
approver sees it in the inbox (with the count in the navigation) and approves it there
with a comment; a dashboard draws its charts with ECharts, and labels holding
``<script>`` stay text."""

from __future__ import annotations

from typing import Any

import pytest

from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

QUOTE = {
    "name": "quote", "label": {"zh": "报价", "en": "Quote"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "label": {"zh": "标题", "en": "Title"}},
        {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
         "choices": [{"value": "draft", "label": {"zh": "草稿", "en": "Draft"}},
                     {"value": "sent", "label": {"zh": "已发送",
                                                 "en": "Sent <script>window.__pwned = 3</script>"}}]},
        {"name": "amount", "type": "decimal", "scale": 2, "label": {"zh": "金额", "en": "Amount"}},
        {"name": "status", "type": "picklist", "label": {"en": "Status"}, "default": "'open'",
         "choices": [{"value": v, "label": {"en": v.title()}}
                     for v in ("open", "approved", "rejected")]},
    ],
}
PROCESS = {"name": "quote_approval", "object": "quote",
           "steps": [{"name": "review", "mode": "single", "approvers": {"users": ["ann"]}}],
           "on_approve": {"status": "'approved'"}, "on_reject": {"status": "'rejected'"}}
BOARD = {"name": "quotes", "label": {"zh": "报价概览", "en": "Quotes overview"},
         "charts": [{"object": "quote", "type": "bar", "field": "stage",
                     "label": {"zh": "各阶段报价", "en": "Quotes by stage"}},
                    {"object": "quote", "type": "pie", "field": "stage", "measure": "amount",
                     "label": {"zh": "各阶段金额", "en": "Amount by stage"}}]}


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", QUOTE)
    assert status == 201, body
    for role in ({"name": "seller", "permissions": {"quote": {
                     "operations": ["create", "read", "update", "submit"], "scope": "own"}}},
                 {"name": "approver", "permissions": {"quote": {
                     "operations": ["read"], "scope": "all"}}}):
        status, body = server.api("POST", "/api/v1/admin/roles", role)
        assert status == 201, body
    for user, role in (("sam", "seller"), ("ann", "approver")):
        status, body = server.api("POST", "/api/v1/admin/users", {
            "username": user, "password": f"{user.title()}-pass-1234", "roles": [role]})
        assert status == 201, body
    status, body = server.api("POST", "/api/v1/meta/processes", PROCESS)
    assert status == 201, body
    for title, stage, amount in (("Small quote", "draft", "100"), ("Other", "sent", "250"),
                                 ("Third", "sent", "50")):
        status, body = server.api("POST", "/api/v1/records/quote",
                                  {"title": title, "stage": stage, "amount": amount})
        assert status == 201, body
    assert server.instance is not None
    tenant = server.instance.tenant("default")
    with tenant.read() as conn:
        Designer(tenant).set_dashboard(principal_of(conn, "admin"), BOARD)
    return server


def _sign_in(browser: Any, server: Server, user: str, start: str) -> tuple[Any, Any, list[Any]]:
    return sign_in_page(browser, server, user, f"{user.title()}-pass-1234", start)


def test_submit_approve_from_the_inbox_and_see_a_dashboard(world: Server, browser: Any) -> None:
    context, page, dialogs = _sign_in(browser, world, "sam", "/records/quote/new")
    page.get_by_label("Title").fill("Big quote")
    page.get_by_label("Amount").fill("5000")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Saved.")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".flash")).to_have_text("Submitted for approval.")
    expect(page.locator("#approval-state")).to_have_text("in approval")
    shot(page, "record-in-approval-en")
    context.close()

    context, page, more = _sign_in(browser, world, "ann", "/inbox")
    dialogs += more
    nav = page.get_by_role("navigation", name="Objects")
    expect(nav.locator("#nav-inbox .count")).to_have_text("1")
    row = page.locator("tr", has=page.get_by_role("link", name="Big quote"))
    expect(row).to_contain_text("sam")
    expect(row).to_contain_text("review")
    shot(page, "inbox-en")
    row.get_by_label("Comment", exact=True).fill("Looks right")
    with page.expect_request(lambda r: r.method == "POST" and "/inbox/" in r.url) as sent:
        row.get_by_role("button", name="Approve", exact=True).click()
    assert sent.value.headers.get("hx-request") == "true"  # enhanced by htmx
    assert "action=approve" in (sent.value.post_data or "")
    expect(page.locator(".flash")).to_have_text("Approved.")
    expect(page.get_by_text("No open approval tasks.")).to_be_visible()
    expect(nav.locator("#nav-inbox .count")).to_have_count(0)  # updated by htmx as well
    shot(page, "inbox-done-en")

    page.goto(world.url + "/")
    page.get_by_role("link", name="Quotes overview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quotes overview")
    expect(page.locator("#chart-0 svg")).to_be_visible()  # drawn by ECharts
    expect(page.locator("#chart-1 svg")).to_be_visible()
    expect(page.locator("#chart-0 svg text", has_text="Sent <script>")).to_have_count(1)
    shot(page, "dashboard-en")
    page.goto(world.url + "/records/quote/dashboard?lang=zh")
    expect(page.locator("#chart-0 svg")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("报价")
    shot(page, "object-dashboard-zh")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()
