"""Rep turnover loses no customer: a terminal handover, submitted by the district manager
and approved by commercial operations, gives the terminal to the rep taking over (its
department follows theirs), so the new rep sees it and the old one no longer does."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import install, sign_in

PASSWORD = "Pharma-pass-1234"


def _ok(r: Any, code: int = 200) -> dict[str, Any]:
    assert r.status_code == code, r.json
    return dict(r.json)


def test_an_approved_handover_gives_the_terminal_to_the_new_rep(
        instance: Instance, client: FlaskClient, admin: dict[str, str]) -> None:
    install(instance, "core", "pharma")
    for name, parent in (("ph_region", None), ("terr_a", "ph_region"), ("terr_b", "ph_region")):
        _ok(client.post("/api/v1/admin/departments", headers=admin,
                        json={"name": name, "parent": parent}), 201)
    for user, dept, role in (("rep_a", "terr_a", "pharma_rep"), ("rep_b", "terr_b", "pharma_rep"),
                             ("dm", "ph_region", "pharma_district_manager"),
                             ("ops", "ph_region", "pharma_commercial_ops")):
        _ok(client.post("/api/v1/admin/users", headers=admin, json={
            "username": user, "password": PASSWORD, "department": dept, "roles": [role]}), 201)
    who = {u: sign_in(client, username=u, password=PASSWORD) for u in ("rep_a", "rep_b", "dm",
                                                                       "ops")}
    terminal = _ok(client.get("/api/v1/records/hospital?limit=1", headers=admin))["items"][0]
    _ok(client.post(f"/api/v1/records/hospital/{terminal['id']}/transfer", headers=admin,
                    json={"owner": "rep_a"}))
    url = f"/api/v1/records/hospital/{terminal['id']}"
    assert client.get(url, headers=who["rep_a"]).status_code == 200
    assert client.get(url, headers=who["rep_b"]).status_code == 404
    rep_b = _ok(client.get("/api/v1/admin/users/rep_b", headers=admin))["id"]
    # Without a rep taking over, the request cannot be submitted.
    blank = _ok(client.post("/api/v1/records/terminal_handover", headers=who["dm"], json={
        "hospital": terminal["id"], "reason": "rep_left"}), 201)
    r = client.post("/api/v1/approvals", headers=who["dm"],
                    json={"object": "terminal_handover", "record": blank["id"]})
    assert r.status_code in (409, 422), r.json
    request = _ok(client.post("/api/v1/records/terminal_handover", headers=who["dm"], json={
        "hospital": terminal["id"], "to_rep": rep_b, "reason": "rep_left",
        "handover_notes": "跟进中的医生 3 位"}), 201)
    run = _ok(client.post("/api/v1/approvals", headers=who["dm"], json={
        "object": "terminal_handover", "record": request["id"]}), 201)
    assert run["state"] == "running"
    assert client.get(url, headers=who["rep_b"]).status_code == 404  # not before approval
    (task,) = _ok(client.get("/api/v1/approvals/tasks", headers=who["ops"]))["items"]
    done = _ok(client.post(f"/api/v1/approvals/tasks/{task['id']}/approve",
                           headers=who["ops"], json={"comment": "同意交接"}))
    assert done["state"] == "approved"
    moved = _ok(client.get(url, headers=who["rep_b"]))
    assert moved["owner_id"] == rep_b
    assert client.get(url, headers=who["rep_a"]).status_code == 404
    record = _ok(client.get(f"/api/v1/records/terminal_handover/{request['id']}",
                            headers=who["dm"]))
    assert record["status"] == "approved" and record["effective_date"]
