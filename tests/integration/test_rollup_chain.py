"""A roll-up over a roll-up: a grandparent's total follows its grandchildren's writes."""

from __future__ import annotations

from flask.testing import FlaskClient

REGION = {"name": "region", "fields": [
    {"name": "name", "type": "text"},
    {"name": "total", "type": "rollup", "function": "sum", "child": "acct", "field": "total"}]}
ACCT = {"name": "acct", "fields": [
    {"name": "name", "type": "text"},
    {"name": "region", "type": "master_detail", "target": "region"},
    {"name": "total", "type": "rollup", "function": "sum", "child": "deal", "field": "amount"}]}
DEAL = {"name": "deal", "fields": [
    {"name": "acct", "type": "master_detail", "target": "acct"},
    {"name": "amount", "type": "currency"}]}


def test_a_rollup_of_rollups_follows_every_write(client: FlaskClient, admin: dict[str, str]) -> None:
    # The objects exist before their roll-ups (a roll-up names an existing child).
    for doc in ({"name": "region", "fields": REGION["fields"][:1]}, {**ACCT, "fields": ACCT["fields"][:2]},
                DEAL):
        assert client.post("/api/v1/meta/objects", headers=admin, json=doc).status_code == 201
    for obj, field in (("acct", ACCT["fields"][2]), ("region", REGION["fields"][1])):
        r = client.post(f"/api/v1/meta/objects/{obj}/fields", headers=admin, json=field)
        assert r.status_code == 201, r.json
    region = client.post("/api/v1/records/region", headers=admin, json={"name": "North"}).json
    accts = [client.post("/api/v1/records/acct", headers=admin,
                         json={"name": n, "region": region["id"]}).json for n in ("A", "B")]
    deals = [client.post("/api/v1/records/deal", headers=admin,
                         json={"acct": a["id"], "amount": amount}).json
             for a, amount in ((accts[0], "10"), (accts[0], "5"), (accts[1], "2.5"))]

    def total() -> str:
        return str(client.get(f"/api/v1/records/region/{region['id']}", headers=admin).json["total"])

    assert total() == "17.50"
    r = client.patch(f"/api/v1/records/deal/{deals[0]['id']}", headers=admin,
                     json={"amount": "1", "version": deals[0]["version"]})
    assert r.status_code == 200, r.json
    assert total() == "8.50"
    assert client.delete(f"/api/v1/records/deal/{deals[2]['id']}", headers=admin).status_code == 204
    assert total() == "6.00"
    assert client.post(f"/api/v1/records/deal/{deals[2]['id']}/restore",
                       headers=admin).status_code == 200
    assert total() == "8.50"
