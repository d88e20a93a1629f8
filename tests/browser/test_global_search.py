"""Global search from the top bar in a real browser (the workspace's "global search
across the objects a user may read, finding Chinese names by pinyin and initials"): a
business user finds 张三贸易 by ``zhangsan`` and by ``zs``, grouped under its object's
label, in Chinese and English, at the desktop and phone widths, with screenshots written
for review; a search that finds nothing says what to try."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, shot, sign_in_page
from .test_accessibility import BEA_PASSWORD, DESKTOP, PHONE, world  # noqa: F401

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

LABEL = {"en": "Account", "zh": "客户"}
NOTHING = {"en": "Nothing matches", "zh": "匹配的记录"}


@pytest.fixture(scope="module")
def named(world: Server) -> Server:  # noqa: F811
    status, answer = world.api("POST", "/api/v1/records/account", {"company": "张三贸易"})
    assert status == 201, answer
    return world


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_chinese_name_is_found_by_pinyin_and_initials(named: Server, browser: Any,
                                                        lang: str, size: dict[str, int]) -> None:
    context, page, _ = sign_in_page(browser, named, "bea", BEA_PASSWORD, "/", viewport=size)
    page.goto(f"{named.url}/?lang={lang}")
    for typed in ("zhangsan", "zs"):
        box = page.locator("#top-search-q")
        box.fill(typed)
        box.press("Enter")
        page.wait_for_load_state("load")
        found = page.get_by_role("link", name="张三贸易")
        expect(found).to_be_visible()
        expect(page.locator("main")).to_contain_text(LABEL[lang])
        shot(page, f"search-{typed}-{lang}-{size['width']}")
    found.click()
    expect(page.locator("h1")).to_contain_text("张三贸易")
    page.locator("#top-search-q").fill("qqqxxx")
    page.locator("#top-search-q").press("Enter")
    expect(page.locator(".search-none")).to_contain_text(NOTHING[lang])
    context.close()
