"""Records over REST: the contract of DESIGN §9, tenancy, OpenAPI, budgets and races."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from .conftest import BOOTH, EXHIBITOR, error_of, sign_in


@pytest.fixture
def booths(client, admin) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin)
    assert client.post("/api/v1/meta/objects", json=BOOTH, headers=admin).status_code == 201
    out = []
    for i in range(12):
        r = client.post("/api/v1/records/booth", headers=admin, json={
            "number": f"B{i:02d}", "area": str(i % 4 * 5), "price": 100 + i,
            "status": "contracted" if i % 3 == 0 else "available"})
        assert r.status_code == 201, r.json
        out.append(r.json)
    return out


def _count(instance: Any, table: str) -> int:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar())


def test_create_answers_201_with_location_etag_and_defaults(client, admin, booths) -> None:
    first = booths[1]
    assert first["status"] == "available" and first["version"] == 1
    r = client.get(f"/api/v1/records/booth/{first['id']}", headers=admin)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    assert r.json["number"] == "B01" and r.json["price"] == "101.00"


def test_list_filters_sort_fields_and_total(client, admin, booths) -> None:
    r = client.get("/api/v1/records/booth?status=contracted&sort=-number&fields=number"
                   "&total=true", headers=admin)
    assert r.status_code == 200
    assert [i["number"] for i in r.json["items"]] == ["B09", "B06", "B03", "B00"]
    assert r.json["total"] == 4
    assert set(r.json["items"][0]) == {"id", "version", "number"}
    r = client.get("/api/v1/records/booth?area__between=5,10&number__in=B01,B02,B05", headers=admin)
    assert sorted(i["number"] for i in r.json["items"]) == ["B01", "B02", "B05"]
    r = client.get("/api/v1/records/booth?q=b1", headers=admin)
    assert sorted(i["number"] for i in r.json["items"]) == ["B10", "B11"]


def test_cursor_pagination_walks_everything_once(client, admin, booths) -> None:
    seen: list[str] = []
    url = "/api/v1/records/booth?sort=area,-number&limit=5"
    while url:
        body = client.get(url, headers=admin).json
        seen += [i["number"] for i in body["items"]]
        cursor = body["next_cursor"]
        url = f"/api/v1/records/booth?sort=area,-number&limit=5&cursor={cursor}" if cursor else ""
    expected = [b["number"] for b in sorted(booths, key=lambda b: (float(b["area"]),
                                                                   [-ord(c) for c in b["number"]]))]
    assert seen == expected


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("area__like=1", 400), ("area__gte=abc", 400), ("nope=1", 400), ("limit=0", 400),
        ("limit=x", 400), ("cursor=garbage", 400), ("sort=nope", 400), ("area__between=1", 400),
        ("status__contains=x", 400),
    ],
)
def test_bad_list_parameters_are_400(client, admin, booths, query, status) -> None:
    r = client.get(f"/api/v1/records/booth?{query}", headers=admin)
    assert r.status_code == status, r.json
    error_of(r)


def test_wrong_values_are_all_reported_and_nothing_is_written(client, admin, booths, instance) -> None:
    before = _count(instance, "obj_booth")
    r = client.post("/api/v1/records/booth", headers=admin, json={
        "number": "x" * 21, "area": "-1", "price": "abc", "status": "sold", "ghost": 1,
        "owner_id": 5, "total": 3})
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert set(fields) == {"number", "area", "price", "status", "ghost", "owner_id", "total"}
    assert _count(instance, "obj_booth") == before


def test_unique_and_required(client, admin, booths, instance) -> None:
    r = client.post("/api/v1/records/booth", headers=admin, json={"number": "B01"})
    assert r.status_code == 422 and "unique" in error_of(r)["fields"]["number"][0]
    r = client.post("/api/v1/records/booth", headers=admin, json={"area": 1})
    assert r.status_code == 422 and error_of(r)["fields"]["number"] == ["is required"]


def test_stale_version_is_409_and_changes_nothing(client, admin, booths) -> None:
    rid = booths[0]["id"]
    ok = client.patch(f"/api/v1/records/booth/{rid}", headers={**admin, "If-Match": '"1"'},
                      json={"area": 7})
    assert ok.status_code == 200 and ok.json["version"] == 2 and ok.headers["ETag"] == '"2"'
    stale = client.patch(f"/api/v1/records/booth/{rid}", headers=admin,
                         json={"area": 8, "version": 1})
    assert stale.status_code == 409 and error_of(stale)["code"] == "conflict"
    assert client.get(f"/api/v1/records/booth/{rid}", headers=admin).json["area"] == "7.00"
    missing = client.patch(f"/api/v1/records/booth/{rid}", headers=admin, json={"area": 9})
    assert missing.status_code == 422


def test_delete_restore_history_and_recycle_bin(client, admin, booths) -> None:
    rid = booths[2]["id"]
    assert client.delete(f"/api/v1/records/booth/{rid}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/records/booth/{rid}", headers=admin).status_code == 404
    listed = client.get("/api/v1/records/booth?total=true", headers=admin).json
    assert listed["total"] == 11
    bin_ = client.get("/api/v1/recycle-bin", headers=admin).json["items"]
    assert bin_ == [{"object": "booth", "id": rid, "title": "B02",
                     "deleted_at": bin_[0]["deleted_at"], "deleted_by": "admin"}]
    r = client.post(f"/api/v1/records/booth/{rid}/restore", headers=admin)
    assert r.status_code == 200 and r.json["number"] == "B02"
    actions = [h["action"] for h in
               client.get(f"/api/v1/records/booth/{rid}/history", headers=admin).json["items"]]
    assert actions[-2:] == ["delete", "restore"] and actions[0] == "create"
    assert client.get("/api/v1/recycle-bin", headers=admin).json["items"] == []


def test_purge_removes_for_good(client, admin, booths, instance) -> None:
    rid = booths[3]["id"]
    client.delete(f"/api/v1/records/booth/{rid}", headers=admin)
    assert client.delete(f"/api/v1/recycle-bin/booth/{rid}", headers=admin).status_code == 204
    assert client.post(f"/api/v1/records/booth/{rid}/restore", headers=admin).status_code == 404
    assert _count(instance, "obj_booth") == 11


def test_tenants_are_isolated(client, admin, booths, instance) -> None:
    instance.create_tenant("acme", "Acme-pass-123")
    acme = sign_in(client, "acme", password="Acme-pass-123")
    assert client.get("/api/v1/records/booth", headers=acme).status_code == 404
    assert client.get("/api/v1/meta/objects", headers=acme).json["items"] == []
    # A token of one tenant means nothing in another.
    wrong = {**admin, "X-Tenant": "acme"}
    assert client.get("/api/v1/meta/objects", headers=wrong).status_code == 401
    assert client.get("/api/v1/meta/objects", headers={**admin, "X-Tenant": "nope"}).status_code == 404
    # The host name selects a tenant too.
    r = client.get("/api/v1/meta/objects", headers={"Authorization": acme["Authorization"]},
                   base_url="http://acme.crm.example.com")
    assert r.status_code == 200


def test_openapi_document_is_valid_and_describes_objects(client, admin, booths) -> None:
    doc = client.get("/api/v1/openapi.json", headers=admin).json
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert "/api/v1/records/booth/{id}" in doc["paths"]
    schemas = doc["components"]["schemas"]
    booth = schemas["BoothRecord"]["properties"]
    assert booth["status"]["anyOf"][0] == {"$ref": "#/components/schemas/BoothRecord_StatusChoice"}
    assert schemas["BoothRecord_StatusChoice"]["enum"] == ["available", "contracted"]
    params = {p.get("name") for p in doc["paths"]["/api/v1/records/booth"]["get"]["parameters"]}
    assert {"area__gte", "number__startswith", "status__in", "sort", "cursor"} <= params
    assert client.get("/api/v1/docs").status_code == 200


def test_sign_in_errors(client) -> None:
    r = client.post("/api/v1/auth/token", json={"username": "admin", "password": "wrong-1"})
    assert r.status_code == 401 and error_of(r)["message"] == "wrong username or password"
    r = client.post("/api/v1/auth/token", json={"username": "ghost", "password": "wrong-1"})
    assert r.status_code == 401 and error_of(r)["message"] == "wrong username or password"
    assert client.post("/api/v1/auth/token", json={}).status_code == 422
    assert client.post("/api/v1/auth/token", data="x", content_type="text/plain").status_code == 400


class _Counter:
    """Statements of this thread only: the access-audit flusher writes from its own."""

    def __init__(self) -> None:
        self.count = 0
        self.thread = threading.get_ident()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Transaction control differs between drivers; count the real work only.
        mine = threading.get_ident() == self.thread
        # Choosing the tenant's schema begins each PostgreSQL transaction: control, like BEGIN.
        if statement.startswith("SELECT set_config('search_path'"):
            return
        if mine and not statement.lstrip().upper().startswith("BEGIN"):
            self.count += 1


@pytest.mark.parametrize(("url", "budget"), [("/api/v1/records/booth/1", 2),
                                             ("/api/v1/records/booth?status=available&total=true", 3)])
def test_query_budgets(client, admin, booths, instance, url, budget) -> None:
    """Detail and list endpoints cost a fixed number of statements, whatever the page size:
    the metadata and credentials versions (a known token needs nothing else), the rows (and
    the count); the access audit is written off the request path."""
    client.get(url, headers=admin)  # warm caches
    engine = instance.tenant("default").engine
    counter = _Counter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        assert client.get(url, headers=admin).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    assert counter.count <= budget


def test_field_removal_while_another_request_reads(client, admin, booths, app) -> None:
    """Readers see the field or not, never an error, while it moves to the recycle bin."""
    errors: list[Any] = []
    stop = threading.Event()

    def reader() -> None:
        c = app.test_client()
        while not stop.is_set():
            r = c.get("/api/v1/records/booth?limit=5", headers=admin)
            if r.status_code != 200:
                errors.append(r.json)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(3):
            assert client.delete("/api/v1/meta/objects/booth/fields/status",
                                 headers=admin).status_code == 204
            assert client.post("/api/v1/meta/objects/booth/fields/status/restore",
                               headers=admin).status_code == 200
    finally:
        stop.set()
        t.join()
    assert errors == []
