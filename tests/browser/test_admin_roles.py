"""The permission matrix in a real browser: an administrator creates a role on the matrix
page, opens it, ticks operations, chooses a data scope and hides a field in the field rules
expander, saves; the stored role (read through the API) is what the page showed, and a
label with markup stays text."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DEAL = {"name": "deal", "label": {"zh": "商机", "en": "Deal"}, "fields": [
    {"name": "title", "type": "text", "label": {"zh": "标题", "en": "Title"}},
    {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}}]}


def test_admin_sets_a_scope_and_a_field_rule(server: Server, browser: Any) -> None:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", DEAL)
    assert status == 201, body
    for i in range(16):  # a wide matrix: it scrolls sideways, the role column stays
        status, body = server.api("POST", "/api/v1/meta/objects", {
            "name": f"object_{i:02d}", "label": {"en": f"Wide object {i:02d}"},
            "fields": [{"name": "title", "type": "text"}]})
        assert status == 201, body

    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                          "/admin/roles",
                                          viewport={"width": 1280, "height": 900})

    label = "Seller <script>window.__pwned=1</script>"
    page.get_by_label("API name").fill("seller")
    page.get_by_label("Chinese label", exact=True).fill("销售员")
    page.get_by_label("English label", exact=True).fill(label)
    page.get_by_role("button", name="Create role").click()
    expect(page.locator(".flash")).to_have_text("Role created.")
    expect(page.get_by_role("heading", level=1)).to_have_text(label)  # text, not markup

    page.locator("#op-deal-read").check()
    page.locator("#op-deal-update").check()
    page.get_by_label("Data scope of Deal").select_option("department_tree")
    page.locator("#grant-deal summary").click()
    page.get_by_label("Amount (Deal)").select_option("hidden")
    page.get_by_label("Title (Deal)").select_option("read")
    shot(page, "admin-role-en")
    page.get_by_role("button", name="Save role").click()
    expect(page.locator(".flash")).to_have_text("Role saved.")
    expect(page.locator("#scope-deal")).to_have_value("department_tree")

    status, body = server.api("GET", "/api/v1/admin/roles")
    assert status == 200
    seller = next(r for r in body["items"] if r["name"] == "seller")
    assert seller["permissions"] == {"deal": {
        "operations": ["read", "update"], "scope": "department_tree",
        "fields": {"amount": "hidden", "title": "read"}}}
    assert seller["label"] == {"zh": "销售员", "en": label}

    page.get_by_role("link", name="中文").click()
    expect(page.locator("#scope-deal")).to_have_value("department_tree")
    shot(page, "admin-role-zh")
    page.locator(".crumbs a").first.click()
    expect(page.get_by_role("rowheader").get_by_role("link", name="销售员")).to_be_visible()
    expect(page.locator("td.cell abbr").first).to_have_text("RU")
    shot(page, "admin-roles-zh")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Roles and permissions")
    role_link = page.get_by_role("rowheader").get_by_role("link", name=label)
    expect(role_link).to_be_visible()
    region = page.get_by_role("region", name="Permission matrix")
    left = region.bounding_box()["x"]
    region.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    assert region.evaluate("el => el.scrollLeft") > 200  # it really scrolls sideways
    assert abs(role_link.bounding_box()["x"] - left) < 40  # and the role column stays
    shot(page, "admin-roles-en")
    page.goto(server.url + "/admin/explain?user=admin&object=deal&operation=read")
    expect(page.get_by_role("heading", level=2, name="Allowed")).to_be_visible()
    shot(page, "admin-explain-en")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()


def test_admin_switches_the_hierarchy_of_a_role(server: Server, browser: Any) -> None:
    """A lead role with a rep role below it: the matrix shows the hierarchy, the lead's page
    switches off its reach into the reps' tickets, and the stored role says so."""
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", {
        "name": "ticket", "label": {"zh": "工单", "en": "Ticket"},
        "fields": [{"name": "subject", "type": "text", "label": {"en": "Subject"}}]})
    assert status == 201, body
    for role in ({"name": "lead", "label": {"zh": "组长", "en": "Lead"}, "permissions": {
                     "ticket": {"operations": ["read", "update"], "scope": "own"}}},
                 {"name": "agent", "label": {"zh": "坐席", "en": "Agent"}, "reports_to": "lead",
                  "permissions": {"ticket": {"operations": ["read"], "scope": "own"}}}):
        status, body = server.api("POST", "/api/v1/admin/roles", role)
        assert status == 201, body

    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                          "/admin/roles/lead",
                                          viewport={"width": 1280, "height": 900})
    expect(page.locator("#hierarchy-help")).to_contain_text("Agent (agent)")
    switch = page.get_by_label("Records of roles below (Ticket)")
    expect(switch).to_be_checked()
    switch.uncheck()
    page.get_by_role("button", name="Save role").click()
    expect(page.locator(".flash")).to_have_text("Role saved.")
    expect(page.get_by_label("Records of roles below (Ticket)")).not_to_be_checked()
    status, body = server.api("GET", "/api/v1/admin/roles/lead")
    assert status == 200
    assert body["permissions"]["ticket"] == {"operations": ["read", "update"], "scope": "own",
                                             "hierarchy": False}

    page.goto(server.url + "/admin/roles?lang=zh")
    tree = page.locator("#role-tree")
    expect(tree.get_by_role("link", name="组长")).to_be_visible()
    expect(tree.locator("li li").get_by_role("link", name="坐席")).to_be_visible()
    expect(page.locator(".tag.hierarchy-off")).to_have_text("层级已关闭")
    shot(page, "admin-roles-hierarchy-zh")
    page.goto(server.url + "/admin/roles/lead?lang=en")
    page.get_by_label("Records of roles below (Ticket)").check()
    page.get_by_role("button", name="Save role").click()
    expect(page.locator(".flash")).to_have_text("Role saved.")
    status, body = server.api("GET", "/api/v1/admin/roles/lead")
    assert "hierarchy" not in body["permissions"]["ticket"]
    assert dialogs == []
    context.close()
