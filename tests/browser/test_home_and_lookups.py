"""The home page and lookups in a real browser (decision 0037): home shows the approval
tasks, what needs attention and the recent records, at desktop and phone widths, in
English and Chinese; a lookup value is picked by typing part of its code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CLIENT = {"name": "client", "label": {"zh": "客户", "en": "Client"},
          "fields": [{"name": "name", "type": "text", "required": True,
                      "label": {"zh": "名称", "en": "Name"}},
                     {"name": "code", "type": "text", "unique": True,
                      "label": {"zh": "编码", "en": "Code"}}]}
VISIT = {"name": "visit", "label": {"zh": "拜访", "en": "Visit"},
         "fields": [{"name": "subject", "type": "text", "required": True,
                     "label": {"zh": "主题", "en": "Subject"}},
                    {"name": "due", "type": "date", "deadline": True,
                     "label": {"zh": "计划日期", "en": "Planned"}},
                    {"name": "client", "type": "lookup", "target": "client",
                     "label": {"zh": "客户", "en": "Client"}}]}
PROCESS = {"name": "visit_approval", "object": "visit",
           "steps": [{"name": "review", "mode": "single", "approvers": {"users": ["admin"]}}]}
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def _ok(server: Server, method: str, path: str, body: Any = None) -> Any:
    status, answer = server.api(method, path, body)
    assert status in (200, 201), (path, answer)
    return answer


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    server.sign_in_api()
    for doc in (CLIENT, VISIT):
        _ok(server, "POST", "/api/v1/meta/objects", doc)
    _ok(server, "POST", "/api/v1/meta/processes", PROCESS)
    for name, code in (("Acme Trading", "A-100"), ("Gamma Works", "G-300"),
                       ("Globex", "X-200")):
        _ok(server, "POST", "/api/v1/records/client", {"name": name, "code": code})
    late = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=4)).isoformat()
    _ok(server, "POST", "/api/v1/records/visit", {"subject": "Overdue visit", "due": late})
    submitted = _ok(server, "POST", "/api/v1/records/visit", {"subject": "Visit to approve"})
    _ok(server, "POST", "/api/v1/approvals", {"object": "visit", "record": submitted["id"]})
    return server


@pytest.mark.parametrize(("lang", "size"), [("en", "desktop"), ("zh", "phone"),
                                            ("zh", "desktop"), ("en", "phone")])
def test_home_sections_and_picking_a_lookup_by_typing(world: Server, browser: Any,
                                                     lang: str, size: str) -> None:
    context, page, dialogs = sign_in_page(browser, world, "admin", ADMIN_PASSWORD,
                                          "/records/client/1", viewport=SIZES[size])
    page.goto(world.url + f"/records/client/1?lang={lang}")  # remembered from here on
    # Pick a client by typing part of its code; the select offers "title · code".
    page.goto(world.url + "/records/visit/new")
    search = page.locator("input[name=q_client]")
    expect(search).to_be_visible()  # shown by the script
    with page.expect_response(lambda r: "/_options" in r.url):
        search.fill("g-3")
    select = page.locator("select#client")
    expect(select.locator("option")).to_have_count(2)
    select.select_option(label="Gamma Works · G-300")
    page.locator("input[name=subject]").fill(f"Visit {lang} {size}")
    shot(page, f"lookup-typed-{lang}-{size}")
    page.locator("form.record-form button[type=submit]").first.click()
    expect(page.locator(".flash")).to_be_visible()
    _chosen_on_the_form(page, "Gamma Works · G-300")

    page.goto(world.url + "/")
    tasks = page.locator("#home-tasks")
    expect(tasks.get_by_role("link", name="Visit to approve")).to_be_visible()
    attention = page.locator("#home-attention")
    expect(attention.get_by_role("link", name="Overdue visit")).to_be_visible()
    expect(attention.locator(".home-late")).to_contain_text(
        "计划日期" if lang == "zh" else "Planned")
    recent = page.locator("#home-recent")
    expect(recent.locator("li").first).to_contain_text(f"Visit {lang} {size}")
    expect(recent.get_by_role("link", name="Acme Trading")).to_be_visible()
    heading = "最近查看" if lang == "zh" else "Recent items"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("#home-dashboards .home-empty")).to_be_visible()
    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    shot(page, f"home-{lang}-{size}")
    recent.locator("li").first.get_by_role("link").click()
    _chosen_on_the_form(page, "Gamma Works · G-300")
    assert dialogs == []
    context.close()


def test_a_lookup_without_javascript_is_a_plain_select(world: Server, browser: Any) -> None:
    context, page, dialogs = sign_in_page(browser, world, "admin", ADMIN_PASSWORD,
                                          "/records/visit/new", viewport=SIZES["phone"],
                                          java_script_enabled=False)
    expect(page.locator("input[name=q_client]")).to_be_hidden()  # it could only save
    select = page.locator("select#client")
    select.select_option(label="Globex · X-200")
    page.locator("input[name=subject]").fill("Visit without scripts")
    page.locator("form.record-form button[type=submit]").first.click()
    expect(page.locator(".flash")).to_be_visible()
    _chosen_on_the_form(page, "Globex · X-200")
    shot(page, "lookup-no-script-en-phone")
    assert dialogs == []
    context.close()


def _chosen_on_the_form(page: Any, title: str) -> None:
    """The saved record opens on its read view; its form shows the lookup's choice."""
    page.wait_for_load_state("load")
    page.goto(page.url.split("?")[0].rstrip("/") + "/edit")
    expect(page.locator("select#client option:checked")).to_have_text(title)
