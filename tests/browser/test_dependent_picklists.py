"""A dependent picklist in the generated form: the province select offers only the
provinces of the chosen country, drops a choice that no longer fits, and the record saves
with a pair that goes together."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from ..integration.test_dependent_picklists import SITE
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


def _offered(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(
        "select[name='province'] option", "os => os.filter(o => o.value && !o.disabled)"
        ".map(o => o.value)"))


def test_the_form_offers_only_provinces_of_the_country(server: Server, browser: Any) -> None:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", SITE)
    assert status == 201, body
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                      "/records/site/new")
    try:
        assert _offered(page) == ["other"]  # no country yet
        page.get_by_label("Country").select_option("cn")
        assert _offered(page) == ["zhejiang", "other"]
        page.get_by_label("Province").select_option("zhejiang")
        page.get_by_label("Country").select_option("us")
        assert _offered(page) == ["texas", "other"]
        assert page.get_by_label("Province").input_value() == ""  # zhejiang was dropped
        page.get_by_label("Province").select_option("texas")
        page.get_by_label("Title").fill("Austin office")
        shot(page, "dependent-picklist-en")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("h1")).to_contain_text("Austin office")
        status, listing = server.api("GET", "/api/v1/records/site?title=Austin%20office")
        assert [(r["country"], r["province"]) for r in listing["items"]] == [("us", "texas")]
        assert dialogs == []
    finally:
        context.close()
