"""The approval process designer in a real browser: an administrator draws a process in
the BPMN editor (bpmn-js Modeler) with its API inside the page, sets the approvers and
the gateway's condition in the properties panel, saves it, and the process round-trips
through the BPMN export and import; a record submitted to it runs. The form page shows the
saved version's diagram (bpmn-js NavigatedViewer), and a label with markup stays text."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"en": "Deal", "zh": "商机"},
    "fields": [{"name": "title", "type": "text", "required": True},
               {"name": "amount", "type": "decimal", "scale": 2},
               {"name": "reviewer", "type": "user"}],
}

#: Start event -> user task -> exclusive gateway -(condition)-> user task -> end event,
#: the gateway's other flow straight to the end; returns the ids the test selects.
DRAW = """() => {
  const m = window.crmforgeModeler;
  const modeling = m.get("modeling"), factory = m.get("elementFactory");
  const canvas = m.get("canvas"), registry = m.get("elementRegistry");
  const root = canvas.getRootElement();
  const at = (type, x, y) => modeling.createShape(factory.createShape({type}), {x, y}, root);
  const start = registry.filter((e) => e.type === "bpmn:StartEvent")[0];
  const review = at("bpmn:UserTask", 350, 120);
  const gateway = at("bpmn:ExclusiveGateway", 520, 120);
  const board = at("bpmn:UserTask", 700, 120);
  const end = at("bpmn:EndEvent", 880, 120);
  modeling.connect(start, review);
  modeling.connect(review, gateway);
  const big = modeling.connect(gateway, board);
  modeling.connect(board, end);
  modeling.connect(gateway, end);
  return {review: review.id, board: board.id, big: big.id};
}"""


def _select(page: Any, element_id: str | None) -> None:
    page.evaluate("""(id) => {
      const m = window.crmforgeModeler;
      m.get("selection").select(id ? m.get("elementRegistry").get(id) : []);
    }""", element_id)


def test_a_drawn_process_round_trips_through_export_and_import(server: Server,
                                                               browser: Any) -> None:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", DEAL)
    assert status == 201, body
    status, body = server.api("POST", "/api/v1/admin/roles", {"name": "board", "permissions": {}})
    assert status == 201, body

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[Any] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)  # the favicon
    page.goto(server.url + "/admin/processes")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approval processes")
    page.locator("#new-name").fill("drawn")
    page.locator("#new-object").select_option("deal")
    shot(page, "processes-list-empty-en")
    page.get_by_role("button", name="Draw a BPMN diagram").click()
    expect(page).to_have_url(server.url + "/admin/processes/draw?name=drawn&object=deal")
    expect(page.locator("#canvas[data-ready]")).to_have_count(1)

    ids = page.evaluate(DRAW)
    task = page.locator('fieldset[data-for="task"]')
    _select(page, ids["review"])
    expect(task).to_be_visible()
    task.get_by_label("Step API name").fill("review")
    task.get_by_label("English label").fill("Review")
    task.get_by_label("Users (user names, separated by commas)").fill("admin")
    _select(page, ids["board"])
    expect(task.get_by_label("Step API name")).not_to_have_value("review")
    task.get_by_label("Step API name").fill("board")
    task.get_by_label("Mode", exact=True).select_option("all")
    task.get_by_label('Pass rate (percent, "all" mode only)').fill("60")
    task.get_by_label("Everyone with the role").select_option("board")
    _select(page, ids["big"])
    page.get_by_label("Condition (an expression over the record)").fill("amount >= 1000")
    _select(page, None)
    settings = page.locator('fieldset[data-for="process"]')
    expect(settings).to_be_visible()
    settings.get_by_label("English label").fill("Drawn approval")
    settings.get_by_label("Entry criteria (a record is submitted only when it holds)").fill(
        "amount > 0")
    _select(page, ids["review"])
    expect(task.get_by_label("Users (user names, separated by commas)")).to_have_value("admin")
    shot(page, "process-modeler-en")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Diagram saved.")
    expect(page).to_have_url(server.url + "/admin/processes/drawn/diagram")
    expect(page.locator("#canvas[data-ready]")).to_have_count(1)

    status, drawn = server.api("GET", "/api/v1/meta/processes/drawn")
    assert status == 200, drawn
    assert drawn["label"] == {"en": "Drawn approval"} and drawn["entry_criteria"] == "amount > 0"
    assert drawn["steps"] == [
        {"name": "review", "label": {"en": "Review"}, "mode": "single",
         "approvers": {"users": ["admin"]}},
        {"name": "board", "mode": "all", "pass_rate": 60, "criteria": "amount >= 1000",
         "approvers": {"role": "board"}}]

    # export, import under another name: the same document apart from the name
    req = server.url + "/api/v1/meta/processes/drawn/bpmn"
    xml = page.evaluate("""async ([url, token]) => {
      const r = await fetch(url, {headers: {Authorization: "Bearer " + token}});
      return r.status === 200 ? await r.text() : "";
    }""", [req, server.token])
    assert "crmforge:step" in xml
    status, copy = server.api("POST", "/api/v1/meta/processes/import",
                              {"name": "drawn_copy", "object": "deal", "bpmn": xml})
    assert status == 201, copy
    assert copy.pop("warnings") == []  # our own export leaves nothing out
    assert {k: v for k, v in copy.items() if k != "name"} == \
        {k: v for k, v in drawn.items() if k != "name"}

    # a record submitted to it runs: the review approves, the board is skipped (< 1000)
    status, deal = server.api("POST", "/api/v1/records/deal", {"title": "Small", "amount": "500"})
    assert status == 201, deal
    status, inst = server.api("POST", "/api/v1/approvals", {"object": "deal",
                                                            "record": deal["id"]})
    assert status == 201, inst
    status, tasks = server.api("GET", "/api/v1/approvals/tasks")
    assert status == 200 and len(tasks["items"]) == 1, tasks
    assert tasks["items"][0]["step"] == "review"
    status, done = server.api("POST", f"/api/v1/approvals/tasks/{tasks['items'][0]['id']}/approve",
                              {})
    assert status == 200 and done["state"] == "approved", done

    # the form page: the saved version's diagram beside the form
    page.goto(server.url + "/admin/processes/drawn")
    expect(page.get_by_role("heading", level=1)).to_have_text("Drawn approval")
    expect(page.locator("#process-diagram[data-ready]")).to_have_count(1)
    assert page.locator("#process-diagram .djs-element").count() > 5
    expect(page.locator("#in-steps-1-pass_rate")).to_have_value("60")
    shot(page, "process-form-en")
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", name="步骤", exact=True)).to_be_visible()
    shot(page, "process-form-zh")
    page.get_by_role("link", name="English").click()

    # a label with markup is text on every page
    evil = "<script>window.__pwned=1</script>"
    status, body = server.api("PATCH", "/api/v1/meta/processes/drawn_copy",
                              {"label": {"en": evil}})
    assert status == 200, body
    page.goto(server.url + "/admin/processes")
    expect(page.get_by_role("link", name=evil)).to_be_visible()
    shot(page, "processes-list-en")
    page.get_by_role("link", name=evil).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(evil)
    page.get_by_role("link", name="Edit the diagram").click()
    expect(page.locator("#canvas[data-ready]")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text(evil)
    page.goto(server.url + "/admin/processes?lang=zh")
    expect(page.get_by_role("heading", level=1)).to_have_text("审批流程")
    shot(page, "processes-list-zh")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert errors == []
    context.close()
