"""The layout designer in a real browser: an administrator drags a field into a new section,
moves another with the keyboard, arranges the list's columns, saves, and the API returns
that layout; then arranges the form for one role and previews it as that role."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PAGE = "/admin/objects/stand/layout"
STAND: dict[str, Any] = {
    "name": "stand", "label": {"zh": "展台", "en": "Stand"},
    "fields": [
        {"name": "code", "type": "text", "required": True, "label": {"en": "Code"}},
        {"name": "hall", "type": "text", "label": {"en": "Hall"}},
        {"name": "size", "type": "decimal", "scale": 2, "label": {"en": "Size"}},
        {"name": "price", "type": "currency", "label": {"en": "Price <b>net</b>"}},
        {"name": "notes", "type": "textarea", "label": {"en": "Notes"}},
    ],
}


def _drag(page: Any, item: Any, target: Any) -> None:
    """Drag with the mouse as a person does: press, move in steps, release (SortableJS
    runs its own pointer-driven dragging, which needs the intermediate moves)."""
    item.scroll_into_view_if_needed()
    start = item.bounding_box()
    end = target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + 12, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + 30, start["y"] + start["height"] / 2 + 10, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
    page.mouse.move(end["x"] + end["width"] / 2 + 2, end["y"] + end["height"] / 2 + 2, steps=3)
    page.mouse.up()


def test_admin_drags_a_field_into_another_section_and_saves(server: Server, browser: Any) -> None:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", STAND)
    assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/roles", {
        "name": "clerk", "label": {"en": "Clerk"},
        "permissions": {"stand": {"operations": ["create", "read"], "scope": "all",
                                  "fields": {"price": "hidden"}}}})
    assert status == 201, body

    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/admin/objects/stand")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Arrange the form and list (layout)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Layout of Stand")

    first = page.locator(".ld-section").nth(0)
    expect(first.locator(".ld-field")).to_have_count(5)
    expect(page.locator("#ld-palette .ld-field")).to_have_count(0)
    # Markup in a label is text.
    expect(first.locator("[data-field=price] .ld-label")).to_have_text("Price <b>net</b>")

    page.get_by_role("button", name="Add a section").click()
    second = page.locator(".ld-section").nth(1)
    expect(second.locator(".ld-section-name")).to_have_text("Section 2")
    expect(second.get_by_label("Chinese label")).to_be_focused()
    second.get_by_label("Chinese label").fill("价格")
    second.get_by_label("English label").fill("Money")
    second.get_by_label("Columns").select_option("1")

    _drag(page, first.locator("[data-field=price]"), second.locator(".ld-fields"))
    expect(second.locator(".ld-field")).to_have_count(1)
    expect(second.locator("[data-field=price]")).to_be_visible()
    expect(page.locator("#ld-status")).to_have_text("Price <b>net</b>: section 2, position 1.")

    # Without a mouse: the buttons beside a field, from the keyboard.
    page.get_by_role("button", name="Move Hall to the next section").focus()
    page.keyboard.press("Enter")
    expect(second.locator(".ld-field")).to_have_count(2)
    expect(page.get_by_role("button", name="Move Hall up")).to_be_disabled()
    page.get_by_role("button", name="Move Hall down").press("Enter")
    expect(second.locator(".ld-field").nth(1)).to_have_attribute("data-field", "hall")
    page.get_by_role("button", name="Take Notes off the form").click()
    expect(page.locator("#ld-palette [data-field=notes]")).to_be_visible()
    expect(page.locator("#ld-status")).to_have_text("Notes is no longer on the form.")

    # The list: add a system column, drop one, reorder.
    page.get_by_label("Column to add").select_option("created_at")
    page.get_by_role("button", name="Add column").click()
    page.get_by_role("button", name="Remove column Size").click()
    page.get_by_role("button", name="Move column Created at up").click()
    page.get_by_label("Default sort").fill("-created_at")
    shot(page, "layout-designer-en")

    page.get_by_role("button", name="Save layout").click()
    expect(page.locator(".flash")).to_have_text("Layout saved.")
    status, stored = server.api("GET", "/api/v1/meta/objects/stand/layout")
    assert status == 200
    assert stored["generated"] is False
    assert stored["form"]["sections"] == [
        {"label": {"en": "Details", "zh": "详细信息"}, "columns": 2, "fields": ["code", "size"]},
        {"label": {"zh": "价格", "en": "Money"}, "columns": 1, "fields": ["price", "hall"]}]
    assert stored["list"] == {"columns": ["code", "hall", "created_at", "price"],
                              "sort": "-created_at"}
    # The saved arrangement is what the page shows again.
    expect(page.locator(".ld-section").nth(1).locator(".ld-field")).to_have_count(2)

    # A layout for one role: it starts as a copy of the default.
    page.get_by_label("Layout being edited").select_option("clerk")
    page.get_by_role("button", name="Edit this layout").click()
    expect(page.locator("#ld-which")).to_contain_text("has no layout of its own")
    expect(page.get_by_role("button", name="Add a section")).to_be_disabled()
    page.get_by_label("Arrange the record form for this role").check()
    page.get_by_role("button", name="Take Size off the form").click()
    page.get_by_role("button", name="Remove section 2").click()
    expect(page.locator(".ld-section")).to_have_count(1)
    shot(page, "layout-designer-role-en")
    page.get_by_role("button", name="Save layout").click()
    expect(page.locator(".flash")).to_have_text("Layout saved.")
    status, stored = server.api("GET", "/api/v1/meta/objects/stand/layout")
    assert stored["roles"] == {"clerk": {"form": {"sections": [
        {"label": {"en": "Details", "zh": "详细信息"}, "columns": 2, "fields": ["code"]}]}}}
    assert stored["form"]["sections"][1]["fields"] == ["price", "hall"]  # default unchanged

    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview of Stand as Clerk")
    expect(page.locator("#pv-form-source")).to_have_text("Record form: the layout of this role.")
    expect(page.locator(".preview-form .fld")).to_have_count(1)
    expect(page.locator(".preview-form #code")).to_be_disabled()
    expect(page.locator("#pv-hidden")).to_have_text("Price <b>net</b>")
    shot(page, "layout-preview-en")
    assert errors == []
    context.close()
