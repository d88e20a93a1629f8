"""Expressions in the record service over REST: formulas on write and read, validation
rules and conditional fields on every write path, roll-ups, and the preview endpoint."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core.errors import ValidationFailed
from crmforge.runtime import RecordService
from crmforge.security.principal import SYSTEM

from .conftest import error_of, sign_in

ACCT: dict[str, Any] = {"name": "acct", "fields": [
    {"name": "company", "type": "text", "required": True},
    {"name": "region", "type": "text"}]}

INVOICE: dict[str, Any] = {
    "name": "invoice", "label": {"zh": "发票", "en": "Invoice"},
    "fields": [
        {"name": "number", "type": "text", "required": True},
        {"name": "acct", "type": "lookup", "target": "acct"},
        {"name": "stage", "type": "picklist", "default": "'open'",
         "choices": [{"value": "open"}, {"value": "won"}, {"value": "lost"}]},
        {"name": "reason", "type": "text", "required_if": "stage == 'lost'"},
        {"name": "vip", "type": "boolean"},
        {"name": "vip_note", "type": "text", "required": True, "visible_if": "vip == True"},
        {"name": "budget", "type": "decimal", "readonly_if": "stage == 'won'"},
        {"name": "qty", "type": "integer"},
        {"name": "discount", "type": "decimal"},
        {"name": "code", "type": "text"},
        {"name": "per_unit", "type": "formula", "result_type": "decimal",
         "expression": "budget / qty"},
        {"name": "budget2", "type": "formula", "result_type": "currency", "stored": True,
         "expression": "if_blank(budget, 0) * 2"},
        {"name": "region", "type": "formula", "result_type": "text",
         "expression": "acct.region"},
        {"name": "region_stored", "type": "formula", "result_type": "text", "stored": True,
         "expression": "acct.region"},
        {"name": "code_num", "type": "formula", "result_type": "decimal", "stored": True,
         "expression": "value(code)"},
        {"name": "code_live", "type": "formula", "result_type": "decimal",
         "expression": "value(code)"},
    ],
    "validation_rules": [
        {"name": "discount_cap", "condition": "is_blank(discount) or discount <= 50",
         "field": "discount", "message": {"zh": "折扣不能超过50", "en": "Discount may not exceed 50"}},
        {"name": "qty_sign", "condition": "is_blank(qty) or qty >= 0", "field": "qty",
         "message": {"zh": "数量不能为负", "en": "Quantity may not be negative"}},
        {"name": "budget_or_qty", "condition": "not (budget == 13 and qty == 13)",
         "message": {"zh": "不吉利", "en": "Unlucky"}},
    ],
}

LINE: dict[str, Any] = {"name": "line", "fields": [
    {"name": "memo", "type": "text"},
    {"name": "invoice", "type": "master_detail", "target": "invoice"},
    {"name": "amount", "type": "decimal"},
    {"name": "void", "type": "boolean"}]}

ROLLUPS = [
    {"name": "n_lines", "type": "rollup", "function": "count", "child": "line"},
    {"name": "line_sum", "type": "rollup", "function": "sum", "child": "line",
     "field": "amount", "filter": "not void"},
    {"name": "line_min", "type": "rollup", "function": "min", "child": "line", "field": "amount"},
    {"name": "line_max", "type": "rollup", "function": "max", "child": "line",
     "field": "amount", "filter": "amount > 0"},
]


@pytest.fixture
def setup(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for doc in (ACCT, INVOICE, LINE):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    for f in ROLLUPS:
        r = client.post("/api/v1/meta/objects/invoice/fields", json=f, headers=admin)
        assert r.status_code == 201, r.json
    return admin


def _create(client: Any, h: dict[str, str], obj: str, **values: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/records/{obj}", json=values, headers=h)
    assert r.status_code == 201, r.json
    return dict(r.json)


def _patch(client: Any, h: dict[str, str], obj: str, rec: dict[str, Any], **values: Any) -> Any:
    return client.patch(f"/api/v1/records/{obj}/{rec['id']}", headers=h,
                        json={**values, "version": rec["version"]})


def _count(instance: Any, table: str) -> int:
    with instance.tenant("default").read() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar())


# -- formulas ---------------------------------------------------------------------------
def test_stored_and_computed_formulas_on_create_update_read_and_list(client, setup,
                                                                      instance) -> None:
    h = setup
    inv = _create(client, h, "invoice", number="I-1", budget="100", qty=8)
    assert inv["budget2"] == "200.00" and inv["per_unit"] == "12.50"
    with instance.tenant("default").read() as conn:  # the stored one has its column filled
        assert conn.execute(sa.text("SELECT budget2 FROM obj_invoice")).scalar() == 200
    r = _patch(client, h, "invoice", inv, budget="10")
    assert r.status_code == 200, r.json
    assert r.json["budget2"] == "20.00" and r.json["per_unit"] == "1.25"
    changes = [e for e in client.get(f"/api/v1/records/invoice/{inv['id']}/history",
                                     headers=h).json["items"] if e["field"] == "budget2"]
    assert [(e["old"], e["new"]) for e in changes] == [(None, "200.00"), ("200.00", "20.00")]
    _create(client, h, "invoice", number="I-2", budget="9", qty=2)
    items = client.get("/api/v1/records/invoice?sort=number", headers=h).json["items"]
    assert [(i["number"], i["per_unit"], i["budget2"]) for i in items] == [
        ("I-1", "1.25", "20.00"), ("I-2", "4.50", "18.00")]
    only = client.get("/api/v1/records/invoice?fields=number,per_unit", headers=h).json
    assert set(only["items"][0]) == {"id", "version", "number", "per_unit"}


def test_division_by_zero_and_nulls_give_none_not_errors(client, setup) -> None:
    h = setup
    inv = _create(client, h, "invoice", number="Z", budget="5", qty=0)
    assert inv["per_unit"] is None and inv["budget2"] == "10.00"
    blank = _create(client, h, "invoice", number="N")
    assert blank["per_unit"] is None and blank["budget2"] == "0.00"


def test_a_failing_stored_formula_refuses_the_write_a_computed_one_reads_none(
        client, setup, instance) -> None:
    h = setup
    r = client.post("/api/v1/records/invoice", headers=h, json={"number": "C", "code": "abc"})
    assert r.status_code == 422
    assert "formula" in error_of(r)["fields"]["code_num"][0]
    assert "code_live" not in error_of(r)["fields"]
    assert _count(instance, "obj_invoice") == 0
    ok = _create(client, h, "invoice", number="C", code="1,234.5")
    assert ok["code_num"] == "1234.50" and ok["code_live"] == "1234.50"


def test_formula_over_a_lookup_follows_the_readers_visibility(client, setup) -> None:
    h = setup
    acct = _create(client, h, "acct", company="ACME", region="north")
    inv = _create(client, h, "invoice", number="L", acct=acct["id"])
    assert inv["region"] == "north" and inv["region_stored"] == "north"
    r = client.post("/api/v1/admin/roles", headers=h, json={
        "name": "reader", "permissions": {
            "invoice": {"operations": ["read"], "scope": "all"},
            "acct": {"operations": ["read"], "scope": "own"}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "rita", "password": "Rita-pass-2024!", "roles": ["reader"]})
    assert r.status_code == 201, r.json
    rita = sign_in(client, username="rita", password="Rita-pass-2024!")
    seen = client.get(f"/api/v1/records/invoice/{inv['id']}", headers=rita).json
    assert seen["region"] is None  # the account is outside rita's scope
    # Stored when the admin wrote it, but derived from an account rita cannot see: it
    # answers exactly as the formula computed on read does, on every path.
    assert seen["region_stored"] is None
    listed = client.get("/api/v1/records/invoice", headers=rita).json["items"]
    assert listed[0]["region"] is None and listed[0]["region_stored"] is None
    for query in ("region_stored=north", "region_stored__in=north,south",
                  "region_stored__isnull=false"):
        found = client.get(f"/api/v1/records/invoice?{query}", headers=rita)
        assert found.status_code == 200 and found.json["items"] == [], query
    assert client.get("/api/v1/records/invoice?region_stored__isnull=true",
                      headers=rita).json["items"][0]["id"] == inv["id"]
    history = client.get(f"/api/v1/records/invoice/{inv['id']}/history", headers=rita).json
    assert "region_stored" not in {e["field"] for e in history["items"]}
    assert "north" not in str(history)
    assert _patch(client, h, "acct", acct, region="south").status_code == 200
    again = client.get(f"/api/v1/records/invoice/{inv['id']}", headers=h).json
    # A stored formula follows the related record (as the system sees it).
    assert again["region"] == "south" and again["region_stored"] == "south"


def test_a_stored_formula_does_not_depend_on_who_writes(client, setup) -> None:
    """A writer who may not read the related field still stores its value: stored
    formulas and validation rules follow links as the system sees them."""
    h = setup
    acct = _create(client, h, "acct", company="ACME", region="north")
    r = client.post("/api/v1/admin/roles", headers=h, json={
        "name": "clerk", "permissions": {
            "invoice": {"operations": ["read", "create"], "scope": "all"},
            "acct": {"operations": ["read"], "scope": "all", "fields": {"region": "hidden"}}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "wendy", "password": "Wendy-pass-2024!", "roles": ["clerk"]})
    assert r.status_code == 201, r.json
    wendy = sign_in(client, username="wendy", password="Wendy-pass-2024!")
    made = client.post("/api/v1/records/invoice", headers=wendy, json={"number": "W",
                                                                        "acct": acct["id"]})
    assert made.status_code == 201, made.json
    stored = client.get(f"/api/v1/records/invoice/{made.json['id']}", headers=h).json
    assert stored["region_stored"] == "north"


# -- validation rules and conditional fields -----------------------------------------
def test_validation_rules_report_every_error_in_the_request_language(client, setup,
                                                                     instance) -> None:
    h = setup
    bad = {"number": "V", "discount": "60", "qty": -1, "budget": "abc"}
    before = (_count(instance, "obj_invoice"), _count(instance, "sys_history"))
    r = client.post("/api/v1/records/invoice", headers=h, json=bad)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert fields["discount"] == ["Discount may not exceed 50"]
    assert fields["qty"] == ["Quantity may not be negative"]
    assert "budget" in fields  # the conversion error comes with the rule errors
    r = client.post("/api/v1/records/invoice", headers={**h, "Accept-Language": "zh-CN,zh;q=0.9"},
                    json=bad)
    assert error_of(r)["fields"]["discount"] == ["折扣不能超过50"]
    r = client.post("/api/v1/records/invoice", headers=h,
                    json={"number": "U", "budget": "13", "qty": 13})
    assert error_of(r)["fields"]["__all__"] == ["Unlucky"]
    assert (_count(instance, "obj_invoice"), _count(instance, "sys_history")) == before
    inv = _create(client, h, "invoice", number="V", discount="10")
    r = _patch(client, h, "invoice", inv, discount="51")
    assert r.status_code == 422 and error_of(r)["fields"]["discount"]
    got = client.get(f"/api/v1/records/invoice/{inv['id']}", headers=h).json
    assert got["version"] == 1 and got["discount"] == "10.00"


def test_create_many_runs_the_rules_too(client, setup, instance) -> None:
    service = RecordService(instance.tenant("default"))
    with pytest.raises(ValidationFailed) as caught:
        service.create_many(SYSTEM, "invoice", [{"number": "M1"}, {"number": "M2", "qty": -2}],
                            lang="zh")
    assert caught.value.message.startswith("row 2")
    assert caught.value.fields["qty"] == ["数量不能为负"]
    assert _count(instance, "obj_invoice") == 0
    ids = service.create_many(SYSTEM, "invoice", [{"number": "M1", "budget": "4"}])
    assert service.get(SYSTEM, "invoice", ids[0])["budget2"] == "8.00"


def test_required_if_holds_on_create_and_update(client, setup) -> None:
    h = setup
    r = client.post("/api/v1/records/invoice", headers=h, json={"number": "R", "stage": "lost"})
    assert r.status_code == 422 and error_of(r)["fields"]["reason"] == ["is required"]
    inv = _create(client, h, "invoice", number="R")
    r = _patch(client, h, "invoice", inv, stage="lost")
    assert r.status_code == 422 and error_of(r)["fields"]["reason"] == ["is required"]
    assert _patch(client, h, "invoice", inv, stage="lost", reason="price").status_code == 200


def test_visible_if_false_lifts_required_and_keeps_written_values(client, setup) -> None:
    h = setup
    r = client.post("/api/v1/records/invoice", headers=h, json={"number": "P", "vip": True})
    assert r.status_code == 422 and error_of(r)["fields"]["vip_note"] == ["is required"]
    assert _create(client, h, "invoice", number="P", vip=True, vip_note="gold")["vip_note"] == "gold"
    hidden = _create(client, h, "invoice", number="Q", vip=False, vip_note="kept")
    assert hidden["vip_note"] == "kept"  # accepted and stored, not silently dropped
    assert _create(client, h, "invoice", number="S")["vip_note"] is None


def test_readonly_if_refuses_changes_to_the_locked_field(client, setup) -> None:
    h = setup
    r = client.post("/api/v1/records/invoice", headers=h,
                    json={"number": "W0", "stage": "won", "budget": "1"})
    assert r.status_code == 422 and "read-only" in error_of(r)["fields"]["budget"][0]
    inv = _create(client, h, "invoice", number="W", budget="5")
    r = _patch(client, h, "invoice", inv, stage="won")
    assert r.status_code == 200
    won = r.json
    r = _patch(client, h, "invoice", won, budget="6")
    assert r.status_code == 422 and "read-only" in error_of(r)["fields"]["budget"][0]
    # unlocking and changing in one request is refused; sending the stored value is not
    assert _patch(client, h, "invoice", won, stage="open", budget="6").status_code == 422
    r = _patch(client, h, "invoice", won, budget="5.00", discount="1")
    assert r.status_code == 200, r.json
    r = _patch(client, h, "invoice", r.json, stage="open")
    assert _patch(client, h, "invoice", r.json, budget="6").status_code == 200


# -- roll-ups ---------------------------------------------------------------------------
def _rollups(client: Any, h: dict[str, str], inv: dict[str, Any]) -> tuple[Any, ...]:
    got = client.get(f"/api/v1/records/invoice/{inv['id']}", headers=h).json
    return got["n_lines"], got["line_sum"], got["line_min"], got["line_max"], got["version"]


def test_rollups_follow_child_create_update_move_delete_restore_and_purge(client, setup) -> None:
    h = setup
    inv = _create(client, h, "invoice", number="RU")
    other = _create(client, h, "invoice", number="RU2")
    assert _rollups(client, h, inv) == ("0", "0.00", None, None, 1)
    lines = [_create(client, h, "line", invoice=inv["id"], amount=a, void=v)
             for a, v in (("10", False), ("20", True), ("-5", False), ("30", False))]
    assert _rollups(client, h, inv) == ("4", "35.00", "-5.00", "30.00", 1)  # no version bump
    r = _patch(client, h, "line", lines[3], amount="40")
    assert _rollups(client, h, inv)[:4] == ("4", "45.00", "-5.00", "40.00")
    r = _patch(client, h, "line", lines[1], void=False)  # a filter input changes
    assert r.status_code == 200
    assert _rollups(client, h, inv)[:4] == ("4", "65.00", "-5.00", "40.00")
    r = _patch(client, h, "line", lines[2], invoice=other["id"])  # the parent changes
    assert r.status_code == 200
    assert _rollups(client, h, inv)[:4] == ("3", "70.00", "10.00", "40.00")
    assert _rollups(client, h, other)[:4] == ("1", "-5.00", "-5.00", None)
    assert client.delete(f"/api/v1/records/line/{lines[3]['id']}", headers=h).status_code == 204
    assert _rollups(client, h, inv)[:4] == ("2", "30.00", "10.00", "20.00")
    r = client.post(f"/api/v1/records/line/{lines[3]['id']}/restore", headers=h)
    assert r.status_code == 200
    assert _rollups(client, h, inv)[:4] == ("3", "70.00", "10.00", "40.00")
    assert client.delete(f"/api/v1/records/line/{lines[0]['id']}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/recycle-bin/line/{lines[0]['id']}",
                         headers=h).status_code == 204
    assert _rollups(client, h, inv) == ("2", "60.00", "20.00", "40.00", 1)
    history = client.get(f"/api/v1/records/invoice/{inv['id']}/history", headers=h).json["items"]
    rollup_rows = [e for e in history if e["action"] == "rollup"]
    assert {e["field"] for e in rollup_rows} == {"n_lines", "line_sum", "line_min", "line_max"}
    assert rollup_rows[-1]["version"] == 1


def test_parent_deleted_and_restored_with_its_children_keeps_its_rollups(client, setup) -> None:
    h = setup
    inv = _create(client, h, "invoice", number="PD")
    for a in ("1", "2"):
        _create(client, h, "line", invoice=inv["id"], amount=a)
    assert client.delete(f"/api/v1/records/invoice/{inv['id']}", headers=h).status_code == 204
    r = client.post(f"/api/v1/records/invoice/{inv['id']}/restore", headers=h)
    assert r.status_code == 200, r.json
    assert _rollups(client, h, inv)[:4] == ("2", "3.00", "1.00", "2.00")


# -- preview ----------------------------------------------------------------------------
def _preview(client: Any, h: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/meta/objects/invoice/preview", headers=h, json=body)


def test_preview_of_a_saved_record_and_a_draft(client, setup) -> None:
    h = setup
    acct = _create(client, h, "acct", company="ACME", region="east")
    inv = _create(client, h, "invoice", number="PV", budget="100", qty=4, acct=acct["id"])
    r = _preview(client, h, expression="budget * 2 + per_unit", record=inv["id"])
    assert r.status_code == 200, r.json
    assert r.json == {"value": "225.00", "type": "number"}
    r = _preview(client, h, expression="concat(acct.region, '-', number)", record=inv["id"],
                 values={"number": "X"})
    assert r.json == {"value": "east-X", "type": "text"}
    r = _preview(client, h, expression="per_unit", record=None,
                 values={"budget": "9", "qty": 2})
    assert r.json == {"value": "4.50", "type": "number"}
    r = _preview(client, h, expression="budget / qty", values={"budget": "1", "qty": 0})
    assert r.json == {"value": None, "type": "number"}
    r = _preview(client, h, expression="stage == 'open'", values={}, expected="boolean")
    assert r.json == {"value": False, "type": "boolean"}


@pytest.mark.parametrize(("expression", "expected", "line", "column"), [
    ("budget 2", None, 1, 8),
    ("budget * (2", None, 1, 10),
    ("budget +\n  budgte", None, 2, 3),
    ("budget * 2", "text", 1, 1),
    ("value(code)", None, 1, 1),
])
def test_preview_errors_carry_line_and_column(client, setup, expression, expected, line,
                                              column) -> None:
    r = _preview(client, setup, expression=expression, values={"code": "abc"},
                 **({"expected": expected} if expected else {}))
    assert r.status_code == 422, r.json
    details = r.json["error"]["details"]
    assert (details["line"], details["column"]) == (line, column)
    assert error_of(r)["fields"]["expression"]


def test_preview_respects_record_visibility_and_bad_bodies(client, setup) -> None:
    h = setup
    assert _preview(client, h, expression="1", record=999).status_code == 404
    assert _preview(client, h, expression=42).status_code == 400
    assert _preview(client, h, expression="1", values={"nope": 1}).status_code == 422
    assert _preview(client, h, expression="1", expected="color").status_code == 400


def test_preview_cannot_reach_hidden_fields_or_invisible_records(client, setup) -> None:
    h = setup
    inv = _create(client, h, "invoice", number="HID", budget="8", qty=2)
    r = client.post("/api/v1/admin/roles", headers=h, json={
        "name": "peeker", "permissions": {"invoice": {
            "operations": ["read"], "scope": "own", "fields": {"budget": "hidden"}}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "pete", "password": "Pete-pass-2024!", "roles": ["peeker"]})
    assert r.status_code == 201, r.json
    pete = sign_in(client, username="pete", password="Pete-pass-2024!")
    assert _preview(client, pete, expression="number", record=inv["id"]).status_code == 404
    r = _preview(client, pete, expression="budget * 2", values={})
    assert r.status_code == 422 and "no field named 'budget'" in error_of(r)["message"]
    # per_unit reads the hidden budget: hidden like it, even over a draft
    r = _preview(client, pete, expression="per_unit", values={"qty": 2})
    assert r.status_code == 422 and "no field named 'per_unit'" in error_of(r)["message"]
    r = _preview(client, h, expression="per_unit", record=inv["id"])
    assert r.json == {"value": "4.00", "type": "number"}


# -- regular expressions in the preview ------------------------------------------------------
@pytest.mark.parametrize(("expression", "values", "reason", "words"), [
    (r"regex_match(number, '(a)\\1')", {}, "evaluation", "back-references"),  # when compiled
    (r"regex_match(number, '(?<=a)b')", {}, "evaluation", "look-behind"),
    ("regex_match(number, code)", {"number": "aa", "code": r"(a)\1"}, "evaluation",
     "back-references"),  # a pattern from a field: when it runs
    ("regex_match(number, code)", {"number": "a", "code": "a" * 201}, "limit", "200"),
    ("regex_match(rept(number, 1001), 'a+')", {"number": "a"}, "limit", "1000"),
])
def test_preview_refuses_patterns_re2_cannot_run(client, setup, expression, values, reason,
                                                 words) -> None:
    r = _preview(client, setup, expression=expression, values=values)
    assert r.status_code == 422, r.json
    error = error_of(r)
    assert r.json["error"]["details"]["reason"] == reason
    assert r.json["error"]["details"]["line"] == 1
    assert any(words in m for m in error["fields"]["expression"]), error


def test_a_hostile_preview_does_linear_work_while_other_requests_go_on(client, setup, app,
                                                                       monkeypatch) -> None:
    """Nested quantifiers over 100,000 characters (the input cap raised for the test): on
    ``re`` one such request held the GIL for longer than any timeout. On RE2 it answers,
    costs about what a benign pattern over the same text costs (a generous factor, best of
    a few runs, so a busy machine cannot fake a failure), and requests running beside it
    succeed."""
    from crmforge.rules.library import textfn

    monkeypatch.setattr(textfn, "MAX_REGEX_INPUT", 100_000)
    h = setup
    long_a = "rept(number, 100000)"
    hostile = [(f"regex_match({long_a}, '(?:a+){{15}}b')", False),
               (f"regex_match({long_a}, '(a|aa)+$')", True),
               (f"regex_match({long_a}, '(.*a){{20}}')", True)]
    benign = f"regex_match({long_a}, 'a+b')"
    values = {"number": "a"}

    def cost(expression: str, answer: bool) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            r = _preview(client, h, expression=expression, values=values)
            best = min(best, time.perf_counter() - started)
            assert r.status_code == 200 and r.json["value"] is answer, r.json
        return best

    base = cost(benign, False)
    for expression, answer in hostile:
        assert cost(expression, answer) / base < 20, expression

    statuses: list[int] = []
    answers: list[Any] = []
    start = threading.Barrier(2)

    def hostile_requests() -> None:
        c = app.test_client()
        start.wait()
        for expression, answer in hostile * 2:
            r = c.post("/api/v1/meta/objects/invoice/preview", headers=h,
                       json={"expression": expression, "values": values})
            answers.append((r.status_code, r.json.get("value"), answer))

    t = threading.Thread(target=hostile_requests)
    t.start()
    try:
        start.wait()
        for _ in range(6):
            statuses.append(client.get("/api/v1/records/invoice?limit=5", headers=h).status_code)
    finally:
        t.join()
    assert statuses == [200] * 6
    assert answers == [(200, answer, answer) for _, answer in hostile * 2]
