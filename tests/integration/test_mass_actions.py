"""Mass actions on the list page (browser sessions with CSRF tokens): each record goes
through the record or approval service on its own, so record-level permissions decide per
record and the refused ones are reported by title with the service's reason; the action
bar offers only what the user may do; at most 200 ids per request."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, sign_in
from .workflow_world import PASSWORD, build, inbox, new_deal, process

TASK: dict[str, Any] = {
    "name": "task", "label": {"zh": "任务", "en": "Task"},
    "fields": [{"name": "subject", "type": "text", "required": True,
                "label": {"zh": "主题", "en": "Subject"}}],
}
CLARA = "Clara-pass-1234"


def _mass(c: FlaskClient, obj: str, action: str, ids: list[Any], **form: str) -> Any:
    token = csrf_token(c.get(f"/records/{obj}").text)
    return c.post(f"/records/{obj}/_mass", data={"csrf_token": token, "action": action,
                                                 "id": [str(i) for i in ids],
                                                 "confirmed": "1", **form})  # asked before


def _tasks(client: FlaskClient) -> tuple[dict[str, str], dict[str, str], list[int]]:
    """Clara reads every task but deletes only her own: two hers, one the admin's."""
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=TASK, headers=admin).status_code == 201
    for role in ({"name": "reader", "permissions": {"task": {
                     "operations": ["read", "create"], "scope": "all"}}},
                 {"name": "cleaner", "permissions": {"task": {
                     "operations": ["delete"], "scope": "own"}}}):
        assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", json={
        "username": "clara", "password": CLARA, "roles": ["reader", "cleaner"]}, headers=admin)
    assert r.status_code == 201, r.json
    clara = sign_in(client, username="clara", password=CLARA)
    ids = []
    for who, subject in ((clara, "Mine one"), (clara, "Mine two"),
                         (admin, "Boss <i>task</i>")):
        r = client.post("/api/v1/records/task", json={"subject": subject}, headers=who)
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    return admin, clara, ids


def test_mass_delete_goes_record_by_record(client: FlaskClient, instance: Instance) -> None:
    admin, _, ids = _tasks(client)
    c = browser_session(instance, "clara", CLARA)
    page = c.get("/records/task").text
    assert re.findall(r'<option value="(\w+)">', page.split('id="mass-action"')[1]
                      .split("</select>")[0]) == ["delete"]  # no transfer, no submit
    assert 'id="mass-owner"' not in page
    for rid in ids:
        assert f'name="id" value="{rid}" form="mass"' in page
    r = _mass(c, "task", "delete", ids)
    assert r.status_code == 200, r.text  # some succeeded: a report, not an error
    report = r.text.split('id="mass-report"')[1].split("</section>")[0]
    assert "2 of 3 records done." in report
    assert f'href="/records/task/{ids[2]}">Boss &lt;i&gt;task&lt;/i&gt;</a>' in report
    assert "you may read but not change this Task record" in report
    assert "Mine one" not in report
    bin_ = client.get("/api/v1/recycle-bin", headers=admin).json["items"]
    assert sorted(e["id"] for e in bin_ if e["object"] == "task") == sorted(ids[:2])
    left = client.get("/api/v1/records/task", headers=admin).json["items"]
    assert [t["id"] for t in left] == [ids[2]]
    # All refused: the report comes with the refusal's status.
    r = _mass(c, "task", "delete", [ids[2]])
    assert r.status_code == 403 and "0 of 1 records done." in r.text


def test_all_done_redirects_with_a_message(client: FlaskClient, instance: Instance) -> None:
    _, _, ids = _tasks(client)
    c = browser_session(instance)
    r = _mass(c, "task", "delete", [ids[0], ids[1], ids[0]])  # repeats count once
    assert r.status_code == 303 and r.headers["Location"] == "/records/task"
    assert "2 of 2 records done." in c.get("/records/task").text
    token = csrf_token(c.get("/records/task").text)
    r = c.post("/records/task/_mass?sort=-id", data={"csrf_token": token, "action": "delete",
                                                     "id": str(ids[2]), "confirmed": "1"})
    assert r.status_code == 303 and r.headers["Location"] == "/records/task?sort=-id"


def test_change_owner(client: FlaskClient, instance: Instance) -> None:
    admin, _, ids = _tasks(client)
    clara_id = client.get("/api/v1/admin/users/clara", headers=admin).json["id"]
    c = browser_session(instance)
    page = c.get("/records/task").text
    assert 'id="mass-owner"' in page and 'value="transfer"' in page
    r = _mass(c, "task", "transfer", [ids[2]], owner="clara")
    assert r.status_code == 303
    assert client.get(f"/api/v1/records/task/{ids[2]}", headers=admin).json["owner_id"] \
        == clara_id
    r = _mass(c, "task", "transfer", ids[:2], owner="nobody")
    assert r.status_code == 422 and r.text.count("no active user nobody") == 2
    r = _mass(c, "task", "transfer", ids[:2], owner=" ")
    assert r.status_code == 400 and "Enter the user name of the new owner." in r.text
    # Clara may not transfer: the action is not offered, and a forged post is refused.
    clara = browser_session(instance, "clara", CLARA)
    r = _mass(clara, "task", "transfer", ids[:1], owner="admin")
    assert r.status_code == 403
    assert client.get(f"/api/v1/records/task/{ids[0]}", headers=admin).json["owner_id"] \
        == clara_id


def test_limits_and_bad_requests(client: FlaskClient, instance: Instance) -> None:
    _, _, ids = _tasks(client)
    c = browser_session(instance)
    r = _mass(c, "task", "delete", list(range(1, 202)))
    assert r.status_code == 400
    assert "At most 200 records at once; 201 were selected." in r.text
    assert _mass(c, "task", "delete", []).status_code == 400
    assert "Select at least one record." in _mass(c, "task", "delete", []).text
    assert _mass(c, "task", "delete", ["x1"]).status_code == 400
    assert _mass(c, "task", "explode", ids).status_code == 400
    assert c.post("/records/task/_mass", data={"action": "delete",
                                               "id": str(ids[0])}).status_code == 403  # CSRF
    assert len(client.get("/api/v1/records/task", headers=sign_in(client)).json["items"]) == 3
    r = _mass(c, "task", "delete", list(range(1, 201)))  # 200 is allowed; unknown ids refused
    assert r.status_code == 200 and "3 of 200 records done." in r.text
    assert "no Task record 4" in r.text  # the object by its label, not its API name


def test_submit_two_records_for_approval(client: FlaskClient, admin: dict[str, str],
                                         instance: Instance) -> None:
    heads = build(client, admin, process({"name": "review", "mode": "single",
                                          "approvers": {"users": ["alice"]}}))
    deals = [new_deal(client, heads["sam"], title=f"Deal {i}")["id"] for i in range(2)]
    sam = browser_session(instance, "sam", PASSWORD)
    page = sam.get("/records/deal").text
    bar = page.split('id="mass-action"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\w+)">', bar) == ["submit"]  # seller: no delete
    r = _mass(sam, "deal", "submit", deals)
    assert r.status_code == 303, r.text
    assert sorted(t["record_id"] for t in inbox(client, heads["alice"])) == sorted(deals)
    # Again: both are already in approval, and locked for the administrator's delete too.
    r = _mass(sam, "deal", "submit", deals)
    assert r.status_code == 409 and r.text.count("already in approval") == 2
    r = _mass(browser_session(instance), "deal", "delete", deals)
    assert r.status_code == 403 and "0 of 2 records done." in r.text
    assert len(inbox(client, heads["alice"])) == 2


def test_action_bar_hides_what_the_user_lacks(client: FlaskClient, admin: dict[str, str],
                                              instance: Instance) -> None:
    build(client, admin, None)  # no approval process: nobody is offered "submit"
    new_deal(client, admin)
    page = browser_session(instance).get("/records/deal").text
    bar = page.split('id="mass-action"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\w+)">', bar) == ["delete", "transfer"]
    sam = browser_session(instance, "sam", PASSWORD)
    page = sam.get("/records/deal").text  # create, read, update, submit; no process
    assert 'id="mass"' not in page and 'id="select-all"' not in page
    assert 'name="id"' not in page
    r = _mass(sam, "deal", "submit", [1])
    assert r.status_code == 403
    zh = browser_session(instance).get("/records/deal?lang=zh").text
    assert "更改负责人" in zh and "应用" in zh and "With the selected records" not in zh
