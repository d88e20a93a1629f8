"""Approval runtime through the API: modes, actions, locks and temporary access."""

from __future__ import annotations

from flask.testing import FlaskClient

from .conftest import error_of
from .workflow_world import act, build, inbox, new_deal, process, state, status_of, submit

SINGLE = {"name": "review", "approvers": {"field": "reviewer"}}


def test_single_approve_locks_grants_and_updates(client: FlaskClient, admin: dict[str, str]
                                                 ) -> None:
    h = build(client, admin, process(SINGLE, entry_criteria="amount > 100"))
    alice_id = client.get("/api/v1/admin/users/alice", headers=admin).json["id"]
    deal = new_deal(client, h["sam"], reviewer=alice_id)
    # alice holds no permission on deals: no access before the task
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=h["alice"]).status_code == 404
    inst = submit(client, h["sam"], deal["id"])
    assert inst["state"] == "running" and inst["tasks"][0]["assignee"] == "alice"
    assert "task_review" in inst["diagram"]["active"]
    # temporary read access while she holds the task
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=h["alice"]).status_code == 200
    # locked: only allow_changes fields may change
    r = client.patch(f"/api/v1/records/deal/{deal['id']}", json={"amount": "1", "version": 1},
                     headers=h["sam"])
    assert r.status_code == 403, r.json
    r = client.patch(f"/api/v1/records/deal/{deal['id']}", json={"notes": "ok", "version": 1},
                     headers=h["sam"])
    assert r.status_code == 200, r.json
    # a second submission of the same record is refused
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": deal["id"]},
                    headers=h["sam"])
    assert r.status_code == 409 and error_of(r)["code"] == "conflict"
    # someone else cannot act on alice's task
    task = inbox(client, h["alice"])[0]
    r = client.post(f"/api/v1/approvals/tasks/{task['id']}/approve", json={}, headers=h["bob"])
    assert r.status_code == 403, r.json
    done = act(client, h["alice"], "approve", comment="fine")
    assert done["state"] == "approved"
    assert "end_approved" in done["diagram"]["completed"]
    assert [a["action"] for a in done["history"]] == ["submit", "approve", "finish"]
    assert done["history"][1]["comment"] == "fine"
    assert status_of(client, deal["id"], admin) == "approved"
    history = client.get(f"/api/v1/records/deal/{deal['id']}/history", headers=admin).json["items"]
    assert any(e["field"] == "status" and e["new"] == "approved" and e["by"] == "system"
               for e in history)
    # the task is done: access is gone, and acting again is a conflict
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=h["alice"]).status_code == 404
    r = client.post(f"/api/v1/approvals/tasks/{task['id']}/approve", json={}, headers=h["alice"])
    assert r.status_code == 409, r.json
    # unlocked after the end
    r = client.patch(f"/api/v1/records/deal/{deal['id']}", json={"amount": "7", "version": 3},
                     headers=h["sam"])
    assert r.status_code == 200, r.json
    subs = client.get("/api/v1/approvals/submissions", headers=h["sam"]).json["items"]
    assert subs[0]["state"] == "approved" and subs[0]["process_version"] == 1


def test_reject_applies_on_reject(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "review", "approvers": {"users": ["bob"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    assert act(client, h["bob"], "reject", comment="too expensive")["state"] == "rejected"
    assert status_of(client, deal["id"], admin) == "rejected"
    assert state(client, h["sam"], inst["id"]) == "rejected"
    notes = client.get("/api/v1/notifications", headers=h["sam"]).json["items"]
    assert notes[0]["kind"] == "rejected"


def test_countersign_with_pass_rate(client: FlaskClient, admin: dict[str, str]) -> None:
    step = {"name": "board", "mode": "all", "pass_rate": 60,
            "approvers": {"users": ["alice", "bob", "carol"]}}
    h = build(client, admin, process(step))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    assert len(inst["tasks"]) == 3
    act(client, h["alice"], "approve")
    assert act(client, h["bob"], "reject")["state"] == "running"  # 1 of 3 against: 2 can pass
    done = act(client, h["carol"], "approve")
    assert done["state"] == "approved"
    # a second deal: two rejections make 60% impossible; the third task is cancelled
    deal2 = new_deal(client, h["sam"], title="Second")
    submit(client, h["sam"], deal2["id"])
    act(client, h["alice"], "reject")
    done = act(client, h["bob"], "reject")
    assert done["state"] == "rejected"
    assert inbox(client, h["carol"]) == []
    assert sorted(t["status"] for t in done["tasks"]) == ["cancelled", "done", "done"]


def test_any_and_sequential(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process(
        {"name": "first", "mode": "any", "approvers": {"users": ["alice", "bob"]}},
        {"name": "second", "mode": "sequential", "approvers": {"users": ["carol", "dave"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["bob"], "approve")
    assert inbox(client, h["alice"]) == []          # any: one vote decides
    assert inbox(client, h["dave"]) == []           # sequential: carol first
    act(client, h["carol"], "approve")
    assert act(client, h["dave"], "approve")["state"] == "approved"
    assert state(client, h["sam"], inst["id"]) == "approved"


def test_return_to_earlier_step_and_to_submitter(client: FlaskClient, admin: dict[str, str]
                                                 ) -> None:
    h = build(client, admin, process({"name": "first", "approvers": {"users": ["alice"]}},
                                     {"name": "second", "approvers": {"users": ["bob"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "approve")
    act(client, h["bob"], "return", 422, to="second")  # not an earlier step
    act(client, h["bob"], "return", to="first", comment="check the amount")
    assert inbox(client, h["alice"])                # alice decides again
    act(client, h["alice"], "approve")
    done = act(client, h["bob"], "return")          # to the submitter
    assert done["state"] == "returned"
    assert state(client, h["sam"], inst["id"]) == "returned"
    # returned records can be changed and submitted again
    r = client.patch(f"/api/v1/records/deal/{deal['id']}", json={"amount": "10", "version": 1},
                     headers=h["sam"])
    assert r.status_code == 200, r.json
    again = submit(client, h["sam"], deal["id"])
    assert again["id"] != inst["id"]


def test_transfer_and_add_approver(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "review", "mode": "all",
                                      "approvers": {"users": ["alice"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "transfer", 422, to="alice")
    act(client, h["alice"], "transfer", to="bob", comment="on leave")
    assert inbox(client, h["alice"]) == []
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=h["alice"]).status_code == 404
    act(client, h["bob"], "add-approver", 422, user="nobody")
    act(client, h["bob"], "add-approver", user="carol")
    act(client, h["bob"], "approve")
    assert state(client, h["sam"], inst["id"]) == "running"  # all: carol still has to sign
    done = act(client, h["carol"], "approve")
    assert done["state"] == "approved"
    assert [a["action"] for a in done["history"]] == [
        "submit", "transfer", "add_approver", "approve", "approve", "finish"]


def test_withdraw_and_recall(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "first", "approvers": {"users": ["alice"]}},
                                     {"name": "second", "approvers": {"users": ["bob"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    r = client.post(f"/api/v1/approvals/{inst['id']}/withdraw", json={}, headers=h["alice"])
    assert r.status_code == 404
    r = client.post(f"/api/v1/approvals/{inst['id']}/withdraw", json={}, headers=h["sam"])
    assert r.status_code == 200 and r.json["state"] == "withdrawn"
    assert inbox(client, h["alice"]) == []
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "comment", comment="looking")
    act(client, h["alice"], "approve")
    r = client.post(f"/api/v1/approvals/{inst['id']}/withdraw", json={}, headers=h["sam"])
    assert r.status_code == 409, r.json
    r = client.post(f"/api/v1/approvals/{inst['id']}/recall", json={}, headers=h["sam"])
    assert r.status_code == 403
    r = client.post(f"/api/v1/approvals/{inst['id']}/recall", json={"comment": "wrong deal"},
                    headers=admin)
    assert r.status_code == 200 and r.json["state"] == "recalled"
    assert inbox(client, h["bob"]) == []
    r = client.patch(f"/api/v1/records/deal/{deal['id']}", json={"amount": "3", "version": 1},
                     headers=h["sam"])
    assert r.status_code == 200, r.json  # unlocked


def test_skip_nobody_manager_and_bulk(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process(
        {"name": "first", "approvers": {"users": ["alice"]}},
        {"name": "second", "mode": "all", "approvers": {"users": ["alice", "bob"]}},
        {"name": "third", "approvers": {"field": "reviewer"}},
        {"name": "fourth", "approvers": {"manager": True}}, repeated_approver="first"))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "approve")
    assert inbox(client, h["alice"]) == []          # she already approved: skipped
    act(client, h["bob"], "approve")
    # no reviewer on the record: the process admin gets the task
    tasks = inbox(client, admin)
    assert [t["step"] for t in tasks] == ["third"]
    r = client.post("/api/v1/approvals/tasks/approve", json={"ids": [tasks[0]["id"]]},
                    headers=admin)
    assert r.status_code == 200, r.json
    done = act(client, h["mia"], "approve")         # sam's department head
    assert done["state"] == "approved"
    actions = [a["action"] for a in done["history"]]
    assert "skip" in actions and "no_approver" in actions
    assert state(client, h["sam"], inst["id"]) == "approved"


def test_bad_inputs_change_nothing(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "review", "approvers": {"users": ["alice"]}},
                                     entry_criteria="amount > 100", forbid_changed_record=True))
    small = new_deal(client, h["sam"], amount="5")
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": small["id"]},
                    headers=h["sam"])
    assert r.status_code == 422, r.json
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": 99999},
                    headers=h["sam"])
    assert r.status_code == 404
    r = client.post("/api/v1/approvals", json={"object": "deal"}, headers=h["sam"])
    assert r.status_code == 400
    r = client.post("/api/v1/approvals/tasks/999/approve", json={}, headers=h["alice"])
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "dance", 404)
    act(client, h["alice"], "comment", 422)
    # the record changes behind the lock (an admin fixing data): approval is refused
    from crmforge.workflow.tables import instances  # noqa: F401  (tables exist)
    tenant = client.application.extensions["crmforge"].tenant("default")
    import sqlalchemy as sa
    with tenant.write() as conn:
        conn.execute(sa.text("UPDATE obj_deal SET amount = 6000 WHERE id = :i"),
                     {"i": deal["id"]})
    r = act(client, h["alice"], "approve", 409)
    assert "amount" in r["error"]["fields"]
    assert state(client, h["sam"], inst["id"]) == "running"
    assert len(inbox(client, h["alice"])) == 1
    assert client.get(f"/api/v1/approvals/{inst['id']}", headers=h["bob"]).status_code == 404


def test_auto_submit_on_save_and_chosen_by_previous(client: FlaskClient,
                                                    admin: dict[str, str]) -> None:
    h = build(client, admin, process(
        {"name": "first", "approvers": {"users": ["alice"]}},
        {"name": "second", "approvers": {"chosen_by_previous": True}},
        entry_criteria="amount > 1000", auto_submit=True))
    small = new_deal(client, h["sam"], amount="10")
    assert client.get("/api/v1/approvals/submissions", headers=h["sam"]).json["items"] == []
    # the save that makes the entry criteria hold submits, in the same transaction
    r = client.patch(f"/api/v1/records/deal/{small['id']}", json={"amount": "2000", "version": 1},
                     headers=h["sam"])
    assert r.status_code == 200, r.json
    subs = client.get("/api/v1/approvals/submissions", headers=h["sam"]).json["items"]
    assert [s["state"] for s in subs] == ["running"]
    act(client, h["alice"], "approve", 422, next_approvers=["ghost"])
    act(client, h["alice"], "approve", next_approvers=["dave"])
    assert [t["step"] for t in inbox(client, h["dave"])] == ["second"]
    assert act(client, h["dave"], "approve")["state"] == "approved"
    # a record created meeting the criteria is submitted at once
    new_deal(client, h["sam"], title="Other", amount="5000")
    assert len(inbox(client, h["alice"])) == 1


def test_running_approvals_keep_their_process_version(client: FlaskClient,
                                                      admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "first", "approvers": {"users": ["alice"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    assert inst["process_version"] == 1
    r = client.patch("/api/v1/meta/processes/deal_approval", json={"steps": [
        {"name": "first", "approvers": {"users": ["alice"]}},
        {"name": "extra", "approvers": {"users": ["bob"]}}]}, headers=admin)
    assert r.status_code == 200 and r.json["version"] == 2
    r = client.delete("/api/v1/meta/processes/deal_approval", headers=admin)
    assert r.status_code == 409, r.json
    done = act(client, h["alice"], "approve")
    assert done["state"] == "approved" and done["process_version"] == 1  # no "extra" step
    assert inbox(client, h["bob"]) == []
    deal2 = new_deal(client, h["sam"], title="Later")
    assert submit(client, h["sam"], deal2["id"])["process_version"] == 2


def test_only_named_submitters(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "review", "approvers": {"users": ["alice"]}},
                                     submitters={"roles": ["approver"]}))
    deal = new_deal(client, h["sam"])
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": deal["id"]},
                    headers=h["sam"])
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    assert client.get("/api/v1/approvals/submissions", headers=h["sam"]).json["items"] == []
    assert submit(client, admin, deal["id"])["state"] == "running"  # administrators may


def test_add_approver_in_sequence_goes_next(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "chain", "mode": "sequential",
                                      "approvers": {"users": ["alice", "bob"]}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "add-approver", user="carol", comment="legal should look")
    act(client, h["alice"], "approve")
    assert inbox(client, h["bob"]) == []            # carol comes right after alice
    act(client, h["carol"], "approve")
    assert act(client, h["bob"], "approve")["state"] == "approved"
    assert state(client, h["sam"], inst["id"]) == "approved"
