"""The designer in a real browser: an administrator creates an object with a text field, a
number field, a decimal field, a formula (watching the live check point at a mistake) and
a validation rule; then a business user's form shows the formula, computed as they type,
and refuses a value the rule forbids."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


def _add_field(page: Any, type_label: str, name: str, label_en: str) -> None:
    page.get_by_label("Type of the new field").select_option(label=type_label)
    page.get_by_role("button", name="Add a field").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New field")
    page.get_by_label("API name").fill(name)
    page.get_by_label("English label").fill(label_en)


def test_admin_designs_an_object_and_a_user_fills_its_form(server: Server, browser: Any) -> None:
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD, "/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Designer")
    page.get_by_label("API name").fill("invoice")
    page.get_by_label("Chinese label", exact=True).fill("发票")
    page.get_by_label("English label", exact=True).fill("Invoice <script>window.__pwned=1</script>")
    page.get_by_label("First field (text)").fill("title")
    page.get_by_label("First field: English label").fill("Title")
    shot(page, "designer-home-en")
    page.get_by_role("button", name="Create object").click()
    expect(page.locator(".flash")).to_have_text("Object created.")
    heading = "Invoice <script>window.__pwned=1</script>"
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)  # text, not markup

    _add_field(page, "Whole number", "qty", "Quantity")
    page.get_by_role("button", name="Add field").click()
    expect(page.locator(".flash")).to_have_text("Field added.")
    page.locator(".crumbs").get_by_role("link", name=heading).click()

    _add_field(page, "Decimal number", "price", "Price")
    page.get_by_label("Decimal places").fill("2")
    page.get_by_role("button", name="Add field").click()
    expect(page.locator(".flash")).to_have_text("Field added.")
    page.locator(".crumbs").get_by_role("link", name=heading).click()

    _add_field(page, "Formula", "total", "Total")
    page.get_by_label("Result type").select_option("decimal")
    page.get_by_label("Formula expression").fill("qty * pryce")
    expect(page.locator("#check-expression")).to_contain_text("Line 1, column 7")
    shot(page, "designer-formula-error-en")
    page.get_by_label("Formula expression").fill("qty * price")
    expect(page.locator("#check-expression")).to_have_text(
        "The expression is valid; it gives: number")
    page.get_by_role("button", name="Add field").click()
    expect(page.locator(".flash")).to_have_text("Field added.")
    page.locator(".crumbs").get_by_role("link", name=heading).click()
    expect(page.get_by_role("cell", name="= qty * price")).to_be_visible()

    page.get_by_label("Rule name").fill("positive")
    page.get_by_label("Show the message at field").select_option("qty")
    page.get_by_label("Condition (must be true)").fill("qty >")
    expect(page.locator("#check-condition")).to_contain_text("Line 1, column")
    page.get_by_label("Condition (must be true)").fill("is_blank(qty) or qty > 0")
    expect(page.locator("#check-condition")).to_contain_text("The expression is valid")
    page.get_by_label("Message (Chinese)").fill("数量必须大于零")
    page.get_by_label("Message (English)").fill("Quantity must be above zero")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator(".flash")).to_have_text("Validation rule saved.")
    expect(page.get_by_role("cell", name="Quantity must be above zero")).to_be_visible()
    shot(page, "designer-object-en")
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", name="校验规则", exact=True)).to_be_visible()
    shot(page, "designer-object-zh")
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="Metadata history").click()
    expect(page.get_by_role("cell", name="add field invoice.total")).to_be_visible()
    shot(page, "designer-history-en")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()

    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/admin/roles", {"name": "billing", "permissions": {
        "invoice": {"operations": ["create", "read", "update"], "scope": "own"}}})
    assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/users", {
        "username": "bea", "password": "Bea-pass-1234", "roles": ["billing"]})
    assert status == 201, body

    context, page, dialogs = sign_in_page(browser, server, "bea", "Bea-pass-1234",
                                      "/records/invoice/new")
    expect(page.get_by_role("navigation", name="Objects").get_by_role(
        "link", name="Designer")).to_have_count(0)
    page.get_by_label("Title").fill("March")
    page.get_by_label("Quantity").fill("3")
    page.get_by_label("Price").fill("2.50")
    expect(page.locator("#value-total")).to_have_text("7.50")  # the designed formula, live
    page.get_by_label("Quantity").fill("-1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#err-qty")).to_have_text("Quantity must be above zero")
    shot(page, "designer-user-form-error-en")
    page.get_by_label("Quantity").fill("4")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Saved.")
    expect(page.locator("#value-total")).to_have_text("10.00")
    shot(page, "designer-user-record-en")
    assert page.goto(server.url + "/admin/").status == 403
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()
