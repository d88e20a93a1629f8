"""Stored formulas and roll-ups filter with the operators of their result type, through
the API and the list page; formulas computed on read are refused with a clear 400; a
formula derived from a field hidden from the reader cannot be filtered by that reader."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, error_of, sign_in

PASSWORD = "Reader-pass-123"

ORDER: dict[str, Any] = {
    "name": "purchase", "fields": [
        {"name": "title", "type": "text", "searchable": True},
        {"name": "qty", "type": "integer"},
        {"name": "price", "type": "currency"},
        {"name": "grand", "type": "formula", "result_type": "currency", "stored": True,
         "expression": "qty * price"},
        {"name": "code", "type": "formula", "result_type": "text", "stored": True,
         "expression": "concat('ORD-', title)"},
        {"name": "placed", "type": "date"},
        {"name": "due", "type": "formula", "result_type": "date", "stored": True,
         "expression": "placed + 30"},
        {"name": "live", "type": "formula", "result_type": "currency",
         "expression": "qty * price"},
    ],
}
LINE: dict[str, Any] = {
    "name": "line", "fields": [
        {"name": "buy", "type": "master_detail", "target": "purchase"},
        {"name": "amount", "type": "decimal", "scale": 2},
        {"name": "shipped", "type": "date"},
    ],
}
ROLLUPS = (
    {"name": "lines", "type": "rollup", "function": "count", "child": "line"},
    {"name": "line_sum", "type": "rollup", "function": "sum", "child": "line",
     "field": "amount"},
    {"name": "last_ship", "type": "rollup", "function": "max", "child": "line",
     "field": "shipped"},
)


def _world(client: FlaskClient) -> tuple[dict[str, str], dict[str, int]]:
    admin = sign_in(client)
    for doc in (ORDER, LINE):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    for f in ROLLUPS:
        r = client.post("/api/v1/meta/objects/purchase/fields", json=f, headers=admin)
        assert r.status_code == 201, r.json
    ids = {}
    for title, qty, price, placed in (("a", 1, "5", "2024-01-01"), ("b", 3, "5", "2024-03-01"),
                                      ("c", 10, "2.5", "2024-06-01")):
        r = client.post("/api/v1/records/purchase", headers=admin, json={
            "title": title, "qty": qty, "price": price, "placed": placed})
        assert r.status_code == 201, r.json
        ids[title] = r.json["id"]
    for order, amount, shipped in (("a", "1", "2024-02-01"), ("b", "7", "2024-04-01"),
                                   ("b", "8", "2024-05-01")):
        r = client.post("/api/v1/records/line", headers=admin, json={
            "buy": ids[order], "amount": amount, "shipped": shipped})
        assert r.status_code == 201, r.json
    # A reader who may not see the price: the grand total, derived from it, is hidden too.
    role = {"name": "reader", "permissions": {
        "purchase": {"operations": ["read"], "scope": "all", "fields": {"price": "hidden"}},
        "line": {"operations": ["read"], "scope": "all"}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "reader", "password": PASSWORD, "roles": ["reader"]})
    assert r.status_code == 201, r.json
    return admin, ids


def _titles(client: FlaskClient, headers: dict[str, str], query: str) -> list[str]:
    r = client.get(f"/api/v1/records/purchase?{query}&sort=title", headers=headers)
    assert r.status_code == 200, (query, r.json)
    return [i["title"] for i in r.json["items"]]


def test_derived_values_filter_with_their_result_types_operators(client: FlaskClient) -> None:
    admin, _ = _world(client)
    cases = {
        "grand__gte=10": ["b", "c"], "grand__lt=15": ["a"], "grand__between=5,15": ["a", "b"],
        "grand=25": ["c"], "grand__ne=5": ["b", "c"], "grand__in=5,25": ["a", "c"],
        "code__contains=RD-B": ["b"], "code__startswith=ord-c": ["c"],
        "due__gte=2024-03-15": ["b", "c"], "due__lt=2024-02-01": ["a"],
        "lines__gte=1": ["a", "b"], "lines__lt=1": ["c"], "line_sum__gt=5": ["b"],
        "line_sum__between=0,2": ["a", "c"], "last_ship__gte=2024-03-01": ["b"],
        "last_ship__lt=2024-03-01": ["a"], "last_ship__isnull=true": ["c"],
    }
    for query, expected in cases.items():
        assert _titles(client, admin, query) == expected, query
    r = client.get("/api/v1/records/purchase?sort=-grand&fields=title", headers=admin)
    assert [i["title"] for i in r.json["items"]] == ["c", "b", "a"]
    # Values that do not fit the result type, operators it does not take.
    for query, says in (("grand__gte=abc", "'abc' is not a number"),
                        ("last_ship__gte=soon", "is not a date"),
                        ("grand__contains=1", "does not apply"),
                        ("lines__startswith=1", "does not apply")):
        r = client.get(f"/api/v1/records/purchase?{query}", headers=admin)
        assert r.status_code == 400 and says in error_of(r)["message"], (query, r.json)
    # Computed on read: no column to filter or sort by, and the answer says so.
    for query in ("live__gte=1", "live=5", "sort=live"):
        r = client.get(f"/api/v1/records/purchase?{query}", headers=admin)
        assert r.status_code == 400, (query, r.json)
        assert "computed and not stored" in error_of(r)["message"]


def test_a_derived_value_hidden_from_the_reader_cannot_be_filtered(client: FlaskClient) -> None:
    _, _ = _world(client)
    reader = sign_in(client, username="reader", password=PASSWORD)
    assert _titles(client, reader, "lines__gte=2") == ["b"]  # visible roll-ups filter
    unknown = client.get("/api/v1/records/purchase?nothing__gte=10", headers=reader)
    for query in ("grand__gte=10", "grand=25", "grand__isnull=true", "sort=grand"):
        r = client.get(f"/api/v1/records/purchase?{query}", headers=reader)
        assert r.status_code == 400, (query, r.json)
        # ... answered exactly like a field that does not exist (nothing to probe).
        assert error_of(r)["message"] == error_of(unknown)["message"].replace(
            "nothing", "grand").replace("filter", "sort" if query.startswith("sort") else "filter")


def test_the_list_page_filters_derived_values(client: FlaskClient, instance: Instance) -> None:
    _world(client)
    c = browser_session(instance)
    page = c.get("/records/purchase?grand__gte=10")
    assert page.status_code == 200
    assert ">b<" in page.text and ">c<" in page.text and ">a<" not in page.text
    assert '<option value="grand">' in page.text and '<option value="last_ship">' in page.text
    assert '<option value="live">' not in page.text  # not stored: not offered
    r = c.get("/records/purchase?ff=last_ship&fo=gte&fv=2024-03-01")
    assert r.status_code == 303
    listed = c.get(r.headers["Location"])
    assert listed.status_code == 200 and ">b<" in listed.text and ">a<" not in listed.text
    zh = c.get("/records/purchase?live__gte=1&lang=zh")
    assert zh.status_code == 400 and "实时计算" in zh.text
    reader = browser_session(instance, "reader", PASSWORD)
    hidden = reader.get("/records/purchase?grand__gte=10")
    assert hidden.status_code == 400 and '<option value="grand">' not in hidden.text
