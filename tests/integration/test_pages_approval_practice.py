"""The pages of approval practice: the inbox shows the step's fields (and takes the edit
ones with an approval), the record page offers the nudge to its submitter, and
``/settings/delegation`` sets and clears a delegation; in English and Chinese."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token
from .workflow_world import PASSWORD, build, new_deal, process, submit

STEP = {"name": "review", "approvers": {"users": ["alice"]},
        "fields": {"notes": "edit", "reviewer": "hidden"}}


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/inbox").text), **data})


def test_inbox_shows_step_fields_and_takes_edits(client: FlaskClient, admin: dict[str, str],
                                                 instance: Instance) -> None:
    h = build(client, admin, process(STEP))
    deal = new_deal(client, h["sam"], notes="draft note")
    inst = submit(client, h["sam"], deal["id"])
    alice = browser_session(instance, "alice", PASSWORD)
    page = alice.get("/inbox").text
    task = inst["tasks"][0]["id"]
    assert f'id="fields-{task}"' in page and "5000.00" in page
    assert 'name="value-notes"' in page and 'value="draft note"' in page
    assert "value-reviewer" not in page and "value-amount" not in page
    assert "同意时可修改" in alice.get("/inbox?lang=zh").text
    r = _post(alice, f"/inbox/{task}", {"action": "approve", "value-notes": "fixed"})
    assert r.status_code == 303, r.text
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).json["notes"] == \
        "fixed"


def test_record_page_nudges_and_delegation_page(client: FlaskClient, admin: dict[str, str],
                                                instance: Instance) -> None:
    h = build(client, admin, process({"name": "review", "approvers": {"users": ["alice"]}}))
    deal = new_deal(client, h["sam"])
    submit(client, h["sam"], deal["id"])
    sam = browser_session(instance, "sam", PASSWORD)
    page = sam.get(f"/records/deal/{deal['id']}").text
    assert 'id="remind"' in page
    form = page.split('id="remind"')[0].rsplit("<form", 1)[1]
    action = form.split('action="')[1].split('"')[0]
    r = _post(sam, action, {})
    assert r.status_code == 303
    assert "The approvers were reminded." in sam.get(r.headers["Location"]).text
    r = _post(sam, action, {})                      # within the hour: the message, no 500
    assert r.status_code == 303 and "hour" in sam.get(r.headers["Location"]).text
    alice = browser_session(instance, "alice", PASSWORD)
    assert 'id="remind"' not in alice.get(f"/records/deal/{deal['id']}").text
    # delegation settings
    assert "委托我的审批" in alice.get("/settings/delegation?lang=zh").text
    r = _post(alice, "/settings/delegation", {"to": "alice"})
    assert r.status_code == 422 and "不能委托给自己" in r.text  # in the page's language
    r = _post(alice, "/settings/delegation", {"to": "bob", "from": "2026-01-01T08:00"})
    assert r.status_code == 303, r.text
    assert "bob" in alice.get("/settings/delegation").text
    assert client.get("/api/v1/auth/me/delegation", headers=h["alice"]).json["delegation"][
        "from"] == "2026-01-01T08:00:00Z"
    r = _post(alice, "/settings/delegation", {"clear": "1"})
    assert r.status_code == 303
    assert client.get("/api/v1/auth/me/delegation", headers=h["alice"]).json["delegation"] \
        is None
