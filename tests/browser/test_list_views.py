"""Saved views and mass actions in a real browser: a manager saves the filtered list as a
view, opens it again from the select, ticks two rows (after trying "Select all") and
deletes them; the list shows what is left."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

LEAD = {"name": "lead", "label": {"zh": "线索", "en": "Lead"},
        "fields": [{"name": "company", "type": "text", "required": True, "searchable": True,
                    "label": {"zh": "公司", "en": "Company"}},
                   {"name": "heat", "type": "picklist", "label": {"zh": "热度", "en": "Heat"},
                    "choices": [{"value": "hot", "label": {"zh": "热", "en": "Hot"}},
                                {"value": "cold", "label": {"zh": "冷", "en": "Cold"}}]}]}
PASSWORD = "Max-pass-1234"


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", LEAD)
    assert status == 201, body
    for company, heat in (("Alpha", "hot"), ("Beta", "hot"), ("Gamma", "cold"),
                          ("Delta", "hot")):
        status, body = server.api("POST", "/api/v1/records/lead",
                                  {"company": company, "heat": heat})
        assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/roles", {
        "name": "lead_manager", "permissions": {"lead": {
            "operations": ["create", "read", "update", "delete"], "scope": "all"}}})
    assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/users", {
        "username": "max", "password": PASSWORD, "roles": ["lead_manager"]})
    assert status == 201, body
    return server


def test_save_pick_select_and_delete(world: Server, browser: Any) -> None:
    context, page, dialogs = sign_in_page(browser, world, "max", PASSWORD,
                                          "/records/lead?heat=hot")
    expect(page.get_by_role("cell", name="Gamma")).to_have_count(0)

    page.get_by_label("Save this list as").fill("Hot <em>leads</em>")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".flash")).to_have_text("View saved.")
    expect(page.locator("select#view option:checked")).to_have_text("Hot <em>leads</em>")

    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Lead").click()
    expect(page.get_by_role("cell", name="Gamma")).to_be_visible()
    page.get_by_label("Saved view", exact=True).select_option(label="Hot <em>leads</em>")
    page.get_by_role("button", name="Open view").click()
    expect(page).to_have_url(world.url + "/records/lead?heat=hot")
    expect(page.get_by_role("cell", name="Gamma")).to_have_count(0)
    expect(page.locator("tbody tr")).to_have_count(3)

    select_all = page.get_by_label("Select all")
    select_all.check()
    for company in ("Alpha", "Beta", "Delta"):
        expect(page.get_by_label(f"Select {company}")).to_be_checked()
    select_all.uncheck()
    expect(page.get_by_label("Select Delta")).not_to_be_checked()
    page.get_by_label("Select Alpha").check()
    page.get_by_label("Select Beta").check()
    expect(select_all).not_to_be_checked()
    assert select_all.evaluate("box => box.indeterminate") is True
    page.get_by_label("With the selected records").select_option("delete")
    shot(page, "list-mass-selected-en")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#confirm-question")).to_have_text("Delete the selected records (2)?")
    page.get_by_role("button", name="Yes, move them to the recycle bin").click()

    expect(page.locator(".flash")).to_have_text("2 of 2 records done.")
    expect(page).to_have_url(world.url + "/records/lead?heat=hot")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("cell", name="Delta")).to_be_visible()
    shot(page, "list-mass-deleted-en")
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("button", name="保存视图")).to_be_visible()
    expect(page.get_by_label("全选")).to_be_visible()
    shot(page, "list-views-zh")
    assert dialogs == []
    status, body = world.api("GET", "/api/v1/recycle-bin")
    assert status == 200
    assert sorted(e["title"] for e in body["items"] if e["object"] == "lead") == ["Alpha", "Beta"]
    context.close()
