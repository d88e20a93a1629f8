"""The role editor in a real browser (decision 0040), at 1366 px and 390 px, in English and
Chinese: an administrator filters a role's many objects down to one, ticks a whole column
for the objects shown, grants a whole row, sets every field of the object at once, saves
that object alone (the other objects' grants stay as stored) and copies the role."""

from __future__ import annotations

from typing import Any

import pytest

from crmforge.metadata.validation import OPERATIONS

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DEAL = {"name": "deal", "label": {"zh": "商机", "en": "Deal"}, "fields": [
    {"name": "title", "type": "text", "label": {"zh": "标题", "en": "Title"}},
    {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}}]}
OTHER = {"operations": ["read"], "scope": "own"}
WORDS = {"en": {"find": "deal", "count": "1 of 13 objects shown", "saved": "Permissions on Deal saved.",
                "copied": "Role copied.", "copy": "Copy role"},
         "zh": {"find": "商机", "count": "显示 1 / 13 个对象", "saved": "已保存对“商机”的权限。",
                "copied": "角色已复制。", "copy": "复制角色"}}


def _world(server: Server, role: str) -> None:
    """Thirteen objects (once per module) and a role granting reads on all but deals."""
    server.sign_in_api()
    status, _ = server.api("GET", "/api/v1/meta/objects/deal")
    if status == 404:
        status, body = server.api("POST", "/api/v1/meta/objects", DEAL)
        assert status == 201, body
        for i in range(12):
            status, body = server.api("POST", "/api/v1/meta/objects", {
                "name": f"object_{i:02d}", "label": {"zh": f"对象 {i:02d}", "en": f"Object {i:02d}"},
                "fields": [{"name": "title", "type": "text"}]})
            assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/roles", {
        "name": role, "label": {"zh": "销售员", "en": "Seller"},
        "permissions": {f"object_{i:02d}": OTHER for i in range(12)}})
    assert status == 201, body


@pytest.mark.parametrize("width,lang", [(1366, "en"), (390, "zh"), (1366, "zh"), (390, "en")])
def test_filter_open_grant_a_row_and_copy(server: Server, browser: Any, width: int,
                                          lang: str) -> None:
    role = f"seller_{lang}_{width}"
    _world(server, role)
    words = WORDS[lang]
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                          f"/admin/roles/{role}",
                                          viewport={"width": width, "height": 900})
    page.goto(server.url + f"/admin/roles/{role}?lang={lang}")
    page.wait_for_load_state("load")
    expect(page.locator("#grants tbody tr[data-filter]")).to_have_count(13)
    shot(page, f"role-editor-all-{width}-{lang}")
    page.locator("#role-filter").fill(words["find"])
    expect(page.locator("#grant-deal")).to_be_visible()
    expect(page.locator("#grant-object_00")).to_be_hidden()
    expect(page.locator("#role-filter-count")).to_have_text(words["count"])

    # A column for the objects shown only, then the whole row, then every field at once.
    page.locator("button[data-column=export]").click()
    expect(page.locator("#op-deal-export")).to_be_checked()
    expect(page.locator("#op-object_00-export")).not_to_be_checked()
    page.locator("#grant-deal button[name=row]").click()
    for op in OPERATIONS:
        expect(page.locator(f"#op-deal-{op}")).to_be_checked()
    page.locator("#scope-deal").select_option("department")
    page.locator("#grant-deal summary").click()
    page.locator("#all-access-deal").select_option("read")
    page.locator("#grant-deal button[name=all_fields]").click()
    expect(page.locator("#field-deal-amount")).to_have_value("read")
    expect(page.locator("#field-deal-title")).to_have_value("read")
    shot(page, f"role-editor-{width}-{lang}")
    page.locator("#grant-deal button[name=only]").click()
    expect(page.locator(".flash")).to_have_text(words["saved"])

    status, body = server.api("GET", f"/api/v1/admin/roles/{role}")
    assert status == 200
    assert body["permissions"]["deal"] == {"operations": list(OPERATIONS), "scope": "department",
                                           "fields": {"title": "read", "amount": "read"}}
    for i in range(12):  # the objects hidden by the filter stay as stored
        assert body["permissions"][f"object_{i:02d}"] == OTHER

    page.locator("#in-copy_name").fill(f"{role}_copy")
    page.locator("#in-copy_label_zh").fill("销售员副本")
    page.locator("#in-copy_label_en").fill("Seller copy <b>x</b>")
    page.get_by_role("button", name=words["copy"]).click()
    expect(page.locator(".flash")).to_have_text(words["copied"])
    expect(page).to_have_url(server.url + f"/admin/roles/{role}_copy")
    shot(page, f"role-editor-copied-{width}-{lang}")
    status, copied = server.api("GET", f"/api/v1/admin/roles/{role}_copy")
    assert status == 200
    assert copied == {**body, "name": f"{role}_copy",
                      "label": {"zh": "销售员副本", "en": "Seller copy <b>x</b>"}}
    assert dialogs == []
    context.close()
