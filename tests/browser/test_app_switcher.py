"""The app switcher in a real browser (decision 0034), at 1366 px and at 390 px, in Chinese
and English: the switcher lists the apps, choosing one shows its objects, and on a narrow
screen the app's objects fold behind one button. Screenshots go to build/screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

OBJECTS = [("deal", "商机", "Deal"), ("client", "客户", "Client"), ("ticket", "工单", "Ticket"),
           ("invoice", "发票", "Invoice")]
APPS = [{"name": "sales", "label": {"zh": "销售", "en": "Sales"},
         "objects": ["client", "deal", "invoice"]},
        {"name": "service", "label": {"zh": "服务", "en": "Service"},
         "objects": ["ticket", "client"]}]


@pytest.mark.parametrize(("lang", "labels"), [("en", ("Sales", "Service", "Deal", "Ticket",
                                                      "Objects (3)")),
                                              ("zh", ("销售", "服务", "商机", "工单",
                                                      "对象（3）"))])
def test_switch_apps_wide_and_narrow(server: Server, browser: Any, lang: str,
                                     labels: tuple[str, ...]) -> None:
    sales, service, deal, ticket, folded = labels
    server.sign_in_api()
    for name, zh, en in OBJECTS:
        status, body = server.api("POST", "/api/v1/meta/objects", {
            "name": name, "label": {"zh": zh, "en": en},
            "fields": [{"name": "title", "type": "text"}]})
        assert status in (201, 409), body  # the second language's run finds them made
    for app in APPS:
        status, body = server.api("POST", "/api/v1/meta/apps", app)
        assert status in (201, 422), body

    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                    "/records/deal",
                                    viewport={"width": 1366, "height": 800})
    page.goto(server.url + f"/records/deal?lang={lang}&app=sales")
    switch = page.locator("#app-switch")
    expect(switch.locator("summary")).to_contain_text(sales)
    objects = page.locator("nav.objects li.app-object")
    expect(objects.get_by_role("link", name=deal)).to_be_visible()
    expect(page.locator("#app-menu")).to_be_hidden()
    switch.locator("summary").click()
    shot(page, f"apps-switcher-1366-{lang}")
    switch.get_by_role("link", name=service).click()
    expect(switch.locator("summary")).to_contain_text(service)
    expect(objects.get_by_role("link", name=ticket)).to_be_visible()
    expect(objects.get_by_role("link", name=deal)).to_have_count(0)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/records/deal?app=sales")
    expect(objects.first).to_be_hidden()  # the objects fold behind one button
    menu = page.locator("#app-menu summary")
    expect(menu).to_be_visible()
    expect(menu).to_have_text(folded)
    menu.click()
    expect(page.locator("#app-menu").get_by_role("link", name=deal)).to_be_visible()
    expect(page.locator(".error")).to_have_count(0)  # ?app= is no filter of the list
    shot(page, f"apps-switcher-390-{lang}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing wider than the screen
    context.close()
