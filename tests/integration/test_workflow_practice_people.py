"""Approvals as Chinese enterprises run them (2): nudging (催办), delegation (委托), copies
(抄送) and binding add-approver (加签)."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient

from .conftest import START, error_of
from .workflow_world import act, build, inbox, new_deal, process, state, submit

SINGLE = {"name": "review", "approvers": {"users": ["alice"]}}


def _kinds(client: FlaskClient, who: dict[str, str]) -> list[str]:
    return [n["kind"] for n in client.get("/api/v1/notifications", headers=who).json["items"]]


def test_submitter_nudges_at_most_once_an_hour(client: FlaskClient, admin: dict[str, str],
                                               frozen: list[dt.datetime]) -> None:
    h = build(client, admin, process(SINGLE))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    url = f"/api/v1/approvals/{inst['id']}/remind"
    assert client.post(url, headers=h["bob"]).status_code == 404     # not his approval
    r = client.post(url, headers=h["sam"])
    assert r.status_code == 200, r.json
    assert _kinds(client, h["alice"])[0] == "remind"
    assert [a["action"] for a in r.json["history"]][-1] == "remind"
    frozen[0] = START + dt.timedelta(minutes=59)
    r = client.post(url, headers=h["sam"])
    assert r.status_code == 429 and error_of(r)["code"] == "too_soon", r.json
    assert _kinds(client, h["alice"]).count("remind") == 1
    frozen[0] = START + dt.timedelta(minutes=61)
    assert client.post(url, headers=admin).status_code == 200       # administrators may too
    act(client, h["alice"], "approve")
    r = client.post(url, headers=h["sam"])
    assert r.status_code == 409 and "approved" in error_of(r)["message"]


def test_delegation_window_opens_and_closes(client: FlaskClient, admin: dict[str, str],
                                            frozen: list[dt.datetime]) -> None:
    h = build(client, admin, process(SINGLE))
    url = "/api/v1/auth/me/delegation"
    window = {"to": "bob", "from": "2026-03-02T10:00:00Z", "until": "2026-03-02T12:00:00Z"}
    r = client.put(url, json=window, headers=h["alice"])
    assert r.status_code == 200 and r.json["delegation"]["to"] == "bob", r.json
    assert r.json["delegation"]["active"] is False
    # bad input changes nothing
    for body, key in (({"to": "alice"}, "to"), ({"to": "ghost"}, "to"),
                      ({"to": "bob", "from": "soon"}, "from"),
                      ({"to": "bob", "from": "2026-03-03T00:00:00Z",
                        "until": "2026-03-02T00:00:00Z"}, "until"),
                      ({"to": "bob", "processes": ["nope"]}, "processes")):
        r = client.put(url, json=body, headers=h["alice"])
        assert r.status_code == 422 and key in error_of(r)["fields"], (body, r.json)
    r = client.put(url, json={"to": "alice"}, headers=h["bob"])       # bob -> alice -> bob
    assert r.status_code == 422 and "cycle" in error_of(r)["message"]
    assert client.patch("/api/v1/admin/users/dave", json={"active": False},
                        headers=admin).status_code == 200
    r = client.put(url, json={"to": "dave"}, headers=h["alice"])
    assert r.status_code == 422 and "to" in error_of(r)["fields"]
    assert client.get(url, headers=h["alice"]).json["delegation"]["until"] == \
        "2026-03-02T12:00:00Z"
    # before the window: alice's task
    first = new_deal(client, h["sam"], title="Before")
    submit(client, h["sam"], first["id"])
    assert len(inbox(client, h["alice"])) == 1 and inbox(client, h["bob"]) == []
    # inside it: the new task goes to bob, on alice's behalf
    frozen[0] = START + dt.timedelta(hours=2)
    second = new_deal(client, h["sam"], title="During")
    inst = submit(client, h["sam"], second["id"])
    assert inst["tasks"][0]["assignee"] == "bob" and inst["tasks"][0]["on_behalf_of"] == "alice"
    done = act(client, h["bob"], "approve")
    approve = next(a for a in done["history"] if a["action"] == "approve")
    assert approve["by"] == "bob" and approve["on_behalf_of"] == "alice"
    assert len(inbox(client, h["alice"])) == 1                        # the older task stays
    # after it: alice again
    frozen[0] = START + dt.timedelta(hours=4)
    third = new_deal(client, h["sam"], title="After")
    assert submit(client, h["sam"], third["id"])["tasks"][0]["assignee"] == "alice"
    # administrators set and clear someone's delegation; others may not
    admin_url = "/api/v1/admin/users/carol/delegation"
    assert client.put(admin_url, json={"to": "dave"}, headers=admin).status_code == 422
    assert client.put(admin_url, json={"to": "mia"}, headers=h["bob"]).status_code == 403
    r = client.put(admin_url, json={"to": "mia"}, headers=admin)
    assert r.status_code == 200 and r.json["delegation"]["active"] is True
    assert client.delete(admin_url, headers=admin).status_code == 204
    assert client.get(admin_url, headers=admin).json["delegation"] is None
    assert client.delete(url, headers=h["alice"]).status_code == 204
    assert client.get(url, headers=h["alice"]).json["delegation"] is None


def test_copies_notify_and_give_sight_of_the_approval(client: FlaskClient,
                                                      admin: dict[str, str]) -> None:
    step = {"name": "review", "approvers": {"users": ["alice"]}, "cc": {"users": ["carol"]},
            "fields": {"reviewer": "hidden"}}
    h = build(client, admin, process(step, cc={"users": ["dave"]}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    assert "cc" in _kinds(client, h["carol"])
    seen = client.get(f"/api/v1/approvals/{inst['id']}", headers=h["carol"])
    assert seen.status_code == 200, seen.json
    names = {f["name"] for f in seen.json["fields"]}
    assert "amount" in names and "reviewer" not in names
    # no record access comes with a copy
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=h["carol"]).status_code \
        == 404
    # the process's copy goes out when the approval ends
    assert client.get(f"/api/v1/approvals/{inst['id']}", headers=h["dave"]).status_code == 404
    act(client, h["alice"], "approve")
    assert "cc" in _kinds(client, h["dave"])
    assert client.get(f"/api/v1/approvals/{inst['id']}", headers=h["dave"]).status_code == 200
    assert client.get(f"/api/v1/approvals/{inst['id']}", headers=h["bob"]).status_code == 404


def test_a_copy_to_nobody_is_refused_when_saved(client: FlaskClient,
                                                admin: dict[str, str]) -> None:
    build(client, admin, None)
    r = client.post("/api/v1/admin/roles", json={"name": "auditor", "permissions": {}},
                    headers=admin)
    assert r.status_code == 201
    for cc, path in (({}, "$.cc"), ({"users": []}, "$.cc"), ({"role": "auditor"}, "$.cc.role"),
                     ({"users": ["ghost"]}, "$.cc.users[0]"), ({"field": "title"}, "$.cc.field")):
        r = client.post("/api/v1/meta/processes", json=process(SINGLE, cc=cc), headers=admin)
        assert r.status_code == 422 and path in error_of(r)["fields"], (cc, r.json)


def test_add_approver_before_after_and_parallel(client: FlaskClient,
                                                admin: dict[str, str]) -> None:
    h = build(client, admin, process(SINGLE))
    # before: bob decides first, then the task comes back to alice
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "add-approver", 422, user="alice")
    act(client, h["alice"], "add-approver", 422, user="bob", position="sideways")
    act(client, h["alice"], "add-approver", user="bob", position="before")
    assert inbox(client, h["alice"]) == []
    act(client, h["bob"], "approve", comment="fine by me")
    assert state(client, h["sam"], inst["id"]) == "running"
    assert act(client, h["alice"], "approve")["state"] == "approved"
    # before, and the added person rejects: that decides
    deal = new_deal(client, h["sam"], title="Two")
    submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "add-approver", user="bob", position="before")
    assert act(client, h["bob"], "reject")["state"] == "rejected"
    # after: alice approves now, carol decides after her
    deal = new_deal(client, h["sam"], title="Three")
    submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "add-approver", user="carol", position="after")
    assert inbox(client, h["alice"]) == []
    assert act(client, h["carol"], "reject")["state"] == "rejected"
    # parallel in a one-approver step: the added person must approve too
    deal = new_deal(client, h["sam"], title="Four")
    inst = submit(client, h["sam"], deal["id"])
    act(client, h["alice"], "add-approver", user="dave", position="parallel")
    act(client, h["dave"], "add-approver", 422, user="alice")          # already approves
    act(client, h["alice"], "approve")
    assert state(client, h["sam"], inst["id"]) == "running"
    done = act(client, h["dave"], "approve")
    assert done["state"] == "approved"
    assert [a["details"]["position"] for a in done["history"] if a["action"] == "add_approver"] \
        == ["parallel"]
