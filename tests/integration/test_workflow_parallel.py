"""Parallel branches (issue: legal and finance at the same time): steps next to each other
in one ``parallel`` group get their tasks at once; the process goes on when every one of
them approved (or was skipped by its criteria); one rejection or return ends the approval
and cancels the other branches' tasks; nobody returns a record into or out of a group
except to its submitter; the exported diagram shows the split and the join, and imports
back as the same process."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.workflow.bpmn import drawn_process
from crmforge.workflow.importer import read_bpmn

from .conftest import error_of
from .workflow_world import act, build, inbox, new_deal, process, state, submit

LEGAL = {"name": "legal", "parallel": "reviews", "approvers": {"users": ["alice"]}}
FINANCE = {"name": "finance", "parallel": "reviews", "approvers": {"users": ["bob"]}}
CEO = {"name": "ceo", "approvers": {"users": ["carol"]}}
MANAGER = {"name": "manager", "approvers": {"users": ["dave"]}}


def _parallel() -> dict[str, Any]:
    return process(MANAGER, LEGAL, FINANCE, CEO)


def _past_the_manager(client: FlaskClient, admin: dict[str, str], proc: dict[str, Any],
                      **deal: Any) -> tuple[dict[str, dict[str, str]], int]:
    """The world with ``proc``, a deal submitted and approved by the manager: the group's
    turn. Returns the headers per user and the instance id."""
    h = build(client, admin, proc)
    record = new_deal(client, h["sam"], **deal)
    inst = submit(client, h["sam"], record["id"])
    act(client, h["dave"], "approve")
    return h, int(inst["id"])


def test_both_branches_decide_at_once_and_the_join_waits_for_both(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h, iid = _past_the_manager(client, admin, _parallel())
    assert len(inbox(client, h["alice"])) == 1 and len(inbox(client, h["bob"])) == 1
    act(client, h["bob"], "approve")
    assert inbox(client, h["carol"]) == []  # the join waits for legal
    assert state(client, admin, iid) == "running"
    act(client, h["alice"], "approve")
    act(client, h["carol"], "approve")
    assert state(client, admin, iid) == "approved"


def test_one_branch_rejecting_ends_the_approval_and_cancels_the_other(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h, iid = _past_the_manager(client, admin, _parallel())
    act(client, h["alice"], "reject", comment="no")
    assert state(client, admin, iid) == "rejected"
    assert inbox(client, h["bob"]) == [] and inbox(client, h["carol"]) == []
    detail = client.get(f"/api/v1/approvals/{iid}", headers=admin).json
    assert {t["step"]: t["status"] for t in detail["tasks"]}["finance"] == "cancelled"


def test_a_branch_skipped_by_its_criteria_does_not_hold_the_join(
        client: FlaskClient, admin: dict[str, str]) -> None:
    legal = {**LEGAL, "criteria": "amount > 1000000"}
    h, iid = _past_the_manager(client, admin, process(MANAGER, legal, FINANCE, CEO),
                               amount="5000")
    assert inbox(client, h["alice"]) == []
    act(client, h["bob"], "approve")
    act(client, h["carol"], "approve")
    assert state(client, admin, iid) == "approved"


def test_returns_go_to_the_submitter_from_a_branch_and_never_into_one(
        client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, _parallel())
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["dave"], "approve")
    refused = act(client, h["alice"], "return", expect=422, to="manager")
    assert "submitter" in refused["error"]["message"]
    act(client, h["alice"], "return", to="submitter")
    assert state(client, admin, inst["id"]) == "returned"
    assert inbox(client, h["bob"]) == []
    # after the group: back to the manager, not into the group
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["dave"], "approve")
    act(client, h["alice"], "approve")
    act(client, h["bob"], "approve")
    refused = act(client, h["carol"], "return", expect=422, to="legal")
    assert "manager" in refused["error"]["message"]
    act(client, h["carol"], "return", to="manager")
    assert len(inbox(client, h["dave"])) == 1 and state(client, admin, inst["id"]) == "running"


@pytest.mark.parametrize("steps, path", [
    ([LEGAL, MANAGER, FINANCE], "$.steps[2].parallel"),
    ([MANAGER, LEGAL, CEO], "$.steps[1].parallel"),
    ([MANAGER, LEGAL, FINANCE, {**CEO, "approvers": {"chosen_by_previous": True}}],
     "$.steps[3].approvers.chosen_by_previous"),
])
def test_a_group_apart_alone_or_followed_by_a_chosen_approver_is_refused(
        client: FlaskClient, admin: dict[str, str], steps: list[dict[str, Any]],
        path: str) -> None:
    build(client, admin, None)
    r = client.post("/api/v1/meta/processes", json=process(*steps), headers=admin)
    assert r.status_code == 422 and path in error_of(r)["fields"], r.json


def test_the_diagram_shows_the_split_and_join_and_imports_back() -> None:
    doc = process(MANAGER, LEGAL, {**FINANCE, "criteria": "amount > 10"}, CEO)
    xml = drawn_process(doc)
    assert xml.count(b"parallelGateway") >= 2
    back = read_bpmn(xml, doc["name"], doc["object"])
    assert back.doc["steps"] == doc["steps"] and back.warnings == ()
