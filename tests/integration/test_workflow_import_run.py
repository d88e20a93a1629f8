"""A Camunda Modeler diagram imported through the API runs as an approval; concurrent
countersigners of one instance never lose a vote."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from .workflow_world import act, build, inbox, new_deal, process, submit

CAMUNDA = Path(__file__).parents[1] / "unit" / "workflow" / "data" / "camunda_purchase.bpmn"


def test_imported_diagram_runs(client: FlaskClient, admin: dict[str, str]) -> None:
    h = build(client, admin, None)
    r = client.post("/api/v1/meta/processes/import", json={
        "name": "purchase", "object": "deal", "bpmn": CAMUNDA.read_text()}, headers=admin)
    assert r.status_code == 201, r.json
    assert [s["name"] for s in r.json["steps"]] == ["activity_teamlead", "activity_board"]
    assert [(w["element"], w["type"]) for w in r.json["warnings"]] == [
        ("Activity_TeamLead", "userTask")]  # its Camunda input/output mapping is not run
    assert "inputOutput" in r.json["warnings"][0]["message"]
    small = new_deal(client, h["sam"], amount="5000")
    inst = submit(client, h["sam"], small["id"])
    assert act(client, h["alice"], "approve")["state"] == "approved"  # board skipped: <= 10k
    big = new_deal(client, h["sam"], title="Big", amount="20000")
    inst = submit(client, h["sam"], big["id"])
    act(client, h["alice"], "approve")
    # the board step: bob, carol and every holder of the 'approver' role, all of them
    board = {t["assignee"] for t in client.get(f"/api/v1/approvals/{inst['id']}",
                                                headers=admin).json["tasks"]
             if t["step"] == "activity_board"}
    assert {"bob", "carol", "dave", "mia"} <= board
    r = client.post("/api/v1/meta/processes/import", json={
        "name": "broken", "object": "deal",
        "bpmn": CAMUNDA.read_text().replace("amount &gt; 10000", "__import__('os')")},
        headers=admin)
    assert r.status_code == 422, r.json


def test_concurrent_countersigners_keep_every_vote(client: FlaskClient,
                                                  admin: dict[str, str]) -> None:
    names = ["alice", "bob", "carol", "dave"]
    h = build(client, admin, process({"name": "board", "mode": "all",
                                      "approvers": {"users": names}}))
    deal = new_deal(client, h["sam"])
    inst = submit(client, h["sam"], deal["id"])
    tasks = {n: inbox(client, h[n])[0]["id"] for n in names}
    app = client.application
    barrier = threading.Barrier(len(names))
    codes: dict[str, Any] = {}

    def approve(name: str) -> None:
        own = app.test_client()
        barrier.wait()
        r = own.post(f"/api/v1/approvals/tasks/{tasks[name]}/approve", json={},
                     headers=h[name])
        codes[name] = (r.status_code, r.json)

    threads = [threading.Thread(target=approve, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(c[0] == 200 for c in codes.values()), codes
    final = client.get(f"/api/v1/approvals/{inst['id']}", headers=admin).json
    assert final["state"] == "approved"
    assert sorted(a["by"] for a in final["history"] if a["action"] == "approve") == names
