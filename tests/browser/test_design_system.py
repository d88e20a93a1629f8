"""The design system in a real browser (decision 0042): Tabler's stylesheet and icons are
served and applied on the main pages, at the desktop (1366 px) and phone (390 px) widths,
in Chinese and English, with screenshots written for review (``build/screenshots/``).

What is checked is what a user sees, read from the computed styles: buttons, form
controls and tables drawn by the design system, icons drawn at text size, the top bar's
second row of objects on a desktop and folded behind one menu on a phone, no page wider
than a phone's screen, and an empty list that says so with an icon."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page
from .test_accessibility import DESKTOP, PHONE, world  # noqa: F401 - the shared records

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PAGES = {"home": "/", "list": "/records/deal", "record": "/records/deal/1",
         "edit": "/records/deal/1/edit", "inbox": "/inbox"}


def _style(page: Any, selector: str, prop: str) -> str:
    return str(page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')"))


def _primary(page: Any) -> str:
    """The design system's primary colour as the browser computes it."""
    return str(page.evaluate("""() => { const d = document.createElement('div');
        d.style.color = 'var(--tblr-primary)'; document.body.append(d);
        const c = getComputedStyle(d).color; d.remove(); return c; }"""))


def _designed(page: Any) -> None:
    """The stylesheet is applied: Tabler's tokens are defined and its components drawn."""
    assert _style(page, "html", "--tblr-primary").strip(), "Tabler's stylesheet is not loaded"
    # An icon is an inline SVG drawn at about the text's size, not the file's 24 px.
    box = page.locator("#nav-inbox .icon").bounding_box()
    assert box is not None and 12 <= box["width"] <= 22, box


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_main_pages_wear_the_design_system(world: Server, browser: Any,  # noqa: F811
                                           lang: str) -> None:
    context, page, _ = sign_in_page(browser, world, "admin", ADMIN_PASSWORD, "/",
                                    viewport=DESKTOP)
    page.goto(f"{world.url}/?lang={lang}")
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for name, path in PAGES.items():
            answer = page.goto(world.url + path)
            assert answer is not None and answer.status == 200, path
            page.wait_for_load_state("load")
            _designed(page)
            # Nothing is wider than the screen (the page never scrolls sideways).
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"] + 1, (name, size)
            shot(page, f"design-{name}-{lang}-{size['width']}")
        page.goto(world.url + "/records/deal/1/edit")
        # Generated controls carry the design system's classes (and so its look).
        expect(page.locator("#title")).to_have_class("form-control")
        expect(page.locator("#stage")).to_have_class("form-select")
        assert _style(page, "#title", "border-top-left-radius") not in ("", "0px")
        # The primary action is filled with the accent colour, the one the current
        # object of the top bar is marked with.
        fill = _style(page, "form.record-form button.btn-primary", "background-color")
        assert fill not in ("", "rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), fill
        assert fill == _primary(page)
    context.close()


def test_top_bar_rows_on_desktop_and_folded_menu_on_phone(world: Server, browser: Any) -> None:  # noqa: F811
    context, page, _ = sign_in_page(browser, world, "admin", ADMIN_PASSWORD, "/records/deal",
                                    viewport=DESKTOP)
    brand = page.locator("header .brand").bounding_box()
    current = page.locator("nav.objects a[aria-current=page]").first
    expect(current).to_be_visible()
    row = current.bounding_box()
    assert brand is not None and row is not None and row["y"] > brand["y"] + brand["height"] - 1
    # The current object is marked by the accent colour, not by weight alone.
    assert _style(page, "nav.objects li.app-object a[aria-current=page]", "color") == _primary(page)
    page.set_viewport_size(PHONE)
    page.goto(world.url + "/records/deal")
    expect(page.locator("nav.objects li.app-object").first).to_be_hidden()
    expect(page.locator("#app-menu summary")).to_be_visible()
    # The list's rows become cards with their labels.
    first_cell = page.locator("table.records tbody tr").first.locator("td[data-label]").nth(1)
    assert _style(page, "table.records tbody tr", "display") == "block"
    expect(first_cell).to_be_visible()
    shot(page, "design-list-cards-390")
    context.close()


def test_an_empty_list_says_so_with_an_icon(world: Server, browser: Any) -> None:  # noqa: F811
    context, page, _ = sign_in_page(browser, world, "admin", ADMIN_PASSWORD,
                                    "/records/deal?title=nothing-like-this", viewport=DESKTOP)
    empty = page.locator("#list-empty")
    expect(empty).to_be_visible()
    expect(empty.locator("svg.icon")).to_be_visible()
    expect(empty).to_contain_text("No records match")
    shot(page, "design-empty-list-1366")
    context.close()
