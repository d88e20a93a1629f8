"""Accessibility of the main pages, checked with axe-core in a real browser: the sign-in
page, home, a list, a record (read view and edit form), the new-record form, the inbox, a
dashboard, search results, the recycle bin and the people admin pages, for an
administrator and a business user, in Chinese and English. Every page is checked at the
desktop width (1366 px); the pages a business user lives in (home, list, record, edit,
new) also at the phone width (390 px). Any violation of a WCAG 2 A/AA rule that axe rates
"serious" or "critical" fails the test, listed with its rule, impact, elements and page.

axe is evaluated in the page through the browser's debugging protocol, which the page's
Content-Security-Policy does not govern: the pages are checked exactly as served, with
their real policy (docs/decisions/0039-accessibility-checks.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmforge.runtime.designer import Designer
from crmforge.security.accounts import principal_of

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
#: What fails the check; "moderate" and "minor" findings are printed, not failed.
FAILING = ("serious", "critical")
#: WCAG 2.0, 2.1 and 2.2 A/AA, and axe's best practices (landmarks, headings).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

DEAL = {
    "name": "deal", "label": {"zh": "商机", "en": "Deal"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "searchable": True,
         "label": {"zh": "标题", "en": "Title"}},
        {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
         "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                     {"value": "won", "label": {"zh": "赢单", "en": "Won"}}]},
        {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
        {"name": "close", "type": "date", "label": {"zh": "预计成交", "en": "Close date"}},
        {"name": "hot", "type": "boolean", "label": {"zh": "重点", "en": "Hot"}},
        {"name": "note", "type": "textarea", "label": {"zh": "备注", "en": "Note"}},
        {"name": "account", "type": "lookup", "target": "account",
         "label": {"zh": "客户", "en": "Account"}},
    ],
}
ACCOUNT = {"name": "account", "label": {"zh": "客户", "en": "Account"},
           "fields": [{"name": "company", "type": "text", "required": True,
                       "searchable": True, "label": {"zh": "公司", "en": "Company"}}]}
PROCESS = {"name": "deal_approval", "object": "deal",
           "steps": [{"name": "review", "mode": "single", "approvers": {"users": ["bea"]}}]}
BOARD = {"name": "deals", "label": {"zh": "商机概览", "en": "Deals overview"},
         "charts": [{"object": "deal", "type": "bar", "field": "stage",
                     "label": {"zh": "各阶段商机", "en": "Deals by stage"}}]}
BEA_PASSWORD = "Bea-pass-1234"


def _ok(server: Server, method: str, path: str, body: Any = None) -> Any:
    status, answer = server.api(method, path, body)
    assert status in (200, 201, 204), (path, status, answer)
    return answer


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    """Records, a dashboard, an open approval task for the business user, a department,
    and a record in the recycle bin: every checked page has something to show."""
    server.sign_in_api()
    _ok(server, "POST", "/api/v1/meta/objects", ACCOUNT)
    account = _ok(server, "POST", "/api/v1/records/account", {"company": "Acme Trading"})
    _ok(server, "POST", "/api/v1/meta/objects", DEAL)
    _ok(server, "POST", "/api/v1/admin/departments",
        {"name": "east", "label": {"zh": "华东", "en": "East"}, "parent": None})
    _ok(server, "POST", "/api/v1/admin/roles", {
        "name": "seller", "label": {"zh": "销售", "en": "Seller"},
        "permissions": {"deal": {"operations": ["create", "read", "update", "delete", "submit"],
                                 "scope": "all"},
                        "account": {"operations": ["read"], "scope": "all"}}})
    _ok(server, "POST", "/api/v1/admin/users", {"username": "bea", "password": BEA_PASSWORD,
                                                "department": "east", "roles": ["seller"]})
    _ok(server, "POST", "/api/v1/meta/processes", PROCESS)
    ids = [_ok(server, "POST", "/api/v1/records/deal",
               {"title": title, "stage": stage, "amount": amount, "close": "2026-12-31",
                "hot": hot, "note": "Call back on Monday", "account": account["id"]})["id"]
           for title, stage, amount, hot in (("Alpha deal", "new", "1200", True),
                                             ("Beta deal", "won", "800", False),
                                             ("Gamma deal", "new", "50", False))]
    _ok(server, "POST", "/api/v1/approvals", {"object": "deal", "record": ids[1]})
    # The administrator's note on the first deal: its edit and delete pages are checked.
    note = _ok(server, "POST", f"/api/v1/records/deal/{ids[0]}/notes",
               {"body": "Check the budget", "follow_up": "2027-01-15"})
    assert (ids[0], note["id"]) == (1, 1), (ids, note)
    _ok(server, "DELETE", f"/api/v1/records/deal/{ids[2]}")
    assert server.instance is not None
    tenant = server.instance.tenant("default")
    with tenant.read() as conn:
        Designer(tenant).set_dashboard(principal_of(conn, "admin"), BOARD)
    return server


#: The pages every signed-in user gets, and those also checked at the phone width.
MAIN = ["/", "/records/deal", "/records/deal/1", "/records/deal/1/edit", "/records/deal/new"]
MORE = ["/inbox", "/dashboards/deals", "/search?q=deal", "/recycle-bin",
        "/records/deal/1/delete", "/settings/delegation", "/settings/display",
        "/imports"]
ADMIN = ["/admin/users", "/admin/departments", "/admin/users/bea", "/admin/departments/east",
         "/records/deal/1/notes/1/edit", "/records/deal/1/notes/1/delete",
         "/records/deal/1?deleted_note=1"]


def _axe(page: Any, state: str = "") -> list[str]:
    """The serious and critical violations of the page as shown now, one line per rule:
    rule id, impact, the selectors of its elements and the page (``state`` names what
    was done on it). Milder findings are printed, not failed."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
                           " resultTypes: ['violations']})", TAGS)
    where = f"{page.url}{' ' + state if state else ''} [{page.viewport_size['width']}px]"
    found = []
    for v in result["violations"]:
        targets = ", ".join(" ".join(n["target"]) for n in v["nodes"][:6])
        line = f"{where}: {v['id']} ({v['impact']}): {v['help']} -- {targets}"
        if v["impact"] in FAILING:
            found.append(line)
        else:
            print("accessibility note:", line)
    return found


def _check(page: Any, url: str, found: list[str]) -> None:
    answer = page.goto(url)
    assert answer is not None and answer.status == 200, url
    page.wait_for_load_state("load")
    if "/dashboards/" in url:
        expect(page.locator("#chart-0 svg")).to_be_visible()  # checked as drawn by ECharts
    found.extend(_axe(page))


def _form_states(page: Any, server: Server, found: list[str]) -> None:
    """The states a form passes through: refused with errors beside the inputs, then
    saved with the confirmation shown."""
    page.goto(server.url + "/records/deal/new")
    page.locator("form.record-form button[type=submit]").first.click()
    expect(page.locator("#err-title")).to_be_visible()
    found.extend(_axe(page, "refused"))
    page.goto(server.url + "/records/deal/1/edit")
    page.locator("form.record-form button[type=submit]").first.click()
    expect(page.locator(".flash")).to_be_visible()
    found.extend(_axe(page, "saved"))


def _require_axe() -> None:
    assert AXE.exists(), f"axe-core is missing at {AXE}: run `npm ci` (a dev dependency)"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sign_in_page_has_no_serious_violations(server: Server, browser: Any,
                                                lang: str) -> None:
    _require_axe()
    found: list[str] = []
    context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = context.new_page()
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        _check(page, f"{server.url}/login?lang={lang}", found)
        shot(page, f"a11y-login-{lang}-{size['width']}")
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    context.close()
    assert not found, "accessibility violations:\n" + "\n".join(found)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("user", ["admin", "bea"])
def test_main_pages_have_no_serious_violations(world: Server, browser: Any, user: str,
                                               lang: str) -> None:
    _require_axe()
    password = ADMIN_PASSWORD if user == "admin" else BEA_PASSWORD
    context, page, dialogs = sign_in_page(browser, world, user, password, "/",
                                          viewport=DESKTOP)
    page.goto(f"{world.url}/?lang={lang}")  # remembered from here on
    found: list[str] = []
    pages = MAIN + MORE + (ADMIN if user == "admin" else [])
    for path in pages:
        _check(page, world.url + path, found)
    shot(page, f"a11y-last-{user}-{lang}-1366")
    _form_states(page, world, found)
    page.set_viewport_size(PHONE)
    for path in MAIN:
        _check(page, world.url + path, found)
    page.locator("#app-menu summary").click()  # the folded navigation, opened
    expect(page.locator("#app-menu details")).to_have_attribute("open", "")
    found.extend(_axe(page, "menu open"))
    shot(page, f"a11y-menu-{user}-{lang}-390")
    _form_states(page, world, found)
    # Still in the chosen language (the check is about that language's pages).
    expected = "zh-CN" if lang == "zh" else "en"
    assert page.evaluate("document.documentElement.lang") == expected
    context.close()
    assert dialogs == []
    assert not found, "accessibility violations:\n" + "\n".join(found)
