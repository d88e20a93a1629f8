"""Derived values follow their sources (docs/security.md): a formula or roll-up computed
from a field a reader may not see is hidden like that field, and a value read through a
related record the reader cannot see is masked (None) on that record, on every path: reads,
lists, filters of every operator, sort, search, counts, cursors, exports, history, charts,
approvals, errors and the explain tool. List cursors are sealed."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import pytest

from crmforge.runtime import aggregates

from .conftest import error_of, sign_in

SUPPLIER: dict[str, Any] = {"name": "supplier", "fields": [
    {"name": "sname", "type": "text", "required": True, "searchable": True},
    {"name": "rating", "type": "text"}]}

PRODUCT: dict[str, Any] = {"name": "product", "fields": [
    {"name": "title", "type": "text", "required": True, "searchable": True},
    {"name": "price", "type": "decimal"},
    {"name": "cost", "type": "decimal"},
    {"name": "supplier", "type": "lookup", "target": "supplier"},
    # direct, through another formula, stored and not
    {"name": "margin", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "price - cost"},
    {"name": "margin_pct", "type": "formula", "result_type": "decimal",
     "expression": "margin / price * 100"},
    {"name": "cost_label", "type": "formula", "result_type": "text", "stored": True,
     "expression": "text(cost)"},
    {"name": "price2", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "price * 2"},
    # through a related record the reader may not see
    {"name": "rating_stored", "type": "formula", "result_type": "text", "stored": True,
     "expression": "supplier.rating"},
    {"name": "rating_live", "type": "formula", "result_type": "text",
     "expression": "supplier.rating"},
    {"name": "rating_or", "type": "formula", "result_type": "text", "stored": True,
     "expression": "if_blank(supplier.rating, 'none')"},
    {"name": "rating_or_live", "type": "formula", "result_type": "text",
     "expression": "if_blank(supplier.rating, 'none')"},
]}

PART: dict[str, Any] = {"name": "part", "fields": [
    {"name": "pname", "type": "text"},
    {"name": "product", "type": "master_detail", "target": "product"},
    {"name": "weight", "type": "decimal"},
    {"name": "secret_cost", "type": "decimal"}]}

ROLLUPS = [
    {"name": "n_parts", "type": "rollup", "function": "count", "child": "part"},
    {"name": "weight_sum", "type": "rollup", "function": "sum", "child": "part",
     "field": "weight"},
    {"name": "cost_sum", "type": "rollup", "function": "sum", "child": "part",
     "field": "secret_cost"},
    {"name": "costly_parts", "type": "rollup", "function": "count", "child": "part",
     "filter": "secret_cost > 10"},
    {"name": "cost_twice", "type": "formula", "result_type": "decimal", "stored": True,
     "expression": "cost_sum * 2"},
]

HIDDEN_DERIVED = {"margin", "margin_pct", "cost_label", "cost_sum", "costly_parts", "cost_twice"}
PASSWORD = "Sam-pass-2024!x"


def _create(client: Any, h: dict[str, str], obj: str, **values: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/records/{obj}", headers=h, json=values)
    assert r.status_code == 201, r.json
    return dict(r.json)


@pytest.fixture
def world(client, admin) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    h = admin
    for doc in (SUPPLIER, PRODUCT, PART):
        r = client.post("/api/v1/meta/objects", headers=h, json=doc)
        assert r.status_code == 201, r.json
    for f in ROLLUPS:
        r = client.post("/api/v1/meta/objects/product/fields", headers=h, json=f)
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/roles", headers=h, json={
        "name": "seller", "permissions": {
            "product": {"operations": ["read", "create", "update", "export", "submit"],
                        "scope": "all",
                        "fields": {"cost": "hidden"}},
            "part": {"operations": ["read"], "scope": "all",
                     "fields": {"secret_cost": "hidden"}},
            "supplier": {"operations": ["read"], "scope": "own"}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "sam", "password": PASSWORD, "roles": ["seller"]})
    assert r.status_code == 201, r.json
    sam = sign_in(client, username="sam", password=PASSWORD)
    mine = _create(client, h, "supplier", sname="Mine", rating="gold")
    r = client.post(f"/api/v1/records/supplier/{mine['id']}/transfer", headers=h,
                    json={"owner": "sam"})
    assert r.status_code == 200, r.json
    theirs = _create(client, h, "supplier", sname="Theirs", rating="platinum")
    products = [
        _create(client, h, "product", title=f"P{i}", price=str(100 + i), cost=str(37 + i),
                supplier=(theirs if i % 2 else mine)["id"])
        for i in range(6)]
    for p in products:
        _create(client, h, "part", pname="a", product=p["id"], weight="2", secret_cost="11")
    return {"admin": h, "sam": sam, "products": products, "mine": mine, "theirs": theirs}


def test_fields_derived_from_hidden_ones_are_hidden_on_reads_lists_and_exports(client, world):
    sam, products = world["sam"], world["products"]
    one = client.get(f"/api/v1/records/product/{products[0]['id']}", headers=sam).json
    assert not HIDDEN_DERIVED & set(one)
    assert {"price2", "n_parts", "weight_sum"} <= set(one) and one["n_parts"] == "1"
    items = client.get("/api/v1/records/product?limit=100", headers=sam).json["items"]
    assert items and all(not HIDDEN_DERIVED & set(i) for i in items)
    r = client.get("/api/v1/records/product/export?headers=names", headers=sam)
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert not HIDDEN_DERIVED & set(header)
    assert "63.00" not in text  # 100 - 37: the margin of the first product
    # An administrator still sees everything.
    full = client.get(f"/api/v1/records/product/{products[0]['id']}", headers=world["admin"]).json
    assert full["margin"] == "63.00" and full["cost_sum"] == "11.00"
    assert full["costly_parts"] == "1"


@pytest.mark.parametrize("query", [
    "margin=63", "margin__in=63,64", "margin__gte=0", "margin__isnull=true", "sort=margin",
    "sort=-cost_twice", "margin_pct__gt=1", "cost_sum=11", "costly_parts=1", "fields=margin",
    "cost_label=37", "cost_twice__between=0,100"])
def test_filters_sorts_and_field_lists_refuse_derived_fields_like_hidden_ones(client, world, query):
    r = client.get(f"/api/v1/records/product?{query}", headers=world["sam"])
    assert r.status_code == 400
    assert "no such field" in str(error_of(r))
    # ... exactly as for the hidden field itself: a probe learns nothing from the answer
    hidden = client.get("/api/v1/records/product?cost=37", headers=world["sam"])
    assert hidden.status_code == 400


def test_history_and_preview_and_charts_hide_derived_fields(client, world, instance):
    sam, pid = world["sam"], world["products"][0]["id"]
    hist = client.get(f"/api/v1/records/product/{pid}/history", headers=sam).json["items"]
    assert hist and not HIDDEN_DERIVED & {e["field"] for e in hist}
    assert not {"rating_stored", "rating_or"} & {e["field"] for e in hist}
    values = [str(e.get(k)) for e in hist for k in ("old", "new")]  # not the times
    assert not [v for v in values if "63" in v or "platinum" in v], values
    r = client.post("/api/v1/meta/objects/product/preview", headers=sam,
                    json={"expression": "margin * 1", "record": pid})
    assert r.status_code == 422
    principal = _principal(instance, "sam")
    tenant = instance.tenant("default")
    with pytest.raises(Exception, match="may not read 'margin'"):
        aggregates.distribution(tenant, principal, "product", "title", "margin")


def _principal(instance: Any, username: str) -> Any:
    from crmforge.security import org
    from crmforge.security.principal import Principal
    with instance.tenant("default").read() as conn:
        row = org.user_row(conn, username)
        return Principal(row.id, row.username, bool(row.is_admin), row.department_id,
                         roles=frozenset(org.user_doc(conn, row)["roles"]))


def test_values_through_an_invisible_related_record_are_masked_everywhere(client, world,
                                                                          instance):
    sam, products = world["sam"], world["products"]
    items = {i["id"]: i for i in client.get(
        "/api/v1/records/product?limit=100", headers=sam).json["items"]}
    for i, p in enumerate(products):
        seen = items[p["id"]]
        if i % 2:  # supplier "Theirs" is outside sam's scope
            assert seen["rating_stored"] is None and seen["rating_live"] is None
            # a stored formula answers exactly as the one computed on read
            assert seen["rating_or"] is None and seen["rating_or_live"] is None
        else:
            assert seen["rating_stored"] == seen["rating_live"] == "gold"
            assert seen["rating_or"] == seen["rating_or_live"] == "gold"
        one = client.get(f"/api/v1/records/product/{p['id']}", headers=sam).json
        assert {k: one[k] for k in ("rating_stored", "rating_or")} == \
            {k: seen[k] for k in ("rating_stored", "rating_or")}
    text = str(items)
    assert "platinum" not in text
    # every operator finds exactly what the reader is shown
    odd = {p["id"] for i, p in enumerate(products) if i % 2}
    even = {p["id"] for i, p in enumerate(products) if not i % 2}
    for query, expected in [("rating_stored=platinum", set()),
                            ("rating_stored__in=platinum,gold", even),
                            ("rating_stored__ne=gold", odd),
                            ("rating_stored__isnull=true", odd),
                            ("rating_or=platinum", set())]:
        r = client.get(f"/api/v1/records/product?{query}&total=true&limit=100", headers=sam)
        assert r.status_code == 200, (query, r.json)
        assert {i["id"] for i in r.json["items"]} == expected, query
        assert r.json["total"] == len(expected), query
    # sort: masked values sort as NULL (last ascending), not by the hidden value
    r = client.get("/api/v1/records/product?sort=rating_stored&limit=100", headers=sam).json
    order = [i["id"] for i in r["items"]]
    assert set(order[:3]) == even and set(order[3:]) == odd
    # paging by cursor through the masked sort gives the same rows, none twice
    seen_ids: list[int] = []
    cursor = None
    for _ in range(10):
        url = "/api/v1/records/product?sort=-rating_stored&limit=2"
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=sam).json
        seen_ids += [i["id"] for i in page["items"]]
        assert all(i["rating_stored"] != "platinum" for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen_ids) == sorted(p["id"] for p in products)
    # charts group the masked values
    groups = aggregates.distribution(instance.tenant("default"), _principal(instance, "sam"),
                                     "product", "rating_stored")
    assert {g["value"] for g in groups} == {"gold", None}
    # history leaves out values derived through records sam does not all see
    hist = client.get(f"/api/v1/records/product/{products[1]['id']}/history", headers=sam).json
    assert "platinum" not in str(hist)


def test_approval_responses_hide_derived_fields(client, world):
    h, sam = world["admin"], world["sam"]
    r = client.post("/api/v1/meta/processes", headers=h, json={
        "name": "price_check", "object": "product",
        "steps": [{"name": "boss", "mode": "single", "approvers": {"users": ["admin"]}}]})
    assert r.status_code == 201, r.json
    pid = world["products"][1]["id"]
    r = client.post("/api/v1/approvals", headers=sam, json={"object": "product", "record": pid})
    assert r.status_code in (200, 201), r.json
    instance_id = r.json["id"]
    seen = client.get(f"/api/v1/approvals/{instance_id}", headers=sam)
    assert seen.status_code == 200
    snap = seen.json["record_snapshot"]
    assert not HIDDEN_DERIVED & set(snap) and "cost" not in snap
    assert "platinum" not in str(seen.json)
    full = client.get(f"/api/v1/approvals/{instance_id}", headers=h).json["record_snapshot"]
    assert full["margin"] == "63.00" and full["rating_stored"] == "platinum"


def test_a_write_failing_on_a_hidden_formula_names_nothing(client, world):
    h, sam = world["admin"], world["sam"]
    r = client.post("/api/v1/meta/objects/product/fields", headers=h, json={
        "name": "ratio", "type": "formula", "result_type": "decimal", "stored": True,
        "expression": "value(title) + cost"})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/records/product", headers=h, json={"title": "abc", "cost": "1"})
    assert r.status_code == 422 and "ratio" in error_of(r)["fields"]
    # ratio reads the hidden cost: sam's failing write is refused without naming it
    r = client.post("/api/v1/records/product", headers=sam, json={"title": "abc"})
    assert r.status_code == 422
    assert "ratio" not in str(r.json) and "cost" not in str(r.json)
    assert "fields you may not see" in error_of(r)["message"]
    ok = client.post("/api/v1/records/product", headers=sam, json={"title": "12"})
    assert ok.status_code == 201 and "ratio" not in ok.json


def test_explain_names_the_hidden_source_of_a_derived_field(client, world):
    h = world["admin"]
    r = client.get("/api/v1/admin/explain?user=sam&object=product&field=margin_pct", headers=h)
    assert r.status_code == 200 and r.json["allowed"] is False
    assert "product.cost" in r.json["reason"]
    r = client.get("/api/v1/admin/explain?user=sam&object=product&field=cost_twice", headers=h)
    assert r.json["allowed"] is False and "part.secret_cost" in r.json["reason"]
    r = client.get("/api/v1/admin/explain?user=sam&object=product&field=rating_stored",
                   headers=h)
    assert r.json["allowed"] is True and "cannot see" in r.json["reason"]
    r = client.get("/api/v1/admin/explain?user=sam&object=product&field=price2", headers=h)
    assert r.json["allowed"] is True and "cannot see" not in r.json["reason"]
    r = client.get("/api/v1/admin/explain?user=sam&object=product&field=nope", headers=h)
    assert r.json["allowed"] is False


# -- cursors -------------------------------------------------------------------------------
def _first_cursor(client: Any, h: dict[str, str], sort: str = "price") -> str:
    page = client.get(f"/api/v1/records/product?sort={sort}&limit=2", headers=h).json
    assert page["next_cursor"]
    return str(page["next_cursor"])


def test_a_cursor_reveals_no_sort_value(client, world):
    cursor = _first_cursor(client, world["sam"])
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"101" not in raw and b"price" not in raw
    # and it pages as before
    page = client.get(f"/api/v1/records/product?sort=price&limit=2&cursor={cursor}",
                      headers=world["sam"]).json
    assert [i["title"] for i in page["items"]] == ["P2", "P3"]


def test_forged_and_foreign_cursors_are_refused(client, world):
    sam, h = world["sam"], world["admin"]
    old_style = base64.urlsafe_b64encode(b'["40.00",1]').decode().rstrip("=")
    cursor = _first_cursor(client, sam)
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (old_style, flipped, "x" * 5000, "%%%", cursor + "AAAA"):
        r = client.get("/api/v1/records/product",
                       query_string={"sort": "price", "limit": "2", "cursor": bad}, headers=sam)
        assert r.status_code == 400, bad
        assert error_of(r)["code"] == "bad_request"
    # another user's cursor, another sort's and another object's do not open
    assert client.get(f"/api/v1/records/product?sort=price&limit=2&cursor={cursor}",
                      headers=h).status_code == 400
    assert client.get(f"/api/v1/records/product?sort=-price&limit=2&cursor={cursor}",
                      headers=sam).status_code == 400
    assert client.get(f"/api/v1/records/part?sort=price&limit=2&cursor={cursor}",
                      headers=sam).status_code == 400


def test_the_designer_explains_a_derived_field_in_both_languages(world, instance):
    from .conftest import browser_session
    c = browser_session(instance)
    page = c.get("/admin/explain?user=sam&object=product&field=margin_pct&lang=en")
    assert page.status_code == 200
    assert "Not allowed" in page.text and "product.cost" in page.text
    page = c.get("/admin/explain?user=sam&object=product&field=margin_pct&lang=zh")
    assert "计算而来" in page.text and "product.cost" in page.text
