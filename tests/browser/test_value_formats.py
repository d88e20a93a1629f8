"""Values as people expect them, in a real browser (decision 0038): a list and a record show
amounts with their currency, numbers with separators, percentages, dates and times in the
tenant's zone and phone numbers by region, in Chinese and English, at 1366 px and 390 px;
the record's inputs keep ISO values. Screenshots go to build/screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

ORDER: dict[str, Any] = {
    "name": "fmt_order", "label": {"zh": "订单", "en": "Order"},
    "fields": [
        {"name": "title", "type": "text", "label": {"zh": "名称", "en": "Title"}},
        {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
        {"name": "discount", "type": "percent", "label": {"zh": "折扣", "en": "Discount"}},
        {"name": "quantity", "type": "integer", "label": {"zh": "数量", "en": "Quantity"}},
        {"name": "signed_on", "type": "date", "label": {"zh": "签约日期", "en": "Signed on"}},
        {"name": "call_at", "type": "datetime", "label": {"zh": "回访时间", "en": "Call at"}},
        {"name": "mobile", "type": "phone", "label": {"zh": "手机", "en": "Mobile"}},
    ],
}
LIST = {"list": {"columns": ["title", "amount", "discount", "quantity", "signed_on",
                             "call_at", "mobile"]}}
#: (en, zh) of each column; 18:30 UTC on 7 December is 02:30 on the 8th in Shanghai.
SHOWN = {
    "amount": ("-CN¥1,234,567.50", "-¥1,234,567.50"),
    "discount": ("12.5%", "12.5%"),
    "quantity": ("12,000", "12,000"),
    "signed_on": ("Mar 5, 2026", "2026年3月5日"),
    "call_at": ("Dec 8, 2026, 2:30\u202fAM", "2026年12月8日 02:30"),
    "mobile": ("138 0013 8000", "138 0013 8000"),
}


def _order(server: Server) -> int:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", ORDER)
    assert status in (201, 409), body  # the second language's run finds it made
    status, body = server.api("PUT", "/api/v1/meta/objects/fmt_order/layout", LIST)
    assert status == 200, body
    status, found = server.api("GET", "/api/v1/records/fmt_order?title=Big%20order")
    if found["items"]:
        return int(found["items"][0]["id"])
    status, made = server.api("POST", "/api/v1/records/fmt_order", {
        "title": "Big order", "amount": "-1234567.5", "discount": "12.5", "quantity": 12000,
        "signed_on": "2026-03-05", "call_at": "2026-12-07T18:30:00Z",
        "mobile": "+86 138 0013 8000"})
    assert status == 201, made
    assert made["amount"] == "-1234567.50" and made["mobile"] == "+8613800138000"
    return int(made["id"])


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width", [1366, 390])
def test_list_and_record_show_formatted_values(server: Server, browser: Any, lang: str,
                                               width: int) -> None:
    rid = _order(server)
    i = 0 if lang == "en" else 1
    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                    "/records/fmt_order",
                                    viewport={"width": width, "height": 900})
    page.goto(server.url + f"/records/fmt_order?lang={lang}")
    row = page.locator("table.records tbody tr").first
    cells = row.locator("td")
    for n, name in enumerate(LIST["list"]["columns"][1:], start=1):
        # an editable cell's value sits beside its edit link (✎)
        value = cells.nth(n).locator(".cell-value")
        expect(value if value.count() else cells.nth(n)).to_have_text(SHOWN[name][i])
    shot(page, f"formats-list-{width}-{lang}")

    page.goto(server.url + f"/records/fmt_order/{rid}/edit?lang={lang}")
    # the inputs keep ISO values (the time in the page's zone), so editing round-trips
    expect(page.locator("#call_at")).to_have_value("2026-12-08T02:30")
    expect(page.locator("#amount")).to_have_value("-1234567.50")
    expect(page.locator("#mobile")).to_have_value("+8613800138000")
    history = page.locator("section.history")
    expect(history).to_contain_text(SHOWN["amount"][i])
    expect(history).to_contain_text(SHOWN["call_at"][i])
    shot(page, f"formats-record-{width}-{lang}")

    # a wrong number is refused beside its field, in the page's language
    page.locator("#mobile").fill("12345")
    page.get_by_role("button", name="Save" if lang == "en" else "保存").click()
    expect(page.locator("#err-mobile")).to_contain_text(
        "is not a valid phone number" if lang == "en" else "不是有效的电话号码")
    shot(page, f"formats-phone-error-{width}-{lang}")
    context.close()
