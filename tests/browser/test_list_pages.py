"""The list page in a real browser, at 1366 and 390 px, in English and Chinese: a user
filters with the controls of each field's type (a number, a date picker, a picklist's
choices), the filters land in the address, changes the columns, edits a cell in place,
and moves cards on the board by a picklist: a drag that the record's rules accept stays,
one they refuse snaps back with the reason (on a phone, the card's own move form)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PASSWORD = "Kim-pass-12345"
WORDS = {
    "en": {"amount": "Amount", "closes": "Closes", "stage": "Stage", "won": "Won",
           "columns": "Columns", "save": "Save columns", "add": "Add filter",
           "board": "Board by Stage", "refused": "A won deal needs a price", "move": "Move",
           "count": "1–4 of 4"},
    "zh": {"amount": "金额", "closes": "结束日", "stage": "阶段", "won": "赢单",
           "columns": "列", "save": "保存列", "add": "添加筛选",
           "board": "看板：按阶段", "refused": "赢单需要金额", "move": "移动",
           "count": "第 1–4 条，共 4 条"},
}
CASES = [(1366, "en"), (1366, "zh"), (390, "en"), (390, "zh")]


def _object(name: str) -> dict[str, Any]:
    return {
        "name": name, "label": {"zh": "商机", "en": "Deal"},
        "fields": [
            {"name": "title", "type": "text", "required": True, "searchable": True,
             "label": {"zh": "标题", "en": "Title"}},
            {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
            {"name": "closes", "type": "date", "label": {"zh": "结束日", "en": "Closes"}},
            {"name": "owner_note", "type": "text", "label": {"zh": "备注", "en": "Note"}},
            {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
             "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                         {"value": "won", "label": {"zh": "赢单", "en": "Won"}}]},
        ],
        "validation_rules": [{
            "name": "won_needs_amount", "condition": "stage != 'won' or amount > 0",
            "message": {"zh": "赢单需要金额", "en": "A won deal needs a price"},
            "field": "amount"}],
    }


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    server.sign_in_api()
    for width, lang in CASES:
        name = f"deal_{lang}_{width}"
        status, body = server.api("POST", "/api/v1/meta/objects", _object(name))
        assert status == 201, body
        for title, amount, closes, stage in (
                ("Alpha", "50", "2024-05-01", "new"), ("Beta", "0", "2024-06-01", "new"),
                ("Gamma", "80", "2024-01-01", "new"), ("Delta", "20", "2024-07-01", "won"),
                ("Omega", "90", "2024-08-01", "new"), ("Zeta", "70", "2024-09-01", "won")):
            status, body = server.api("POST", f"/api/v1/records/{name}", {
                "title": title, "amount": amount, "closes": closes, "stage": stage})
            assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/roles", {
        "name": "seller", "permissions": {
            f"deal_{lang}_{width}": {"operations": ["read", "update"], "scope": "all"}
            for width, lang in CASES}})
    assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/users", {
        "username": "kim", "password": PASSWORD, "roles": ["seller"]})
    assert status == 201, body
    return server


@pytest.mark.parametrize(("width", "lang"), CASES)
def test_filter_columns_and_board(world: Server, browser: Any, width: int, lang: str) -> None:
    name = f"deal_{lang}_{width}"
    w = WORDS[lang]
    context, page, _ = sign_in_page(browser, world, "kim", PASSWORD,
                                    f"/records/{name}?sort=title",
                                    viewport={"width": width, "height": 900})
    page.goto(f"{world.url}/records/{name}?sort=title&lang={lang}")
    # A number: choosing the field shows its conditions (no "contains") and a number box.
    page.locator("#ff").select_option(label=w["amount"])
    expect(page.locator("#fo")).to_be_visible()
    expect(page.locator("#fo option[value=contains]")).to_have_count(0)
    expect(page.locator("#fv")).to_have_attribute("type", "number")
    page.locator("#fo").select_option("gte")
    page.locator("#fv").fill("30")
    page.locator("#fv").press("Enter")  # Enter adds the filter, as the button does
    expect(page).to_have_url(f"{world.url}/records/{name}?sort=title&amount__gte=30")
    # A date: a date picker, and "between" shows the second end.
    page.locator("#ff").select_option(label=w["closes"])
    expect(page.locator("#fv")).to_have_attribute("type", "date")
    page.locator("#fo").select_option("between")
    expect(page.locator("#fv2")).to_be_visible()
    page.locator("#fv").fill("2024-02-01")
    page.locator("#fv2").fill("2024-09-30")
    shot(page, f"list-filter-form-{lang}-{width}")
    page.get_by_role("button", name=w["add"]).click()
    # A picklist: its choices, labelled in the page's language.
    page.locator("#ff").select_option(label=w["stage"])
    page.get_by_label(w["won"], exact=True).check()
    page.get_by_role("button", name=w["add"]).click()
    expect(page).to_have_url(
        f"{world.url}/records/{name}?sort=title&amount__gte=30"
        "&closes__between=2024-02-01%2C2024-09-30&stage=won")
    rows = page.locator("table.records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Zeta")
    expect(page.locator(".chips li")).to_have_count(3)
    shot(page, f"list-filters-{lang}-{width}")
    # Back to all, then the columns: drop the date, add the note.
    page.goto(f"{world.url}/records/{name}?sort=title")
    expect(page.locator("#list-count")).to_have_text(w["count"].replace("4", "6"))
    page.locator("details.columns-picker summary").click()
    page.locator("#columns-form input[value=closes]").uncheck()
    page.locator("#columns-form input[value=owner_note]").check()
    page.get_by_role("button", name=w["save"]).click()
    heads = page.locator("table.records thead [data-field]")
    expect(heads.filter(has_text=w["closes"])).to_have_count(0)
    expect(page.locator("table.records thead [data-field=owner_note]")).to_have_count(1)
    shot(page, f"list-columns-{lang}-{width}")
    # A cell edited in place (htmx): the form replaces the cell, the value replaces it.
    gamma = page.locator("table.records tbody tr", has_text="Gamma")
    gamma.locator("td[data-label] a.cell-edit").first.click()
    box = gamma.locator("form.cell-form input[name=amount]")
    expect(box).to_be_visible()
    box.fill("85")
    gamma.locator("form.cell-form button[type=submit]").click()
    expect(gamma.locator("form.cell-form")).to_have_count(0)
    expect(gamma).to_contain_text("85.00")
    shot(page, f"list-cell-{lang}-{width}")
    # The board by stage.
    page.get_by_role("link", name=w["board"]).click()
    new = page.locator("[data-kanban-column][data-value=new]")
    won = page.locator("[data-kanban-column][data-value=won]")
    expect(new.locator(".kanban-card")).to_have_count(4)
    problem = page.locator("#board-problem")
    if width >= 1000:
        # Dragged: accepted, then refused (Beta has no amount) and put back.
        _drag(page, new.locator(".kanban-card", has_text="Alpha"), won)
        expect(won.locator(".kanban-card", has_text="Alpha")).to_have_count(1)
        expect(page.locator(".kanban-card", has_text="Alpha")).not_to_have_attribute(
            "aria-busy", "true")
        _drag(page, new.locator(".kanban-card", has_text="Beta"), won)
        expect(problem).to_be_visible()
        expect(problem).to_contain_text(w["refused"])
        expect(new.locator(".kanban-card", has_text="Beta")).to_have_count(1)
        expect(won.locator(".kanban-card", has_text="Beta")).to_have_count(0)
        shot(page, f"list-board-refused-{lang}-{width}")
        page.reload()
        expect(won.locator(".kanban-card", has_text="Alpha")).to_have_count(1)
        expect(new.locator(".kanban-card", has_text="Beta")).to_have_count(1)
    else:
        # On a phone: the card's own form.
        alpha = new.locator(".kanban-card", has_text="Alpha")
        alpha.locator("select").select_option("won")
        alpha.get_by_role("button", name=w["move"]).click()
        expect(won.locator(".kanban-card", has_text="Alpha")).to_have_count(1)
        beta = new.locator(".kanban-card", has_text="Beta")
        beta.locator("select").select_option("won")
        beta.get_by_role("button", name=w["move"]).click()
        expect(problem).to_contain_text(w["refused"])
        expect(new.locator(".kanban-card", has_text="Beta")).to_have_count(1)
        shot(page, f"list-board-refused-{lang}-{width}")
    context.close()


def _drag(page: Any, card: Any, target: Any) -> None:
    """Drag with the mouse in small steps, as a person does (SortableJS follows the
    pointer, not a synthetic drop)."""
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    goal = target.bounding_box()
    x, y = box["x"] + box["width"] - 6, box["y"] + 6  # the card's corner, not its link
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 5, y + 5, steps=3)
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] - 10, steps=15)
    page.mouse.up()
