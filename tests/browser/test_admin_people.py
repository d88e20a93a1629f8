"""Users and departments in a real browser, in English and in Chinese: an administrator
creates a department on the tree page and a user in it (a weak password first, refused
beside its input), and the new user can then sign in with the password typed; the same in
Chinese, with screenshots at a desktop and a phone width."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


def _department(page: Any, name: str, zh: str, en: str, button: str, parent: str = "") -> None:
    page.locator("#in-name").fill(name)
    page.locator("#in-label_zh").fill(zh)
    page.locator("#in-label_en").fill(en)
    if parent:
        page.locator("#in-parent").select_option(parent)
    page.get_by_role("button", name=button).click()


def _user(page: Any, username: str, password: str, department: str, button: str) -> None:
    page.locator("#in-username").fill(username)
    page.locator("#in-password").fill(password)
    page.locator("#in-department").select_option(department)
    page.locator("#role-sales").check()
    page.get_by_role("button", name=button).click()


def test_admin_creates_departments_and_users_in_both_languages(server: Server,
                                                                browser: Any) -> None:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/admin/roles",
                              {"name": "sales", "label": {"zh": "销售", "en": "Sales"}})
    assert status == 201, body
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                          "/admin/departments",
                                          viewport={"width": 1366, "height": 900})

    # English: a department, then a user in it
    _department(page, "north", "北方", "North <i>region</i>", "Create department")
    expect(page.locator(".flash")).to_have_text("Department created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("North <i>region</i>")
    page.locator(".admin-nav").get_by_role("link", name="Users").click()
    _user(page, "dora", "short1", "north", "Create user")
    expect(page.locator("#err-password")).to_contain_text("must have at least 8 characters")
    page.locator("#in-password").fill("Dora-pass-123")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator(".flash")).to_have_text("User created.")
    expect(page.locator("#in-department")).to_have_value("north")
    expect(page.locator("#role-sales")).to_be_checked()
    shot(page, "admin-user-en")
    page.locator(".crumbs a").first.click()
    expect(page.locator("#users")).to_contain_text("North <i>region</i>")
    shot(page, "admin-users-en")

    # Chinese: a department below the first one, and a user in it
    page.get_by_role("link", name="中文").click()
    page.locator(".admin-nav").get_by_role("link", name="部门").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("部门")
    _department(page, "north_sales", "北方销售", "North sales", "创建部门", parent="north")
    expect(page.locator(".flash")).to_have_text("部门已创建。")
    page.locator(".crumbs a").first.click()
    expect(page.locator("#department-tree li li a")).to_have_text("北方销售")
    shot(page, "admin-departments-zh")
    page.locator(".admin-nav").get_by_role("link", name="用户").click()
    _user(page, "eve", "Eve-pass-1234", "north_sales", "创建用户")
    expect(page.locator(".flash")).to_have_text("用户已创建。")
    page.locator(".crumbs a").first.click()
    expect(page.locator("#users")).to_contain_text("北方销售")
    shot(page, "admin-users-zh")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="创建用户")).to_be_visible()
    shot(page, "admin-users-zh-390")
    assert dialogs == []  # the label with markup stayed text
    context.close()

    for username, password, department in (("dora", "Dora-pass-123", "north"),
                                           ("eve", "Eve-pass-1234", "north_sales")):
        status, body = server.api("GET", f"/api/v1/admin/users/{username}")
        assert status == 200 and body["department"] == department, body
        assert body["roles"] == ["sales"]
        status, body = server.api("POST", "/api/v1/auth/token",
                                  {"username": username, "password": password})
        assert status == 200, body  # the password typed on the page signs in
    status, body = server.api("GET", "/api/v1/admin/departments/north_sales")
    assert status == 200 and body["parent"] == "north"
