"""Hostile input answers the JSON envelope (DESIGN §9), in bounded time, changing nothing:
numbers beyond every column and beyond a double, ids beyond BIGINT in bodies, paths and
query strings, lists too long for a statement, and methods a route does not take."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.core.filters import MAX_CONDITIONS, MAX_IN_VALUES, MAX_SORT_KEYS

from .conftest import EXHIBITOR, error_of

BIG = 2**63  # one past the largest BIGINT
LOT: dict[str, Any] = {
    "name": "lot", "label": {"en": "Lot"},
    "fields": [
        {"name": "code", "type": "text", "required": True},
        {"name": "qty", "type": "integer"},
        {"name": "amount", "type": "decimal", "scale": 2},
        {"name": "price", "type": "currency"},
        {"name": "rate", "type": "percent"},
        {"name": "exhibitor", "type": "lookup", "target": "exhibitor"},
    ],
}
SLOT: dict[str, Any] = {
    "name": "slot", "fields": [
        {"name": "lot", "type": "master_detail", "target": "lot"},
        {"name": "label", "type": "text"}],
}


@pytest.fixture
def world(client: FlaskClient, admin: dict[str, str]) -> dict[str, Any]:
    for doc in (EXHIBITOR, LOT, SLOT):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    lot = client.post("/api/v1/records/lot", headers=admin, json={"code": "L1", "qty": 1}).json
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": "kim", "password": "Kim-pass-12345"})
    assert r.status_code == 201, r.json
    return {"lot": lot}


def _rows(instance: Any, table: str) -> list[Any]:
    with instance.tenant("default").read() as conn:
        return list(conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all())


def _raw(client: FlaskClient, method: str, url: str, headers: dict[str, str], body: str) -> Any:
    return client.open(url, method=method, data=body,
                       headers={**headers, "Content-Type": "application/json"})


def _refused(r: Any, status: int | tuple[int, ...], field: str | None = None) -> dict[str, Any]:
    """An envelope with the status (and the field named), never a 500 or an infinity."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.get_data(as_text=True)[:300])
    err = error_of(r)
    text = r.get_data(as_text=True)
    assert "Infinity" not in text and "inf" not in err["message"].split(), text
    if field is not None:
        assert field in err["fields"], err
    return err


# -- numbers beyond every column ----------------------------------------------------------------
@pytest.mark.parametrize("field", ["qty", "amount", "price", "rate"])
@pytest.mark.parametrize("value", ["1e999999", "-1e999999", "1e999999999", "9" * 5000])
def test_overflowing_numbers_are_422_on_the_field(client, admin, world, instance, field,
                                                  value) -> None:
    before = _rows(instance, "obj_lot")
    started = time.monotonic()
    r = client.post("/api/v1/records/lot", headers=admin, json={"code": "X", field: value})
    _refused(r, 422, field)
    lot = world["lot"]
    r = client.patch(f"/api/v1/records/lot/{lot['id']}", headers=admin,
                     json={field: value, "version": lot["version"]})
    _refused(r, 422, field)
    assert time.monotonic() - started < 5
    assert _rows(instance, "obj_lot") == before


@pytest.mark.parametrize("field", ["qty", "amount", "price", "rate"])
def test_json_numbers_beyond_a_double_are_422_on_the_field(client, admin, world, instance,
                                                           field) -> None:
    """``1e999999`` as a JSON number would parse to ``inf``: refused before any service
    sees it, named by its member (or JSON path), and never echoed as Infinity."""
    before = _rows(instance, "obj_lot")
    r = _raw(client, "POST", "/api/v1/records/lot", admin, f'{{"code": "X", "{field}": 1e999999}}')
    assert _refused(r, 422, field)["fields"][field] == ["is too large"]
    lot = world["lot"]
    r = _raw(client, "PATCH", f"/api/v1/records/lot/{lot['id']}", admin,
             f'{{"{field}": -1e400, "version": {lot["version"]}}}')
    _refused(r, 422, field)
    assert _rows(instance, "obj_lot") == before


def test_nan_and_infinity_are_not_json(client, admin, world, instance) -> None:
    before = _rows(instance, "obj_lot")
    for body in ('{"code": "X", "amount": NaN}', '{"code": "X", "qty": Infinity}',
                 '{"code": "X", "rate": -Infinity}'):
        err = _refused(_raw(client, "POST", "/api/v1/records/lot", admin, body), 400)
        assert err["code"] == "bad_request"
    # Deeper in a document the JSON path names the number.
    r = _raw(client, "POST", "/api/v1/admin/roles", admin,
             '{"name": "r", "permissions": {"lot": {"operations": ["read"], "x": [1, 1e400]}}}')
    assert "$.permissions.lot.x[1]" in _refused(r, 422)["fields"]
    assert _rows(instance, "obj_lot") == before


@pytest.mark.parametrize("query", [
    "amount__gt=1e999999", "price__lt=-1e999999", "rate__between=1,1e999999",
    "qty__gt=1e999999999", "qty__in=1,1e999999999", "qty=99999999999999999999",
    "exhibitor=9223372036854775808", "exhibitor__in=1,99999999999999999999",
    "id=99999999999999999999", "id__gt=1e999999", "amount=" + "9" * 5000,
])
def test_overflowing_filters_are_400(client, admin, world, query) -> None:
    started = time.monotonic()
    r = client.get(f"/api/v1/records/lot?{query}", headers=admin)
    _refused(r, 400)
    assert time.monotonic() - started < 5


# -- ids beyond BIGINT ------------------------------------------------------------------------
@pytest.mark.parametrize("value", [BIG, 2**64, 10**30, str(BIG), "9" * 30])
def test_lookup_and_master_detail_ids_beyond_bigint_are_422(client, admin, world, instance,
                                                            value) -> None:
    before = _rows(instance, "obj_lot"), _rows(instance, "obj_slot")
    r = client.post("/api/v1/records/lot", headers=admin, json={"code": "X", "exhibitor": value})
    assert _refused(r, 422, "exhibitor")["fields"]["exhibitor"] == ["is too large"]
    r = client.post("/api/v1/records/slot", headers=admin, json={"lot": value})
    _refused(r, 422, "lot")
    assert (_rows(instance, "obj_lot"), _rows(instance, "obj_slot")) == before


def test_ids_beyond_bigint_in_bodies_name_nothing(client, admin, world, instance) -> None:
    lot = world["lot"]
    base = f"/api/v1/records/lot/{lot['id']}"
    r = client.post("/api/v1/approvals", headers=admin, json={"object": "lot", "record": BIG})
    _refused(r, (404, 422))
    for owner in (BIG, 2**64, -1, 0, [1], {"id": 1}, 1.5, True, ""):
        r = client.post(f"{base}/transfer", headers=admin, json={"owner": owner})
        _refused(r, (400, 422))
    for body in ({"user": 2**64}, {"user": BIG}, {"user": [1]}, {"user": 1.5},
                 {"department": 2**64}, {"department": {"a": 1}}):
        _refused(client.post(f"{base}/shares", headers=admin, json=body), 422)
    assert client.get(f"{base}/shares", headers=admin).json["items"] == []
    r = client.post("/api/v1/approvals/tasks/approve", headers=admin, json={"ids": [2**64]})
    _refused(r, 404)
    r = client.post("/api/v1/notifications/read", headers=admin, json={"ids": [2**64]})
    _refused(r, 400)
    after = client.get(base, headers=admin).json
    assert after == {**lot, **{k: after[k] for k in ("updated_at",)}}


@pytest.mark.parametrize("path", [
    "POST /api/v1/approvals/tasks/99999999999999999999/approve",
    "POST /api/v1/approvals/tasks/9223372036854775808/reject",
    "GET /api/v1/approvals/99999999999999999999",
    "POST /api/v1/approvals/99999999999999999999/withdraw",
    "DELETE /api/v1/records/lot/1/shares/99999999999999999999",
    "GET /api/v1/records/lot/99999999999999999999",
    "GET /api/v1/records/lot/99999999999999999999/history",
    "GET /api/v1/meta/versions/99999999999999999999",
    "POST /api/v1/meta/versions/9223372036854775808/rollback",
    "GET /api/v1/list-views/lot/99999999999999999999",
    "DELETE /api/v1/list-views/lot/9223372036854775808",
])
def test_ids_beyond_bigint_in_paths_are_404(client, admin, world, path) -> None:
    method, url = path.split(" ")
    _refused(client.open(url, method=method, headers=admin), 404)


def test_ids_beyond_bigint_in_page_paths_are_404(client, admin, world) -> None:
    from .conftest import browser_session

    browser = browser_session(client.application.extensions["crmforge"])
    for url in ("/records/lot/99999999999999999999", "/records/lot/9223372036854775808"):
        assert browser.get(url).status_code == 404


# -- lists too long -----------------------------------------------------------------------------
def test_list_limits_are_400_at_the_documented_numbers(client, admin, world) -> None:
    url = "/api/v1/records/lot?"
    ok = "&".join(["qty__gte=0"] * MAX_CONDITIONS)
    assert client.get(url + ok, headers=admin).status_code == 200
    err = _refused(client.get(url + ok + "&qty__lte=5", headers=admin), 400)
    assert f"at most {MAX_CONDITIONS}" in err["message"]
    _refused(client.get(url + "&".join(["code=x"] * 500), headers=admin), 400)

    sort = ["code", "-qty", "amount", "price", "rate", "exhibitor"]
    assert client.get(url + "sort=" + ",".join(sort[:MAX_SORT_KEYS]), headers=admin).status_code == 200
    err = _refused(client.get(url + "sort=" + ",".join(sort), headers=admin), 400)
    assert f"at most {MAX_SORT_KEYS}" in err["message"]
    _refused(client.get(url + "sort=" + ",".join(["code"] * 200), headers=admin), 400)

    values = ",".join(str(i) for i in range(1, MAX_IN_VALUES + 1))
    assert client.get(url + "id__in=" + values, headers=admin).status_code == 200
    err = _refused(client.get(url + "id__in=" + values + ",0", headers=admin), 400)
    assert f"at most {MAX_IN_VALUES}" in err["message"]
    many = ",".join(str(i) for i in range(1, 40_001))  # past SQLite's 32,766 variables
    for key in ("id__in", "qty__in", "code__in"):
        _refused(client.get(f"{url}{key}={many}", headers=admin), 400)
    # Exports take the same parameters and the same limits.
    _refused(client.get(f"/api/v1/records/lot/export?id__in={many}", headers=admin), 400)


def test_a_view_or_a_layout_cannot_store_what_a_list_refuses(client, admin, world) -> None:
    r = client.post("/api/v1/list-views/lot", headers=admin,
                    json={"name": "v", "query": "sort=code,qty,amount,price,rate,exhibitor"})
    assert _refused(r, 422, "query")
    r = client.put("/api/v1/meta/objects/lot/layout", headers=admin,
                   json={"list": {"columns": ["code"], "sort": "code,qty,amount,price,rate,id"}})
    assert "$.list.sort" in _refused(r, 422)["fields"]


def test_the_list_page_says_so_too(client, admin, world, instance) -> None:
    from .conftest import browser_session

    browser = browser_session(instance)
    r = browser.get("/records/lot?sort=code,qty,amount,price,rate,exhibitor")
    assert r.status_code == 400 and "at most 5" in r.text
    r = browser.get("/records/lot?id__in=" + ",".join(str(i) for i in range(5000)))
    assert r.status_code == 400 and "at most 1000" in r.text
    # In Chinese too.
    r = browser.get("/records/lot?lang=zh&sort=code,qty,amount,price,rate,exhibitor")
    assert r.status_code == 400 and "最多可按 5 个字段排序" in r.text
    r = browser.get("/records/lot?lang=zh&" + "&".join(["qty__gte=0"] * 51))
    assert r.status_code == 400 and "列表最多可使用 50 个筛选条件" in r.text
    r = browser.get("/records/lot?lang=zh&id__in=" + ",".join(str(i) for i in range(5000)))
    assert r.status_code == 400 and "“id__in”最多可包含 1000 个值" in r.text
    r = browser.get("/records/lot?lang=zh&q=a%00")
    assert r.status_code == 400 and "空字符" in r.text


# -- methods --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, url", [
    ("PUT", "/api/v1/auth/me"), ("DELETE", "/api/v1/meta/objects"),
    ("PATCH", "/api/v1/auth/token"), ("PUT", "/login"), ("DELETE", "/login"),
])
def test_405_names_the_allowed_methods(client, admin, method, url) -> None:
    r = client.open(url, method=method, headers=admin)
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed and method not in allowed
    assert "GET" in allowed or "POST" in allowed
    if url.startswith("/api/"):
        assert error_of(r)["code"] == "method_not_allowed"


# -- any hostile value in any member ----------------------------------------------------------
HOSTILE: list[Any] = [2**64, BIG, -1, 0, 1.5, True, None, "", "x" * 300, [], [1], {},
                      {"a": 1}, "9" * 30]
#: (method, path, a valid body): each member in turn gets each hostile value.
BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/records/lot", {"code": "Z", "qty": 1, "exhibitor": 1}),
    ("PATCH", "/api/v1/records/lot/{lot}", {"code": "Z", "version": 1}),
    ("POST", "/api/v1/records/lot/{lot}/transfer", {"owner": "kim"}),
    ("POST", "/api/v1/records/lot/{lot}/shares", {"user": "kim", "access": "read",
                                                  "department": None}),
    ("POST", "/api/v1/approvals", {"object": "lot", "record": 1, "process": None}),
    ("POST", "/api/v1/approvals/tasks/approve", {"ids": [1], "comment": "x"}),
    ("POST", "/api/v1/approvals/tasks/1/transfer", {"to": 1, "comment": "x"}),
    ("POST", "/api/v1/notifications/read", {"ids": [1]}),
    ("POST", "/api/v1/list-views/lot", {"name": "v", "query": "qty=1", "shared": False}),
    ("POST", "/api/v1/meta/objects/lot/preview", {"expression": "qty", "record": None,
                                                  "values": {"qty": 1}, "expected": "number"}),
    ("POST", "/api/v1/meta/objects/lot/fields", {"name": "extra", "type": "integer", "min": 1}),
    ("POST", "/api/v1/admin/users", {"username": "u1", "password": "Abc-pass-12345",
                                     "department": "d1", "roles": [], "display_name": "U",
                                     "email": "u@example.com"}),
    ("PATCH", "/api/v1/admin/users/kim", {"department": "d1", "roles": [], "display_name": "K",
                                          "email": "k@example.com", "active": True}),
    ("POST", "/api/v1/admin/departments", {"name": "d2", "label": {"en": "D"}, "parent": "d1",
                                           "head": "kim"}),
    ("PATCH", "/api/v1/admin/departments/d1", {"label": {"en": "D"}, "parent": None,
                                               "head": "kim"}),
    ("POST", "/api/v1/auth/token", {"username": "kim", "password": "x"}),
]


def test_hostile_values_in_any_member_answer_an_envelope(client, admin, world) -> None:
    """Every member of these bodies gets numbers beyond BIGINT, wrong types, empty and
    long text: each answer is a JSON envelope below 500 (administrators' endpoints too)."""
    # Sign-in reads the username for its rate limit before anything else (first: the
    # loop below soon meets that limit).
    r = _raw(client, "POST", "/api/v1/auth/token", {}, "[" * 100_000)
    assert _refused(r, 400)["message"] == "the request body is not valid JSON"
    assert client.post("/api/v1/admin/departments", headers=admin,
                       json={"name": "d1"}).status_code == 201
    lot = world["lot"]["id"]
    for method, path, body in BODIES:
        url = path.format(lot=lot)
        for key in body:
            for value in HOSTILE:
                r = client.open(url, method=method, headers=admin, json={**body, key: value})
                assert r.status_code < 500, (method, url, key, value, r.get_data(as_text=True))
                if r.status_code >= 400:
                    error_of(r)
        for whole in ([], "x", 1, [body]):
            r = client.open(url, method=method, headers=admin, json=whole)
            assert 400 <= r.status_code < 500, (method, url, whole, r.status_code)
        r = _raw(client, method, url, admin, "[" * 100_000)  # deeper than json parses
        _refused(r, (400, 429))  # 429: sign-in's rate limit, met by the requests above


def test_text_no_database_stores_is_refused_before_any_query(client, admin, world,
                                                             instance) -> None:
    """NUL (PostgreSQL refuses it even as a query parameter) and lone surrogates: in a
    path, a query string or a form a 400, in a JSON member a 422 naming the member."""
    before = _rows(instance, "obj_lot")
    for url in ("/api/v1/admin/users/a%00b", "/api/v1/admin/departments/a%00b",
                "/api/v1/records/lot?code=a%00b", "/api/v1/records/a%00b",
                "/api/v1/meta/objects/a%00", "/api/v1/admin/explain?user=a%00&object=lot"):
        assert _refused(client.get(url, headers=admin), 400)["code"] == "bad_request"
    r = client.post("/login", data={"username": "a\x00b", "password": "x"})
    assert r.status_code == 400
    r = client.post("/api/v1/auth/token", json={"username": "kim\x00", "password": "x"})
    assert _refused(r, 422, "username")
    for body, where in (('{"code": "\\ud800x"}', "code"), ('{"code": "a\\u0000"}', "code"),
                        ('{"code": "x", "qty": 1, "\\u0000": 1}', "$.'\\x00'")):
        r = _raw(client, "POST", "/api/v1/records/lot", admin, body)
        assert _refused(r, 422, where)["fields"][where] == [
            "contains a NUL character or an unpaired surrogate"]
    r = _raw(client, "POST", "/api/v1/admin/roles", admin,
             '{"name": "r", "permissions": {"lot": {"operations": ["re\\u0000ad"]}}}')
    assert "$.permissions.lot.operations[0]" in _refused(r, 422)["fields"]
    assert _rows(instance, "obj_lot") == before
