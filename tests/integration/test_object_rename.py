"""Renaming an object in the designer: its records, roles, approval processes, dashboards
and running approvals all follow the new name in one metadata version; a refused name
changes nothing."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Designer, Instance
from crmforge.security.accounts import principal_of

from . import workflow_world as ww
from .conftest import browser_session
from .test_admin_ui import _error_beside, _post

BOARD = {"name": "deals", "label": {"en": "Deals"},
         "charts": [{"object": "deal", "type": "bar", "field": "status"}]}


def _setup(client: FlaskClient, admin: dict[str, str], instance: Instance
           ) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    heads = ww.build(client, admin, ww.process({"name": "check", "approvers": {"users": ["alice"]}}))
    deal = ww.new_deal(client, heads["sam"])
    ww.submit(client, heads["sam"], deal["id"])
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        Designer(tenant).set_dashboard(principal_of(conn, "admin"), BOARD)
    return heads, deal


def test_rename_carries_every_reference(client: FlaskClient, admin: dict[str, str],
                                        instance: Instance) -> None:
    heads, deal = _setup(client, admin, instance)
    designer = browser_session(instance)
    r = _post(designer, "/admin/objects/deal/rename", {"new_name": "opportunity"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/objects/opportunity")

    got = client.get(f"/api/v1/records/opportunity/{deal['id']}", headers=heads["sam"])
    assert got.status_code == 200 and got.json["title"] == deal["title"]
    assert client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).status_code == 404
    d = Designer(instance.tenant("default"))
    assert "opportunity" in d.role("seller")["permissions"]
    assert "deal" not in d.role("seller")["permissions"]
    snap = d.snapshot()
    assert [p["object"] for p in snap.data["processes"]] == ["opportunity"]
    assert [c["object"] for b in snap.data["dashboards"] for c in b["charts"]] == ["opportunity"]
    # The running approval goes on under the new name, and the inbox links to it.
    task = ww.inbox(client, heads["alice"])[0]
    assert task["object"] == "opportunity"
    page = browser_session(instance, "alice", ww.PASSWORD).get("/inbox").text
    assert f"/records/opportunity/{deal['id']}" in page
    ww.act(client, heads["alice"], "approve")
    assert client.get(f"/api/v1/records/opportunity/{deal['id']}",
                      headers=admin).json["status"] == "approved"


def test_a_refused_name_is_shown_beside_the_input_and_changes_nothing(
        client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
    _setup(client, admin, instance)
    before = Designer(instance.tenant("default")).snapshot().version
    designer = browser_session(instance)
    r = _post(designer, "/admin/objects/deal/rename", {"new_name": "Not a Name!"})
    assert r.status_code == 422
    assert _error_beside(r.text, "new_name")
    assert 'value="Not a Name!"' in r.text
    assert Designer(instance.tenant("default")).snapshot().version == before
    assert client.get("/api/v1/meta/objects/deal", headers=admin).status_code == 200


def test_saved_list_views_follow_a_renamed_object(client: FlaskClient, admin: dict[str, str],
                                                   instance: Instance) -> None:
    _setup(client, admin, instance)
    r = client.post("/api/v1/list-views/deal", headers=admin,
                    json={"name": "Big ones", "query": "amount__gt=1000&sort=-amount"})
    assert r.status_code == 201, r.json
    _post(browser_session(instance), "/admin/objects/deal/rename", {"new_name": "opportunity"})
    views = client.get("/api/v1/list-views/opportunity", headers=admin).json
    assert [(v["name"], v["object"]) for v in views["items"]] == [("Big ones", "opportunity")]


def test_saved_list_views_follow_a_renamed_field(client: FlaskClient, admin: dict[str, str],
                                                  instance: Instance) -> None:
    _setup(client, admin, instance)
    query = "amount__gt=1000&amount=5&sort=-amount,title&fields=title,amount&status=draft"
    r = client.post("/api/v1/list-views/deal", headers=admin, json={"name": "Big", "query": query})
    assert r.status_code == 201, r.json
    r = client.patch("/api/v1/meta/objects/deal/fields/amount", headers=admin,
                     json={"name": "value"})
    assert r.status_code == 200, r.json
    views = client.get("/api/v1/list-views/deal", headers=admin).json["items"]
    assert [v["query"] for v in views] == [
        "value__gt=1000&value=5&sort=-value%2Ctitle&fields=title%2Cvalue&status=draft"]
    # The view still opens: its query is valid for the renamed field.
    listed = client.get("/api/v1/records/deal?value__gt=1000&sort=-value,title", headers=admin)
    assert listed.status_code == 200, listed.json
