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
    assert '<option value="grand" ' in page.text and '<option value="last_ship" ' in page.text
    assert '<option value="live" ' not in page.text  # not stored: not offered
    # The form offers the result type's conditions and input: a currency formula is
    # compared as a number, a roll-up of dates with a date input.
    form = c.get("/records/purchase?ff=grand&pick=1").text.split('id="fo"')[1]
    offered = form.split("</select>")[0]
    assert '<option value="gte"' in offered and '<option value="contains"' not in offered
    assert 'name="fv" type="number"' in form
    dated = c.get("/records/purchase?ff=last_ship&pick=1").text
    assert 'name="fv" type="date"' in dated
    r = c.get("/records/purchase?ff=last_ship&fo=gte&fv=2024-03-01")
    assert r.status_code == 303
    listed = c.get(r.headers["Location"])
    assert listed.status_code == 200 and ">b<" in listed.text and ">a<" not in listed.text
    zh = c.get("/records/purchase?live__gte=1&lang=zh")
    assert zh.status_code == 400 and "实时计算" in zh.text
    reader = browser_session(instance, "reader", PASSWORD)
    hidden = reader.get("/records/purchase?grand__gte=10")
    assert hidden.status_code == 400 and '<option value="grand" ' not in hidden.text


OTHER: dict[str, Any] = {"name": "supplier", "fields": [
    {"name": "sname", "type": "text"}, {"name": "vip", "type": "boolean"},
    {"name": "since", "type": "date"}, {"name": "rate", "type": "percent"}]}
EVERY: dict[str, Any] = {"name": "every", "fields": [
    {"name": "title", "type": "text"}, {"name": "n", "type": "integer"},
    {"name": "at", "type": "datetime"},
    {"name": "sup", "type": "lookup", "target": "supplier"},
    {"name": "f_int", "type": "formula", "result_type": "integer", "stored": True,
     "expression": "n * 2"},
    {"name": "f_dec", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "n / 4"},
    {"name": "f_pct", "type": "formula", "result_type": "percent", "stored": True,
     "expression": "n * 10"},
    {"name": "f_bool", "type": "formula", "result_type": "boolean", "stored": True,
     "expression": "n > 2"},
    {"name": "f_text", "type": "formula", "result_type": "text", "stored": True,
     "expression": "concat('x', title)"},
    {"name": "f_at", "type": "formula", "result_type": "datetime", "stored": True,
     "expression": "at"},
    # read through the supplier: masked on rows whose supplier the reader cannot see
    {"name": "s_vip", "type": "formula", "result_type": "boolean", "stored": True,
     "expression": "sup.vip"},
    {"name": "s_name", "type": "formula", "result_type": "text", "stored": True,
     "expression": "sup.sname"},
    {"name": "s_since", "type": "formula", "result_type": "date", "stored": True,
     "expression": "sup.since"},
    {"name": "s_rate", "type": "formula", "result_type": "percent", "stored": True,
     "expression": "sup.rate"},
]}


def _every_world(client: FlaskClient) -> tuple[dict[str, str], dict[str, str]]:
    """Three records a, b, c; a's supplier is the reader's own, b's and c's the admin's
    (which the reader may not see), so the reader sees s_* only on a."""
    admin = sign_in(client)
    for doc in (OTHER, EVERY):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    role = {"name": "clerk", "permissions": {
        "every": {"operations": ["read"], "scope": "all"},
        "supplier": {"operations": ["read"], "scope": "own"}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "clerk", "password": PASSWORD, "roles": ["clerk"]})
    assert r.status_code == 201, r.json
    sups = []
    for name in ("mine", "theirs"):
        r = client.post("/api/v1/records/supplier", headers=admin, json={
            "sname": name, "vip": True, "since": "2020-05-01", "rate": "12.5"})
        assert r.status_code == 201, r.json
        sups.append(r.json["id"])
    r = client.post(f"/api/v1/records/supplier/{sups[0]}/transfer", headers=admin,
                    json={"owner": "clerk"})
    assert r.status_code == 200, r.json
    for title, n, sup in (("a", 1, sups[0]), ("b", 3, sups[1]), ("c", 5, sups[1])):
        r = client.post("/api/v1/records/every", headers=admin, json={
            "title": title, "n": n, "at": f"2024-01-0{n}T10:00:00Z", "sup": sup})
        assert r.status_code == 201, r.json
    return admin, sign_in(client, username="clerk", password=PASSWORD)


def _found(client: FlaskClient, headers: dict[str, str], query: str) -> list[str]:
    r = client.get(f"/api/v1/records/every?{query}&sort=title&total=true", headers=headers)
    assert r.status_code == 200, (query, r.json)
    titles = [i["title"] for i in r.json["items"]]
    assert r.json["total"] == len(titles), query
    return titles


def test_every_result_type_filters_with_its_operators(client: FlaskClient) -> None:
    admin, clerk = _every_world(client)
    cases = {
        "f_int__gte=6": ["b", "c"], "f_int__lt=6": ["a"], "f_int__between=2,6": ["a", "b"],
        "f_dec__gt=0.5": ["b", "c"], "f_dec__lte=0.75": ["a", "b"],
        "f_pct__gte=30": ["b", "c"], "f_pct__between=10,30": ["a", "b"],
        "f_bool=true": ["b", "c"], "f_bool__ne=true": ["a"], "f_bool__isnull=false":
            ["a", "b", "c"],
        "f_text__contains=B": ["b"], "f_text__startswith=XC": ["c"], "f_text__gte=xb":
            ["b", "c"], "f_text__in=xa,xc": ["a", "c"],
        "f_at__gte=2024-01-03": ["b", "c"], "f_at__lt=2024-01-03T10:00:00Z": ["a"],
        "s_vip=true": ["a", "b", "c"], "s_name__contains=i": ["a", "b", "c"],
        "s_since__gte=2020-01-01": ["a", "b", "c"], "s_rate__lte=12.5": ["a", "b", "c"],
    }
    for query, expected in cases.items():
        assert _found(client, admin, query) == expected, query
    # The reader is shown s_* only on a, and finds by them only what is shown, with every
    # operator of each result type.
    masked = {
        "s_vip=true": ["a"], "s_vip__ne=true": ["b", "c"], "s_vip__isnull=true": ["b", "c"],
        "s_name__contains=e": ["a"], "s_name__startswith=MI": ["a"], "s_name__gte=a": ["a"],
        "s_name__ne=mine": ["b", "c"],
        "s_since__gte=2020-01-01": ["a"], "s_since__lt=2030-01-01": ["a"],
        "s_since__between=2020-05-01,2020-05-01": ["a"],
        "s_rate__gt=1": ["a"], "s_rate__lte=12.5": ["a"], "s_rate__between=0,100": ["a"],
        "f_pct__gte=30": ["b", "c"],  # nothing masked on what the reader's own row holds
    }
    for query, expected in masked.items():
        assert _found(client, clerk, query) == expected, query
    for query in ("f_bool__gt=true", "f_pct__contains=3", "s_since__startswith=2020",
                  "f_int__startswith=1"):
        r = client.get(f"/api/v1/records/every?{query}", headers=admin)
        assert r.status_code == 400 and "does not apply" in error_of(r)["message"], query
