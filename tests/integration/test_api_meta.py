"""Metadata over REST: objects become tables, change while they hold data, and bad
definitions are refused with JSON paths while nothing changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from .conftest import BOOTH, EXHIBITOR, error_of

ALL_TYPES: list[dict[str, Any]] = [
    {"name": "title", "type": "text", "required": True, "max_length": 80, "searchable": True},
    {"name": "notes", "type": "textarea"},
    {"name": "qty", "type": "integer", "min": 0, "max": 1000},
    {"name": "ratio", "type": "decimal", "scale": 3},
    {"name": "amount", "type": "currency"},
    {"name": "share", "type": "percent"},
    {"name": "active", "type": "boolean", "default": "True"},
    {"name": "due", "type": "date"},
    {"name": "met_at", "type": "datetime"},
    {"name": "mail", "type": "email"},
    {"name": "tel", "type": "phone"},
    {"name": "site", "type": "url"},
    {"name": "stage", "type": "picklist", "choices": [{"value": "a"}, {"value": "b"}]},
    {"name": "sub_stage", "type": "picklist", "controlling_field": "stage",
     "choices": [{"value": "a1", "depends_on": ["a"]}, {"value": "b1", "depends_on": ["b"]}]},
    {"name": "tags", "type": "multipicklist", "choices": [{"value": "x"}, {"value": "y"}]},
    {"name": "account", "type": "lookup", "target": "exhibitor"},
    {"name": "assignee", "type": "user"},
    {"name": "team", "type": "department"},
    {"name": "code", "type": "autonumber", "format": "K-{0000}"},
    {"name": "double_qty", "type": "formula", "result_type": "integer", "expression": "qty * 2"},
    {"name": "attachment", "type": "file"},
]


def _tables(instance: Any) -> set[str]:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        return set(sa.inspect(conn).get_table_names())


def _version(client: Any, admin: dict[str, str]) -> int:
    return int(client.get("/api/v1/meta/objects", headers=admin).json["version"])


def test_create_object_returns_stored_document_with_ids(client, admin, instance) -> None:
    assert client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin).status_code == 201
    r = client.post("/api/v1/meta/objects", json=BOOTH, headers=admin)
    assert r.status_code == 201, r.json
    doc = r.json
    assert doc["version"] == 2
    assert doc["id"].startswith("obj_")
    assert [f["name"] for f in doc["fields"]] == [f["name"] for f in BOOTH["fields"]]
    assert all(f["id"].startswith("fld_") for f in doc["fields"])
    assert "obj_booth" in _tables(instance)
    assert client.get("/api/v1/meta/objects/booth", headers=admin).json == doc


def test_every_field_type_round_trips(client, admin) -> None:
    client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin)
    r = client.post("/api/v1/meta/objects", json={"name": "everything", "fields": ALL_TYPES},
                    headers=admin)
    assert r.status_code == 201, r.json
    ex = client.post("/api/v1/records/exhibitor", json={"company": "ACME"}, headers=admin).json
    record = {
        "title": "T", "notes": "long\ntext", "qty": 3, "ratio": "0.125", "amount": 10.5,
        "share": "33.33", "due": "2026-02-28", "met_at": "2026-02-28T10:15:00Z",
        "mail": "a@b.cn", "tel": "+86 10 1234 5678", "site": "https://example.com/x",
        "stage": "a", "sub_stage": "a1", "tags": ["y", "x"], "account": ex["id"],
        "assignee": 1,
    }
    r = client.post("/api/v1/records/everything", json=record, headers=admin)
    assert r.status_code == 201, r.json
    got = r.json
    assert got["ratio"] == "0.125" and got["amount"] == "10.50" and got["share"] == "33.33"
    assert got["met_at"] == "2026-02-28T10:15:00.000Z" and got["due"] == "2026-02-28"
    assert got["tags"] == ["x", "y"]
    assert got["active"] is True
    assert got["code"] == "K-0001"
    assert got["account"] == ex["id"]
    assert got["double_qty"] == 6  # a non-stored formula, computed on read
    again = client.get(f"/api/v1/records/everything/{got['id']}", headers=admin).json
    assert again["double_qty"] == 6


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("select", "reserved SQL word"),
        ("order", "reserved SQL word"),
        ("owner_id", "system field"),
        ("sort", "reserved list parameter"),
        ("a" * 41, "longer than 40"),
        ("kunde_名", "lowercase ASCII"),
        ("x'; drop table sys_users; --", "lowercase ASCII"),
        ('x"y', "lowercase ASCII"),
        ("Upper", "lowercase ASCII"),
        ("a__b", "'__'"),
    ],
)
def test_bad_field_names_are_refused_and_change_nothing(client, admin, instance, name, why) -> None:
    before_tables, before_version = _tables(instance), _version(client, admin)
    doc = {"name": "thing", "fields": [{"name": name, "type": "text"}]}
    r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
    assert r.status_code == 422
    err = error_of(r)
    assert why in err["fields"]["$.fields[0].name"][0]
    assert _tables(instance) == before_tables
    assert _version(client, admin) == before_version


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"name": "thing", "fields": [{"name": "a", "type": "blob"}]}, "$.fields[0].type"),
        ({"name": "thing", "fields": [{"name": "a", "type": "text"},
                                      {"name": "a", "type": "integer"}]}, "$.fields[1].name"),
        ({"name": "thing", "fields": [{"name": "a", "type": "lookup", "target": "ghost"}]},
         "$.fields[0].target"),
        ({"name": "thing", "fields": [{"name": "a", "type": "integer", "max_length": 3}]},
         "$.fields[0].max_length"),
        ({"name": "thing", "fields": [{"name": "a", "type": "picklist"}]}, "$.fields[0]"),
        ({"name": "table", "fields": [{"name": "a", "type": "text"}]}, "$.name"),
        ({"name": "thing", "fields": [{"name": "a", "type": "text", "bogus": 1}]}, "$.fields[0]"),
        ({"name": "thing", "fields": []}, "$.fields"),
        ({"name": "thing", "fields": [{"name": "a", "type": "formula", "result_type": "integer",
                                       "expression": "b + 1"},
                                      {"name": "b", "type": "formula", "result_type": "integer",
                                       "expression": "a + 1"}]}, "$.fields[0].expression"),
    ],
)
def test_bad_documents_report_json_paths(client, admin, instance, doc, path) -> None:
    before = _tables(instance)
    r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
    assert r.status_code == 422, r.json
    assert path in error_of(r)["fields"], r.json
    assert _tables(instance) == before


def test_duplicate_object_and_field_names_conflict(client, admin) -> None:
    client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin)
    assert client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin).status_code == 409
    r = client.post("/api/v1/meta/objects/exhibitor/fields",
                    json={"name": "company", "type": "text"}, headers=admin)
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"


def test_malformed_and_oversized_bodies(client, admin) -> None:
    r = client.post("/api/v1/meta/objects", data="{nope", headers={**admin,
                    "Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r)["code"] == "bad_request"
    r = client.post("/api/v1/meta/objects", data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                    headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"
    r = client.post("/api/v1/meta/objects", json=["not", "an", "object"], headers=admin)
    assert r.status_code == 422


def _seed(client: Any, admin: dict[str, str], n: int = 5) -> list[dict[str, Any]]:
    client.post("/api/v1/meta/objects", json=EXHIBITOR, headers=admin)
    client.post("/api/v1/meta/objects", json=BOOTH, headers=admin)
    return [client.post("/api/v1/records/booth", headers=admin,
                        json={"number": f"N{i}", "area": i * 10, "price": "99.5"}).json
            for i in range(n)]


def test_rename_field_keeps_id_and_data(client, admin) -> None:
    records = _seed(client, admin)
    old = client.get("/api/v1/meta/objects/booth/fields/area", headers=admin).json
    r = client.patch("/api/v1/meta/objects/booth/fields/area", json={"name": "size"},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["id"] == old["id"] and r.json["name"] == "size"
    got = client.get(f"/api/v1/records/booth/{records[3]['id']}", headers=admin).json
    assert got["size"] == "30.00" and "area" not in got
    total = client.get("/api/v1/meta/objects/booth/fields/total", headers=admin).json
    assert total["expression"] == "size * price"  # the formula follows the rename


def test_rename_follows_relation_paths_but_not_strings() -> None:
    from crmforge.metadata.refactor import rename_name

    assert rename_name("area * 2 + len('area')", "area", "size") == "size * 2 + len('area')"
    assert rename_name("booth.area + area", "area", "size", after={"booth"}) == "booth.size + area"
    assert rename_name("x.area", "area", "size") == "x.area"


def test_type_change_dry_run_then_refusal_then_success(client, admin) -> None:
    records = _seed(client, admin, 3)
    client.patch(f"/api/v1/records/booth/{records[0]['id']}", headers=admin,
                 json={"area": "1.5", "version": 1})
    r = client.patch("/api/v1/meta/objects/booth/fields/area?dry_run=true",
                     json={"type": "integer"}, headers=admin)
    assert r.status_code == 200
    assert r.json["dry_run"] is True and r.json["convertible"] is False
    assert r.json["failures"] == [{"id": records[0]["id"], "value": "1.50",
                                   "error": "'1.50' is not a whole number"}]
    version = _version(client, admin)
    r = client.patch("/api/v1/meta/objects/booth/fields/area", json={"type": "integer"},
                     headers=admin)
    assert r.status_code == 422 and error_of(r)["code"] == "conversion_refused"
    assert r.json["error"]["details"]["failure_count"] == 1
    assert _version(client, admin) == version
    assert client.get(f"/api/v1/records/booth/{records[0]['id']}", headers=admin).json["area"] == "1.50"
    client.patch(f"/api/v1/records/booth/{records[0]['id']}", headers=admin,
                 json={"area": 2, "version": 2})
    r = client.patch("/api/v1/meta/objects/booth/fields/area", json={"type": "integer"},
                     headers=admin)
    assert r.status_code == 200, r.json
    got = client.get(f"/api/v1/records/booth/{records[2]['id']}", headers=admin).json
    assert got["area"] == 20


def test_remove_and_restore_field_and_object_keep_data(client, admin, instance) -> None:
    records = _seed(client, admin, 2)
    rid = records[1]["id"]
    assert client.delete("/api/v1/meta/objects/booth/fields/status", headers=admin).status_code == 204
    assert "status" not in client.get(f"/api/v1/records/booth/{rid}", headers=admin).json
    bin_ = client.get("/api/v1/meta/recycle-bin", headers=admin).json
    assert [f["name"] for f in bin_["fields"]] == ["status"]
    r = client.post("/api/v1/meta/objects/booth/fields/status/restore", headers=admin)
    assert r.status_code == 200, r.json
    assert client.get(f"/api/v1/records/booth/{rid}", headers=admin).json["status"] == "available"

    assert client.delete("/api/v1/meta/objects/booth", headers=admin).status_code == 204
    assert client.get(f"/api/v1/records/booth/{rid}", headers=admin).status_code == 404
    assert "obj_booth" not in _tables(instance)
    assert client.post("/api/v1/meta/objects/booth/restore", headers=admin).status_code == 200
    assert client.get(f"/api/v1/records/booth/{rid}", headers=admin).json["number"] == "N1"


def test_referenced_object_cannot_be_removed(client, admin) -> None:
    _seed(client, admin, 1)
    r = client.delete("/api/v1/meta/objects/exhibitor", headers=admin)
    assert r.status_code == 409
    assert "booth.exhibitor" in error_of(r)["message"]


def test_versions_and_rollback(client, admin) -> None:
    records = _seed(client, admin, 2)
    client.post("/api/v1/meta/objects/booth/fields", json={"name": "hall", "type": "text"},
                headers=admin)
    versions = client.get("/api/v1/meta/versions", headers=admin).json["items"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[0]["author"] == "admin"
    assert versions[0]["diff"][0]["kind"] == "add_column"
    client.patch(f"/api/v1/records/booth/{records[0]['id']}", headers=admin,
                 json={"hall": "H1", "version": 1})
    r = client.post("/api/v1/meta/versions/2/rollback", headers=admin)
    assert r.status_code == 200 and r.json["version"] == 4
    assert "hall" not in client.get(f"/api/v1/records/booth/{records[0]['id']}", headers=admin).json
    # The rolled-back field is in the recycle bin with its data, not dropped.
    client.post("/api/v1/meta/objects/booth/fields/hall/restore", headers=admin)
    assert client.get(f"/api/v1/records/booth/{records[0]['id']}", headers=admin).json["hall"] == "H1"


def test_metadata_changes_need_an_admin_token(client) -> None:
    r = client.post("/api/v1/meta/objects", json=EXHIBITOR)
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    r = client.post("/api/v1/meta/objects", json=EXHIBITOR,
                    headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401


def test_patch_object_relabels_and_keeps_field_ids(client, admin) -> None:
    _seed(client, admin, 1)
    before = client.get("/api/v1/meta/objects/booth", headers=admin).json
    doc = copy.deepcopy(before)
    r = client.patch("/api/v1/meta/objects/booth", headers=admin,
                     json={"label": {"zh": "摊位", "en": "Stand"}})
    assert r.status_code == 200, r.json
    assert r.json["label"] == {"zh": "摊位", "en": "Stand"}
    assert [f["id"] for f in r.json["fields"]] == [f["id"] for f in doc["fields"]]


# -- regular expressions (RE2) --------------------------------------------------------------
REGEX_THING: dict[str, Any] = {"name": "thing", "fields": [
    {"name": "code", "type": "text", "max_length": 4000},
    {"name": "ok", "type": "formula", "result_type": "boolean",
     "expression": "regex_match(code, '[A-Z]{2}[0-9]+')"}]}


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"fields": [{"name": "code", "type": "text", "pattern": r"(a)\1"}]},
     "$.fields[0].pattern", "back-references"),
    ({"fields": [{"name": "code", "type": "text", "pattern": r"(?<=-)\d+"}]},
     "$.fields[0].pattern", "look-behind"),
    ({"fields": [*REGEX_THING["fields"][:1], {
        "name": "twice", "type": "formula", "result_type": "boolean",
        "expression": r"regex_match(code, '(a)\\1')"}]},
     "$.fields[1].expression", "back-references"),
    ({"validation_rules": [{"name": "twice", "message": {"en": "x", "zh": "x"},
                            "condition": r"regex_match(code, '(?P<x>a)(?P=x)')"}]},
     "$.validation_rules[0].condition", "back-references"),
])
def test_patterns_re2_cannot_run_are_refused_when_saved(client, admin, instance, change, path,
                                                        words) -> None:
    before = _tables(instance)
    r = client.post("/api/v1/meta/objects", json={**REGEX_THING, **change}, headers=admin)
    assert r.status_code == 422, r.json
    error = error_of(r)
    assert path in error["fields"], r.json
    assert any(words in m for m in error["fields"][path]), error["fields"][path]
    assert _tables(instance) == before


def test_hostile_patterns_are_saved_and_answer_on_every_write(client, admin) -> None:
    """Patterns that backtrack for ever on Python's ``re`` (which ran field patterns and
    the rule's pattern, which the old screen let through: one write would have stalled
    the process) are accepted and answer on the longest value the field holds."""
    doc = {"name": "thing", "fields": [
        {"name": "code", "type": "text", "max_length": 4000, "pattern": r"(a|aa)+$"},
        {"name": "note", "type": "text", "max_length": 4000}],
        "validation_rules": [{"name": "shape", "message": {"en": "bad", "zh": "格式错误"},
                              "field": "note",
                              "condition": r"is_blank(note) or not regex_match(note, '(?:a+){15}b')"}]}
    assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    r = client.post("/api/v1/records/thing", json={"code": "a" * 4000}, headers=admin)
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/records/thing", json={"code": "a" * 3999 + "!"}, headers=admin)
    assert r.status_code == 422
    assert error_of(r)["fields"] == {"code": ["does not match the required pattern"]}
    r = client.post("/api/v1/records/thing", json={"note": "a" * 999 + "!"}, headers=admin)
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/records/thing", json={"note": "a" * 999 + "b"}, headers=admin)
    assert r.status_code == 422 and error_of(r)["fields"]["note"] == ["bad"]
