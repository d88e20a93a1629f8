"""The approver's inbox and the approval part of record pages, through browser sessions
(Flask's test client with a signed-in cookie and CSRF tokens): only one's own tasks are
listed and can be acted on, single and bulk decisions, transfer, refusals with the
service's message, submitting from the record page and the approval history there."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token
from .workflow_world import PASSWORD, build, inbox, new_deal, process, state, status_of, submit

REVIEW = {"name": "review", "mode": "single", "approvers": {"users": ["alice"]}}


def _browser(instance: Instance, username: str) -> FlaskClient:
    return browser_session(instance, username, PASSWORD)


def _world(client: FlaskClient, admin: dict[str, str], deals: int = 2
           ) -> tuple[dict[str, dict[str, str]], list[dict[str, Any]]]:
    heads = build(client, admin, process(REVIEW))
    made = []
    for i in range(deals):
        deal = new_deal(client, heads["sam"], title=f"Deal <b>{i}</b>")
        made.append(submit(client, heads["sam"], deal["id"]))
    return heads, made


def _post(c: FlaskClient, path: str, data: dict[str, Any], **headers: str) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/inbox").text), **data},
                  headers=headers)


def test_inbox_lists_only_my_tasks_and_the_navigation_counts_them(
        client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
    heads, _ = _world(client, admin)
    tasks = inbox(client, heads["alice"])
    page = _browser(instance, "alice").get("/inbox")
    assert page.status_code == 200
    text = page.text
    for t in tasks:
        assert f'id="task-{t["id"]}"' in text
        assert f'href="/records/deal/{t["record_id"]}"' in text
    assert "Deal &lt;b&gt;0&lt;/b&gt;" in text and "<b>0</b>" not in text  # escaped title
    assert ">sam<" in text and ">review<" in text
    # submitted at: in the tenant's zone, the locale's medium form (decision 0038)
    assert re.search(r'<time datetime="[^"]+Z">[A-Z][a-z]{2} \d{1,2}, \d{4}, [^<]+</time>', text)
    assert re.search(r'id="nav-inbox".*?<span class="count"[^>]*>2</span>', text)
    bob = _browser(instance, "bob").get("/inbox").text
    assert "No open approval tasks." in bob and 'id="task-' not in bob
    assert 'class="count"' not in bob
    assert "审批待办" in _browser(instance, "alice").get("/inbox?lang=zh").text


def test_approve_and_reject_with_comments(client: FlaskClient, admin: dict[str, str],
                                          instance: Instance) -> None:
    heads, made = _world(client, admin)
    first, second = inbox(client, heads["alice"])
    alice = _browser(instance, "alice")
    r = _post(alice, f"/inbox/{first['id']}", {"action": "approve", "comment": "fine <i>"})
    assert r.status_code == 303 and r.headers["Location"] == "/inbox"
    after = alice.get("/inbox").text
    assert "Approved." in after and f'id="task-{first["id"]}"' not in after
    assert status_of(client, first["record_id"], admin) == "approved"
    r = _post(alice, f"/inbox/{second['id']}", {"action": "reject", "comment": "too big"})
    assert r.status_code == 303
    assert status_of(client, second["record_id"], admin) == "rejected"
    assert state(client, heads["sam"], made[1]["id"]) == "rejected"
    # The record page shows the outcome and who said what.
    record = _browser(instance, "sam").get(f"/records/deal/{first['record_id']}").text
    assert 'id="approval-state">approved<' in record
    assert "<q>fine &lt;i&gt;</q>" in record and "alice" in record


def test_tasks_of_others_are_refused_with_the_message(client: FlaskClient,
                                                      admin: dict[str, str],
                                                      instance: Instance) -> None:
    heads, _ = _world(client, admin, deals=1)
    (task,) = inbox(client, heads["alice"])
    bob = _browser(instance, "bob")
    r = _post(bob, f"/inbox/{task['id']}", {"action": "approve"})
    assert r.status_code == 403
    assert "assigned to someone else" in r.text and 'role="alert"' in r.text
    # htmx swaps only successful answers: the refusal comes with 200 and the message.
    r = _post(bob, f"/inbox/{task['id']}", {"action": "approve"}, **{"HX-Request": "true"})
    assert r.status_code == 200 and "assigned to someone else" in r.text
    r = _post(bob, "/inbox/approve", {"task": str(task["id"])})
    assert r.status_code == 403
    assert [t["id"] for t in inbox(client, heads["alice"])] == [task["id"]]  # still open
    # Without a CSRF token nothing happens.
    assert bob.post(f"/inbox/{task['id']}", data={"action": "approve"}).status_code in (400, 403)
    r = _post(_browser(instance, "alice"), f"/inbox/{task['id']}", {"action": "dance"})
    assert r.status_code == 400
    assert [t["id"] for t in inbox(client, heads["alice"])] == [task["id"]]


def test_bulk_approve_is_all_or_nothing(client: FlaskClient, admin: dict[str, str],
                                        instance: Instance) -> None:
    heads, _ = _world(client, admin, deals=3)
    tasks = inbox(client, heads["alice"])
    alice = _browser(instance, "alice")
    r = _post(alice, "/inbox/approve", {})
    assert r.status_code == 400 and "Select at least one task" in r.text
    r = _post(alice, "/inbox/approve", {"task": [str(tasks[0]["id"]), "999999"]})
    assert r.status_code == 404
    assert len(inbox(client, heads["alice"])) == 3  # none approved
    r = _post(alice, "/inbox/approve", {"task": [str(tasks[0]["id"]), str(tasks[1]["id"])],
                                         "comment": "ok"})
    assert r.status_code == 303
    assert "The selected tasks are approved." in alice.get("/inbox").text
    assert [t["id"] for t in inbox(client, heads["alice"])] == [tasks[2]["id"]]
    assert status_of(client, tasks[0]["record_id"], admin) == "approved"


def test_transfer_and_return(client: FlaskClient, admin: dict[str, str],
                             instance: Instance) -> None:
    heads, made = _world(client, admin, deals=2)
    first, second = inbox(client, heads["alice"])
    alice = _browser(instance, "alice")
    r = _post(alice, f"/inbox/{first['id']}", {"action": "transfer", "to": "nobody"})
    assert r.status_code == 422 and "no active user" in r.text
    r = _post(alice, f"/inbox/{first['id']}", {"action": "transfer", "to": "bob"})
    assert r.status_code == 303
    assert [t["record_id"] for t in inbox(client, heads["bob"])] == [first["record_id"]]
    r = _post(alice, f"/inbox/{second['id']}", {"action": "return", "comment": "fix it"})
    assert r.status_code == 303
    assert state(client, heads["sam"], made[1]["id"]) == "returned"
    assert inbox(client, heads["alice"]) == []


def test_record_page_submits_and_shows_the_approval(client: FlaskClient,
                                                    admin: dict[str, str],
                                                    instance: Instance) -> None:
    heads = build(client, admin, process(REVIEW, entry_criteria="amount > 100"))
    deal = new_deal(client, heads["sam"], title="Page deal")
    small = new_deal(client, heads["sam"], title="Small", amount="5")
    sam = _browser(instance, "sam")
    page = sam.get(f"/records/deal/{deal['id']}").text
    assert "Submit for approval" in page and 'id="approval-state"' not in page
    # No process applies to the small deal: no button.
    assert "Submit for approval" not in sam.get(f"/records/deal/{small['id']}").text
    r = sam.post(f"/records/deal/{deal['id']}/submit", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 303
    page = sam.get(r.headers["Location"]).text
    assert "Submitted for approval." in page
    assert 'id="approval-state">in approval<' in page and "current step: review" in page
    assert "This record is in approval" in page and "Submit for approval" not in page
    # Submitting again is refused with the service's message, on the page.
    r = sam.post(f"/records/deal/{deal['id']}/submit", data={"csrf_token": csrf_token(page)})
    page = sam.get(r.headers["Location"]).text
    assert "already in approval" in page and 'class="flash error' in page
    # The approver reaches the record from the inbox and sees the same state.
    alice = _browser(instance, "alice")
    assert f'href="/records/deal/{deal["id"]}"' in alice.get("/inbox").text
    assert 'id="approval-state">in approval<' in alice.get(f"/records/deal/{deal['id']}").text
