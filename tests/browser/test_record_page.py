"""The record page in Chromium (decision 0035), at 1366 px and 390 px, in Chinese and in
English: it opens on its read view with the stage path, a note is added with the plain
form, Edit opens the form, and a locked record is read-only with its reason. Nothing is
wider than a phone's screen."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CONTRACT = {
    "name": "contract", "label": {"zh": "合同", "en": "Contract"},
    "fields": [
        {"name": "title", "type": "text", "required": True,
         "label": {"zh": "标题", "en": "Title"}},
        {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
        {"name": "remarks", "type": "textarea", "label": {"zh": "说明", "en": "Remarks"}},
        {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
         "default": "'draft'",
         "choices": [{"value": "draft", "label": {"zh": "草稿", "en": "Draft"}},
                     {"value": "review", "label": {"zh": "审核", "en": "Review"}},
                     {"value": "signed", "label": {"zh": "已签", "en": "Signed"}},
                     {"value": "closed", "label": {"zh": "已关闭", "en": "Closed"}}]},
    ],
    "status_rules": {"field": "stage", "states": {
        "closed": {"operations": ["read", "export"]}}},
}
TEXTS = {
    "en": {"edit": "Edit", "note": "Add a note", "add": "Add the note", "stage": "Stage",
           "edit_note": "Edit the note", "note_text": "Note", "save_note": "Save the note",
           "edited": "(edited)",
           "current": "(current stage)", "save": "Save", "activity": "Activity",
           "locked": "This record is in status Closed: it cannot be changed."},
    "zh": {"edit": "编辑", "note": "添加备注", "add": "添加备注", "stage": "阶段",
           "edit_note": "编辑备注", "note_text": "备注", "save_note": "保存备注",
           "edited": "(已编辑)",
           "current": "(当前阶段)", "save": "保存", "activity": "动态",
           "locked": "该记录处于“已关闭”状态：不能修改。"},
}


@pytest.fixture(scope="module")
def records(server: Server) -> dict[str, int]:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", CONTRACT)
    assert status == 201, body
    out = {}
    for key, title, stage in (("open", "Harbour crane lease 港口起重机租赁", "review"),
                              ("closed", "Old warehouse 旧仓库", "closed")):
        status, body = server.api("POST", "/api/v1/records/contract", {
            "title": title, "amount": "125000", "stage": stage,
            "remarks": "Signed copy expected next week."})
        assert status == 201, body
        out[key] = int(body["id"])
    return out


def _fits(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, scroll


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width", [1366, 390])
def test_read_view_stage_path_note_edit_and_lock(records: dict[str, int], server: Server,
                                                 browser: Any, lang: str, width: int) -> None:
    t = TEXTS[lang]
    start = f"/records/contract/{records['open']}"
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD, start,
                                          viewport={"width": width, "height": 900})
    try:
        page.goto(server.url + f"{start}?lang={lang}")
        # The read view: no form, an Edit button, the stage path with its current step.
        expect(page.get_by_role("heading", level=1)).to_contain_text("Harbour crane lease")
        expect(page.locator("form.record-form")).to_have_count(0)
        expect(page.get_by_role("link", name=t["edit"], exact=True)).to_be_visible()
        path = page.get_by_role("navigation", name=t["stage"])
        expect(path).to_be_visible()
        current = path.locator('[aria-current="step"]')
        expect(current).to_have_count(1)
        expect(current).to_contain_text(t["current"])
        _fits(page, width)
        shot(page, f"record-read-{width}-{lang}")

        # A note, with the plain form: back on the page, newest first, escaped.
        body = f"Call the lessor <b>{width}-{lang}</b>"
        page.get_by_label(t["note"], exact=True).fill(body)
        with page.expect_navigation():
            page.get_by_role("button", name=t["add"], exact=True).click()
        activity = page.get_by_role("region", name=t["activity"])
        expect(activity.locator(".activity-note").first).to_contain_text(body)
        assert dialogs == []
        shot(page, f"record-note-{width}-{lang}")

        # The note's own Edit (named apart from the record's): its page, back, "(edited)".
        activity.get_by_role("link", name=t["edit_note"], exact=True).first.click()
        page.get_by_label(t["note_text"], exact=True).fill(body + " (today)")
        _fits(page, width)
        with page.expect_navigation():
            page.get_by_role("button", name=t["save_note"], exact=True).click()
        first = page.get_by_role("region", name=t["activity"]).locator(".activity-note").first
        expect(first).to_contain_text(body + " (today)")
        expect(first.locator(".edited")).to_have_text(t["edited"])

        # Edit opens the form; leaving it without saving returns to the read view.
        page.get_by_role("link", name=t["edit"], exact=True).click()
        expect(page.locator("form.record-form")).to_be_visible()
        expect(page.get_by_role("button", name=t["save"])).to_be_visible()
        _fits(page, width)
        shot(page, f"record-edit-{width}-{lang}")

        # A closed record: read-only, the reason said, no Edit.
        page.goto(server.url + f"/records/contract/{records['closed']}?lang={lang}")
        expect(page.locator("#lock-reason")).to_contain_text(t["locked"])
        expect(page.get_by_role("link", name=t["edit"], exact=True)).to_have_count(0)
        expect(page.locator("form.record-form")).to_have_count(0)
        _fits(page, width)
        shot(page, f"record-locked-{width}-{lang}")
    finally:
        context.close()
