"""The automation rule designer in a real browser: the form shows only the inputs of the
chosen trigger and action type (its script), an administrator designs a rule that updates
a deal when it is won, and the running server applies it after the save commits."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"en": "Deal", "zh": "商机"},
    "fields": [{"name": "title", "type": "text", "required": True},
               {"name": "stage", "type": "picklist", "default": "'new'",
                "choices": [{"value": "new", "label": {"en": "New"}},
                            {"value": "won", "label": {"en": "Won"}}]},
               {"name": "note", "type": "text"},
               {"name": "closed_on", "type": "date"}],
}


def test_design_a_rule_and_see_it_run(server: Server, browser: Any) -> None:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", DEAL)
    assert status == 201, body
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                          "/admin/automations")
    try:
        expect(page.get_by_role("heading", name="Automation rules")).to_be_visible()
        page.get_by_label("API name").fill("won_note")
        page.get_by_role("button", name="Fill in a form").click()
        expect(page.get_by_label("Date field")).to_be_hidden()  # not a date rule
        page.get_by_label("Runs when").select_option("date")
        expect(page.get_by_label("Date field")).to_be_visible()
        page.get_by_label("Runs when").select_option("updated")
        page.get_by_label("Only when one of these fields changed (updated, saved)").fill("stage")
        page.get_by_label("Condition (the rule runs only when it holds)").fill("stage == 'won'")
        row = page.locator("#action-0")
        expect(row.get_by_label("URL")).to_be_hidden()
        row.get_by_label("Action", exact=True).select_option("update")
        expect(row.get_by_label("URL")).to_be_hidden()
        row.get_by_label('Set fields (one "field = expression" per line)').fill(
            "note = concat('Won: ', title)\nclosed_on = today()")
        page.get_by_role("button", name="Save rule").last.click()
        expect(page.get_by_text("Rule created.")).to_be_visible()
        shot(page, "automation-rule")
        status, deal = server.api("POST", "/api/v1/records/deal", {"title": "Clinic"})
        assert status == 201, deal
        status, deal = server.api("PATCH", f"/api/v1/records/deal/{deal['id']}",
                                  {"stage": "won", "version": deal["version"]})
        assert status == 200, deal
        for _ in range(100):  # the events job runs the rule just after the commit
            status, now = server.api("GET", f"/api/v1/records/deal/{deal['id']}")
            if now.get("note"):
                break
            time.sleep(0.1)
        assert now["note"] == "Won: Clinic" and now["closed_on"]
        page.reload()
        expect(page.get_by_role("cell", name="ok").first).to_be_visible()  # the run log
        assert dialogs == []
    finally:
        context.close()
