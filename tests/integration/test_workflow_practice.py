"""Approvals as Chinese enterprises run them (1): what approvers see and edit, repeated
approvers, typed field updates and owner transfer, comment and submission rules."""

from __future__ import annotations

from flask.testing import FlaskClient

from .conftest import error_of
from .workflow_world import act, build, inbox, new_deal, process, state, status_of, submit


def _approval(client: FlaskClient, who: dict[str, str], iid: int, code: int = 200) -> dict:
    r = client.get(f"/api/v1/approvals/{iid}", headers=who)
    assert r.status_code == code, r.json
    return dict(r.json)


def test_step_fields_shape_what_approvers_see_and_edit(client: FlaskClient,
                                                       admin: dict[str, str]) -> None:
    step = {"name": "review", "approvers": {"users": ["alice"]},
            "fields": {"notes": "edit", "reviewer": "hidden"}}
    h = build(client, admin, process(step))
    deal = new_deal(client, h["sam"], notes="first", status="draft")
    inst = submit(client, h["sam"], deal["id"])
    # alice holds no role on deals, yet sees the step's fields, labelled and formatted
    (item,) = inbox(client, h["alice"])
    assert item["record_id"] == deal["id"] and item["record"]["id"] == deal["id"]
    assert {"title", "amount", "status", "notes"} <= set(item["record"])
    assert "reviewer" not in item["record"] and "reviewer" not in item["record_snapshot"]
    shown = {f["name"]: f for f in item["fields"]}
    assert set(shown) == {"title", "amount", "status", "notes"}
    assert shown["notes"]["access"] == "edit" and shown["amount"]["access"] == "read"
    assert shown["amount"]["display"] == "5000.00" and shown["status"]["label"] == "status"
    zh = client.get("/api/v1/approvals/tasks?lang=zh", headers=h["alice"]).json["items"][0]
    assert {f["name"] for f in zh["fields"]} == set(shown)
    seen = _approval(client, h["alice"], inst["id"])
    assert "reviewer" not in seen["record_snapshot"]
    assert [f["name"] for f in seen["fields"]] == [f["name"] for f in item["fields"]]
    # only "edit" fields may change, and only with an approval
    r = act(client, h["alice"], "approve", 422, values={"amount": "1"})
    assert "amount" in r["error"]["fields"]
    act(client, h["alice"], "reject", 422, values={"notes": "x"})
    done = act(client, h["alice"], "approve", values={"notes": "checked by legal"})
    assert done["state"] == "approved"
    record = client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).json
    assert record["notes"] == "checked by legal" and record["status"] == "approved"
    approve = next(a for a in done["history"] if a["action"] == "approve")
    assert approve["details"]["changed"] == ["notes"]
    # her task ended: through the approval she now reads only the record's title
    after = _approval(client, h["alice"], inst["id"])
    assert [f["name"] for f in after["fields"]] == ["title"]
    assert "amount" not in after["record_snapshot"] and "notes" not in after["record_snapshot"]
    # the submitter reads what his own access allows (all of his own deal)
    mine = _approval(client, h["sam"], inst["id"])
    assert {"amount", "reviewer", "notes"} <= {f["name"] for f in mine["fields"]}


def test_fields_of_a_step_are_checked_when_saved(client: FlaskClient,
                                                 admin: dict[str, str]) -> None:
    build(client, admin, None)
    bad = process({"name": "review", "approvers": {"users": ["alice"]},
                   "fields": {"ghost": "read", "title": "everything"}})
    r = client.post("/api/v1/meta/processes", json=bad, headers=admin)
    assert r.status_code == 422, r.json
    assert "$.steps[0].fields.title" in error_of(r)["fields"]
    bad["steps"][0]["fields"] = {"ghost": "read"}
    r = client.post("/api/v1/meta/processes", json=bad, headers=admin)
    assert r.status_code == 422 and "$.steps[0].fields.ghost" in error_of(r)["fields"]


def test_countersign_counts_a_skipped_repeat_as_an_approval(client: FlaskClient,
                                                            admin: dict[str, str]) -> None:
    board = {"name": "board", "mode": "all", "pass_rate": 60,
             "approvers": {"users": ["alice", "bob", "carol"]}}
    h = build(client, admin, process({"name": "first", "approvers": {"users": ["alice"]}},
                                     board, repeated_approver="first"))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "approve")
    assert inbox(client, h["alice"]) == []          # skipped: counts as her approval
    act(client, h["bob"], "reject")                 # 1 of 3 against: 60% still reachable
    assert state(client, h["sam"], inst["id"]) == "running"
    assert act(client, h["carol"], "approve")["state"] == "approved"
    assert status_of(client, deal["id"], admin) == "approved"


def test_never_skip_is_the_default_and_adjacent_skips_only_the_previous_step(
        client: FlaskClient, admin: dict[str, str]) -> None:
    steps = ({"name": "a", "approvers": {"users": ["alice"]}},
             {"name": "b", "approvers": {"users": ["bob"]}},
             {"name": "c", "approvers": {"users": ["alice", "bob"]}, "mode": "all"})
    h = build(client, admin, process(*steps))
    deal = new_deal(client, h["sam"])
    submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "approve")
    act(client, h["bob"], "approve")
    assert len(inbox(client, h["alice"])) == 1 and len(inbox(client, h["bob"])) == 1
    act(client, h["alice"], "approve")
    act(client, h["bob"], "approve")                # first deal done, nobody skipped
    r = client.patch("/api/v1/meta/processes/deal_approval",
                     json={"repeated_approver": "adjacent"}, headers=admin)
    assert r.status_code == 200, r.json
    deal2 = new_deal(client, h["sam"], title="Second")
    inst2 = submit(client, h["sam"], deal2["id"])
    assert state(client, h["sam"], inst2["id"]) == "running"
    act(client, h["alice"], "approve")              # second deal, step a
    act(client, h["bob"], "approve")                # step b
    # step c: bob approved the step just before (skipped), alice did not (asked again)
    assert inbox(client, h["bob"]) == [] and len(inbox(client, h["alice"])) == 1
    assert act(client, h["alice"], "approve")["state"] == "approved"
    r = client.patch("/api/v1/meta/processes/deal_approval",
                     json={"repeated_approver": "sometimes"}, headers=admin)
    assert r.status_code == 422 and "$.repeated_approver" in error_of(r)["fields"]


def test_field_updates_type_check_and_transfer_the_owner(client: FlaskClient,
                                                         admin: dict[str, str]) -> None:
    h = build(client, admin, None)
    r = client.post("/api/v1/meta/objects/deal/fields",
                    json={"name": "counter", "type": "integer"}, headers=admin)
    assert r.status_code == 201, r.json
    step = {"name": "review", "approvers": {"users": ["alice"]}}
    bad = process(step, on_approve={"amount": "'a lot'", "counter": "title"})
    r = client.post("/api/v1/meta/processes", json=bad, headers=admin)
    assert r.status_code == 422, r.json
    assert {"$.on_approve.amount", "$.on_approve.counter"} <= set(error_of(r)["fields"])
    r = client.post("/api/v1/meta/processes", json=process(
        step, on_approve={"owner_id": "amount > 0"}), headers=admin)
    assert r.status_code == 422 and "$.on_approve.owner_id" in error_of(r)["fields"]
    good = process(step, on_approve={"counter": "counter + 1000", "owner_id": "'bob'"})
    r = client.post("/api/v1/meta/processes", json=good, headers=admin)
    assert r.status_code == 201, r.json
    deal = new_deal(client, h["sam"], counter=5)
    submit(client, h["sam"], deal["id"])
    assert act(client, h["alice"], "approve")["state"] == "approved"
    record = client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).json
    bob = client.get("/api/v1/admin/users/bob", headers=admin).json["id"]
    assert record["counter"] == 1005 and record["owner_id"] == bob
    history = client.get(f"/api/v1/records/deal/{deal['id']}/history", headers=admin).json
    assert any(e["field"] == "owner_id" for e in history["items"]), history


def test_an_approval_updates_and_transfers_the_record_a_lookup_points_to(
        client: FlaskClient, admin: dict[str, str]) -> None:
    """``<lookup>.<field>`` and ``<lookup>.owner_id`` in ``on_approve`` change the record
    the lookup points to (an approved reassignment moves the client itself); keys naming
    no lookup, no field or a computed field, and expressions of the wrong type, are
    refused when the process is saved; a request without that record changes nothing."""
    h = build(client, admin, None)
    account = {"name": "account", "label": {"en": "Account"}, "fields": [
        {"name": "name", "type": "text", "required": True},
        {"name": "tier", "type": "text"},
        {"name": "name_len", "type": "formula", "result_type": "integer",
         "expression": "len(name)"}]}
    assert client.post("/api/v1/meta/objects", json=account, headers=admin).status_code == 201
    r = client.post("/api/v1/meta/objects/deal/fields", headers=admin,
                    json={"name": "account", "type": "lookup", "target": "account"})
    assert r.status_code == 201, r.json
    step = {"name": "review", "approvers": {"users": ["alice"]}}
    for key, source in (("nothing.tier", "'gold'"), ("title.tier", "'gold'"),
                        ("account.missing", "'gold'"), ("account.name_len", "1"),
                        ("account.tier", "amount > 0"), ("account.owner_id", "amount > 0")):
        r = client.post("/api/v1/meta/processes", headers=admin,
                        json=process(step, on_approve={key: source}))
        assert r.status_code == 422, (key, r.json)
        assert f"$.on_approve.{key}" in error_of(r)["fields"], (key, error_of(r))
    good = process(step, on_approve={"status": "'approved'", "account.tier": "'gold ' + title",
                                     "account.owner_id": "'bob'"})
    r = client.post("/api/v1/meta/processes", json=good, headers=admin)
    assert r.status_code == 201, r.json
    r = client.patch("/api/v1/admin/roles/seller", headers=admin, json={"permissions": {
        "deal": {"operations": ["create", "read", "update", "submit"], "scope": "own"},
        "account": {"operations": ["read"], "scope": "all"}}})
    assert r.status_code == 200, r.json
    acme = client.post("/api/v1/records/account", json={"name": "ACME"}, headers=admin).json
    deal = new_deal(client, h["sam"], account=acme["id"], title="Renewal")
    submit(client, h["sam"], deal["id"])
    assert act(client, h["alice"], "approve")["state"] == "approved"
    after = client.get(f"/api/v1/records/account/{acme['id']}", headers=admin).json
    bob = client.get("/api/v1/admin/users/bob", headers=admin).json["id"]
    assert after["tier"] == "gold Renewal" and after["owner_id"] == bob
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).json[
        "status"] == "approved"
    history = client.get(f"/api/v1/records/account/{acme['id']}/history", headers=admin).json
    assert {"tier", "owner_id"} <= {e["field"] for e in history["items"]}, history
    lone = new_deal(client, h["sam"], title="No account")
    submit(client, h["sam"], lone["id"])
    assert act(client, h["alice"], "approve")["state"] == "approved"
    assert client.get(f"/api/v1/records/account/{acme['id']}", headers=admin).json[
        "version"] == after["version"]


def test_comment_rules_status_rules_and_resubmission(client: FlaskClient,
                                                     admin: dict[str, str]) -> None:
    h = build(client, admin, process({"name": "review", "approvers": {"users": ["alice"]}},
                                     reject_requires_comment=True))
    r = client.patch("/api/v1/meta/objects/deal", json={"status_rules": {
        "field": "status", "states": {"rejected": {"operations": ["read"]}}}}, headers=admin)
    assert r.status_code == 200, r.json
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    r = act(client, h["alice"], "reject", 422)
    assert "comment" in r["error"]["fields"]
    act(client, h["alice"], "return", 422, comment="  ")
    act(client, h["alice"], "reject", comment="too expensive")
    assert state(client, h["sam"], inst["id"]) == "rejected"
    # status rules: a rejected deal may only be read, so not submitted again
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": deal["id"]},
                    headers=h["sam"])
    assert r.status_code == 403 and "submit" in error_of(r)["message"], r.json
    status = client.get(f"/api/v1/records/deal/{deal['id']}", headers=h["sam"]).json
    assert status["status"] == "rejected"
    # an approved record is not submitted again unless the process allows it
    other = new_deal(client, h["sam"], title="Other")
    submit(client, h["sam"], other["id"])
    act(client, h["alice"], "approve")
    r = client.post("/api/v1/approvals", json={"object": "deal", "record": other["id"]},
                    headers=h["sam"])
    assert r.status_code == 409 and "resubmission" in error_of(r)["message"], r.json
    r = client.patch("/api/v1/meta/processes/deal_approval", json={"allow_resubmit": True},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert submit(client, h["sam"], other["id"])["state"] == "running"
