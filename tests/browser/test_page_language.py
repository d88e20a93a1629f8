"""Every message a page shows in the page's language, in a real browser (the workspace's
"every message in the page's language"): a refused sign-in, a refused form with its
messages beside the inputs, a missing record named by its object's label (never its API
name) and a refused filter, in Chinese and English, at the desktop and phone widths, with
screenshots written for review (``build/screenshots/``)."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page
from .test_accessibility import DESKTOP, PHONE, world  # noqa: F401 - the shared records

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

#: What each message reads in each language (the zh catalog's translations).
SAY = {
    "en": {"sign_in": "Sign in", "wrong": "wrong username or password", "required": "is required",
           "missing": "no Deal record 99999", "bad_filter": ("Amount", "is not a number")},
    "zh": {"sign_in": "登录", "wrong": "用户名或密码错误", "required": "必填",
           "missing": "不存在 商机 记录 99999", "bad_filter": ("金额", "不是数字")},
}


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_refusals_are_in_the_pages_language(world: Server, browser: Any,  # noqa: F811
                                            lang: str, size: dict[str, int]) -> None:
    say = SAY[lang]
    # A refused sign-in.
    context = browser.new_context(locale="en-US", viewport=size)
    page = context.new_page()
    page.goto(f"{world.url}/login?lang={lang}")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill("not-the-password")
    page.get_by_role("button", name=say["sign_in"]).click()
    expect(page.locator("main")).to_contain_text(say["wrong"])
    shot(page, f"language-login-{lang}-{size['width']}")
    context.close()

    context, page, _ = sign_in_page(browser, world, "admin", ADMIN_PASSWORD, "/",
                                    viewport=size)
    page.goto(f"{world.url}/?lang={lang}")
    # A form sent without its required title: the message beside the input.
    page.goto(f"{world.url}/records/deal/new")
    page.locator("form.record-form button[type=submit]").first.click()
    expect(page.locator("#err-title")).to_have_text(say["required"])
    shot(page, f"language-form-{lang}-{size['width']}")
    # A missing record, named by its object's label.
    answer = page.goto(f"{world.url}/records/deal/99999")
    assert answer is not None and answer.status == 404
    expect(page.locator("main")).to_contain_text(say["missing"])
    assert "deal record" not in page.locator("main").inner_text()
    shot(page, f"language-missing-{lang}-{size['width']}")
    # A filter the field cannot take: refused, naming the field by its label.
    answer = page.goto(f"{world.url}/records/deal?amount__gte=lots")
    assert answer is not None and answer.status == 400
    for part in say["bad_filter"]:
        expect(page.locator("main [role=alert]").first).to_contain_text(part)
    assert "amount__gte" not in page.locator("main [role=alert]").first.inner_text()
    shot(page, f"language-filter-{lang}-{size['width']}")
    context.close()
