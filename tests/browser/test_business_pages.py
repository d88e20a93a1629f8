"""The business pages in a real browser: an administrator defines an object through the
API; a manager signs in, lists, creates a record with the generated form (live formula,
a validation error beside its field), and finds it in the list, in English and Chinese;
a sales user whose role hides a field and limits the scope sees neither; labels holding
``<script>`` stay text."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

ORDER = {
    "name": "purchase",
    "label": {"zh": "订单", "en": "Order <script>window.__pwned = 1</script>"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "searchable": True,
         "label": {"zh": "标题", "en": "Title"}},
        {"name": "qty", "type": "integer", "label": {"zh": "数量", "en": "Quantity"}},
        {"name": "price", "type": "currency", "label": {"zh": "单价", "en": "Price"}},
        {"name": "total", "type": "formula", "result_type": "currency",
         "expression": "qty * price", "label": {"zh": "总额", "en": "Total"}},
        {"name": "margin", "type": "percent", "label": {"zh": "利润率", "en": "Margin"}},
        {"name": "note", "type": "textarea",
         "label": {"zh": "备注", "en": "<img src=x onerror=window.__pwned=2>Note"}},
        {"name": "rush", "type": "boolean", "label": {"zh": "加急", "en": "Rush"}},
        {"name": "due", "type": "date", "label": {"zh": "交付日期", "en": "Due"}},
        {"name": "bulk_reason", "type": "text", "label": {"zh": "大单原因", "en": "Bulk reason"},
         "visible_if": "qty > 10"},
        {"name": "customer", "type": "lookup", "target": "customer",
         "label": {"zh": "客户", "en": "Customer"}},
    ],
    "validation_rules": [{"name": "small", "condition": "is_blank(qty) or qty <= 100",
                          "field": "qty",
                          "message": {"zh": "最多 100 件", "en": "At most 100 units"}}],
}


CUSTOMER = {"name": "customer", "label": {"zh": "客户", "en": "Customer"},
            "fields": [{"name": "company", "type": "text", "required": True,
                        "searchable": True, "label": {"zh": "公司", "en": "Company"}}]}


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", CUSTOMER)
    assert status == 201, body
    for company in ("Acme Trading", "Globex"):
        assert server.api("POST", "/api/v1/records/customer", {"company": company})[0] == 201
    status, body = server.api("POST", "/api/v1/meta/objects", ORDER)
    assert status == 201, body
    for role in ({"name": "manager", "permissions": {"purchase": {
                     "operations": ["create", "read", "update", "delete", "export"],
                     "scope": "all"}, "customer": {"operations": ["read"], "scope": "all"}}},
                 {"name": "sales", "permissions": {"purchase": {
                     "operations": ["create", "read", "update"], "scope": "own",
                     "fields": {"margin": "hidden"}}}}):
        status, body = server.api("POST", "/api/v1/admin/roles", role)
        assert status == 201, body
    for user, role in (("mia", "manager"), ("sam", "sales")):
        status, body = server.api("POST", "/api/v1/admin/users", {
            "username": user, "password": f"{user.title()}-pass-1234", "roles": [role]})
        assert status == 201, body
    return server


def _sign_in(browser: Any, server: Server, user: str, start: str) -> tuple[Any, Any, list[Any]]:
    return sign_in_page(browser, server, user, f"{user.title()}-pass-1234", start)


def test_manager_creates_a_record_with_the_form(world: Server, browser: Any) -> None:
    context, page, dialogs = _sign_in(browser, world, "mia", "/records/purchase")
    nav = page.get_by_role("navigation", name="Objects")
    expect(nav.get_by_role("link", name="Order <script>window.__pwned = 1</script>")).to_be_visible()
    shot(page, "list-empty-en")

    page.get_by_role("link", name="New", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("New Order <script>")
    expect(page.get_by_text("<img src=x onerror=window.__pwned=2>Note")).to_be_visible()
    page.get_by_label("Title").fill("First order")
    page.get_by_label("Quantity").fill("3")
    page.get_by_label("Price").fill("2.50")
    expect(page.locator("#value-total")).to_have_text("CN¥7.50")  # computed by the server, live
    expect(page.get_by_label("Bulk reason")).to_be_hidden()  # visible only when qty > 10
    page.get_by_label("Quantity").fill("500")
    expect(page.locator("#value-total")).to_have_text("CN¥1,250.00")
    expect(page.get_by_label("Bulk reason")).to_be_visible()
    page.get_by_label("Search Customer").fill("acme")
    expect(page.locator("select#customer").locator("option")).to_have_count(2)
    page.locator("select#customer").select_option(label="Acme Trading")
    assert page.get_by_label("Due").get_attribute("type") == "date"
    assert page.get_by_label("Rush").get_attribute("type") == "checkbox"
    page.get_by_role("button", name="Save").click()
    error = page.locator("#err-qty")
    expect(error).to_have_text("At most 100 units")
    expect(page.get_by_label("Quantity")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Quantity")).to_have_value("500")  # what was typed is kept
    shot(page, "form-error-en")

    page.get_by_label("Quantity").fill("4")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Saved.")
    expect(page.locator("#value-total")).to_have_text("CN¥10.00")
    # Saved: back on the read view, the lookup shown as a link to its record.
    expect(page.locator("#fld-customer .value")).to_have_text("Acme Trading")
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()
    shot(page, "record-en")

    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Order").click()
    expect(page.get_by_role("cell", name="First order")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Margin")).to_be_visible()
    shot(page, "list-en")

    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("订单")
    expect(page.get_by_role("link", name="新建", exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="总额")).to_be_visible()
    shot(page, "list-zh")
    page.get_by_role("link", name="First order").click()
    expect(page.get_by_role("link", name="编辑", exact=True)).to_be_visible()  # still Chinese
    expect(page.get_by_role("heading", name="动态")).to_be_visible()
    shot(page, "record-zh")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_be_visible()

    page.get_by_role("link", name="Delete (to the recycle bin)").click()
    expect(page.locator("#delete-question")).to_contain_text("moves to the recycle bin")
    page.get_by_role("button", name="Yes, move it to the recycle bin").click()
    expect(page.locator(".flash")).to_have_text("Moved to the recycle bin.")
    expect(page.get_by_role("cell", name="First order")).to_have_count(0)
    page.get_by_role("link", name="Recycle bin").click()
    shot(page, "recycle-bin-en")
    page.get_by_role("button", name="Restore First order").click()
    expect(page.locator(".flash")).to_have_text("Restored.")
    expect(page.get_by_role("heading", level=1)).to_have_text("First order")

    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()


def test_values_typed_before_the_scripts_ran_are_computed_once_they_run(
        world: Server, browser: Any) -> None:
    """On a slow line the form shows before its deferred scripts run, and people type at
    once. Those keystrokes fire no event htmx hears; when the scripts arrive the form asks
    the server anyway. The scripts are held back here until the typing is done."""
    context, page, dialogs = _sign_in(browser, world, "mia", "/records/purchase")
    held: list[Any] = []
    page.route("**/assets/htmx.js", lambda route: held.append(route))
    page.goto(world.url + "/records/purchase/new", wait_until="commit")
    page.get_by_label("Quantity").fill("4")
    page.get_by_label("Price").fill("2.50")
    assert len(held) == 1 and page.evaluate("typeof window.htmx") == "undefined"
    held[0].continue_()
    expect(page.locator("#value-total")).to_have_text("CN¥10.00")
    assert dialogs == []
    context.close()


def test_sales_user_sees_neither_hidden_fields_nor_others_records(world: Server,
                                                                  browser: Any) -> None:
    status, body = world.api("POST", "/api/v1/records/purchase",
                             {"title": "Admin only", "qty": 1, "margin": "12.5"})
    assert status == 201, body
    context, page, dialogs = _sign_in(browser, world, "sam", "/records/purchase")
    expect(page.get_by_role("columnheader", name="Title")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Margin")).to_have_count(0)
    expect(page.get_by_role("cell", name="Admin only")).to_have_count(0)
    expect(page.get_by_role("link", name="Export CSV")).to_have_count(0)

    page.get_by_role("link", name="New", exact=True).click()
    expect(page.get_by_label("Title")).to_be_visible()
    expect(page.get_by_label("Margin")).to_have_count(0)
    page.get_by_label("Title").fill("Sam's order")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Price").fill("5")
    expect(page.locator("#value-total")).to_have_text("CN¥10.00")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Saved.")
    shot(page, "record-sales-en")
    page.goto(world.url + "/records/purchase")
    expect(page.get_by_role("cell", name="Sam's order")).to_be_visible()
    expect(page.get_by_role("cell", name="Admin only")).to_have_count(0)
    shot(page, "list-sales-en")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()
