"""Deletes ask first, in a real browser at 1366 px and 390 px, in Chinese and English: the
list's mass delete names the records and deletes only after "Yes"; the designer's app
delete asks and Cancel keeps the app; empty lists say so. Screenshots go to
build/screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

TEXTS = {
    "en": {"question": "Delete the selected records (2)?",
           "yes": "Yes, move them to the recycle bin", "app": "Delete the app Shelf goods?",
           "cancel": "Cancel", "empty": "No Crate records yet."},
    "zh": {"question": "删除所选的记录（2 条）？", "yes": "是，移入回收站",
           "app": "删除应用 货架？", "cancel": "取消", "empty": "还没有箱子记录"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width", [1366, 390])
def test_deletes_ask_first(server: Server, browser: Any, lang: str, width: int) -> None:
    t = TEXTS[lang]
    obj = f"crate_{lang}_{width}"
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", {
        "name": obj, "label": {"zh": "箱子", "en": "Crate"},
        "fields": [{"name": "title", "type": "text", "label": {"zh": "名称", "en": "Title"}}]})
    assert status == 201, body
    for title in ("Red", "Blue"):
        assert server.api("POST", f"/api/v1/records/{obj}", {"title": title})[0] == 201
    app = f"shelf_{lang}_{width}"
    status, body = server.api("POST", "/api/v1/meta/apps", {
        "name": app, "label": {"zh": "货架", "en": "Shelf goods"}, "objects": [obj]})
    assert status == 201, body

    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD, f"/records/{obj}",
                                    viewport={"width": width, "height": 900})
    page.goto(server.url + f"/records/{obj}?lang={lang}")
    page.locator("#select-all").check()
    page.locator("#mass-action").select_option("delete")
    page.locator("#mass button[type=submit]").click()
    expect(page.locator("#confirm-question")).to_have_text(t["question"])
    expect(page.locator("ul.confirm-names li")).to_have_count(2)
    shot(page, f"confirm-mass-delete-{width}-{lang}")
    page.get_by_role("link", name=t["cancel"]).click()  # nothing deleted
    expect(page.locator("table.records tbody tr")).to_have_count(2)
    page.locator("#select-all").check()
    page.locator("#mass-action").select_option("delete")
    page.locator("#mass button[type=submit]").click()
    page.get_by_role("button", name=t["yes"]).click()
    expect(page.locator("#list-empty")).to_contain_text(t["empty"])  # in the page's language
    shot(page, f"confirm-list-empty-{width}-{lang}")

    page.goto(server.url + f"/admin/apps/{app}?lang={lang}")
    page.locator("#delete-app button[type=submit]").click()
    expect(page.locator("#confirm-question")).to_have_text(t["app"])
    shot(page, f"confirm-app-delete-{width}-{lang}")
    page.get_by_role("link", name=t["cancel"]).click()
    assert server.api("GET", f"/api/v1/meta/apps/{app}")[0] == 200  # kept
    page.locator("#delete-app button[type=submit]").click()
    page.locator("#confirm-yes").click()
    expect(page).to_have_url(server.url + "/admin/apps")
    assert server.api("GET", f"/api/v1/meta/apps/{app}")[0] == 404
    context.close()
