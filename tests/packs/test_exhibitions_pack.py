"""The exhibitions pack on both databases: it installs after core with every sample row and
a stored layout per object; its roles see and change what their posts need; the booth
discount approval runs end to end; booths lock once contracted and its rules refuse bad
writes in Chinese and English."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.runtime.designer import Designer
from tests.integration.conftest import error_of

from .conftest import PACKS, find, install, pack_objects, pack_rows, staff, total

PACK = PACKS / "exhibitions"
ROWS = pack_rows("exhibitions")
PASSWORD = "Expo-pass-1234"
DEPARTMENTS = [("hq", None), ("sales", "hq"), ("east", "sales"), ("west", "sales"),
               ("services", "hq"), ("finance", "hq")]
USERS = [("director", "hq", ["expo_director"]), ("mgr_east", "east", ["expo_sales_manager"]),
         ("seller1", "east", ["expo_sales"]), ("seller2", "east", ["expo_sales"]),
         ("seller3", "west", ["expo_sales"]), ("svc", "services", ["expo_service"]),
         ("fin", "finance", ["expo_finance"])]
HEADS = {"hq": "director", "east": "mgr_east"}


@pytest.fixture
def expo(instance: Instance) -> Instance:
    core, pack = install(instance, "core", "exhibitions")
    assert core.applied and pack.applied
    assert pack.records == {obj: len(ROWS[obj]) for obj in pack_objects("exhibitions")
                            if obj in ROWS}
    return instance


@pytest.fixture
def people(expo: Instance, client: FlaskClient, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    return staff(client, admin, DEPARTMENTS, USERS, HEADS, PASSWORD)


# -- 1. install ------------------------------------------------------------------------------
def test_installs_every_row_with_layouts_and_live_formulas(expo: Instance, client: FlaskClient,
                                                           admin: dict[str, str]) -> None:
    objects = pack_objects("exhibitions")
    assert len(objects) == 22
    for obj in objects:
        rows = ROWS[obj]
        assert rows, f"{obj} has no sample data"
        assert total(client, admin, obj) == len(rows), obj
        layout = client.get(f"/api/v1/meta/objects/{obj}/layout", headers=admin).json
        assert layout["generated"] is False, obj
        assert layout["form"]["sections"] and layout["list"]["columns"], obj
        doc = client.get(f"/api/v1/meta/objects/{obj}", headers=admin).json
        assert doc["pack"] == "exhibitions"
        for f in doc["fields"]:
            assert {"zh", "en"} <= set(f["label"]), (obj, f["name"])
            for c in f.get("choices", []):
                assert {"zh", "en"} <= set(c["label"]), (obj, f["name"], c["value"])
    snap = Designer(expo.tenant("default")).snapshot()
    assert [d["name"] for d in snap.data["dashboards"] if d.get("pack") == "exhibitions"] == [
        "expo_overview"]
    assert {r["name"] for r in snap.data["roles"] if r.get("pack") == "exhibitions"} == {
        "expo_director", "expo_sales_manager", "expo_sales", "expo_service", "expo_finance"}
    procs = client.get("/api/v1/meta/processes", headers=admin).json
    assert "booth_discount" in [p["name"] for p in procs.get("items", procs)]

    # Formulas and roll-ups over the sample rows.
    cifit26 = find(client, admin, "edition", name="第二十六届投洽会")
    assert cifit26["exhibitor_count"] == "4" and cifit26["returning_count"] == "2"
    assert Decimal(cifit26["retention_rate"]) == Decimal("50")  # 2 of last edition's 4
    assert Decimal(cifit26["churn_rate"]) == Decimal("50")
    assert Decimal(cifit26["target_progress"]) == Decimal("50")  # 4 of a target of 8
    assert Decimal(cifit26["check_in_rate"]) == Decimal("60")    # 3 of 5 visitors
    cifit25 = find(client, admin, "edition", name="第二十五届投洽会")
    assert cifit25["leaving_count"] == "2" and cifit25["retention_rate"] is None
    booth = find(client, admin, "booth", number="A1-001", status="paid", unit_price="1600")
    assert Decimal(booth["price"]) == Decimal("172800")
    contract = find(client, admin, "booth_contract", booth=booth["id"])
    assert Decimal(contract["list_amount"]) == Decimal("172800")
    assert Decimal(contract["amount"]) == Decimal("152064")          # 12% off
    assert Decimal(contract["commission"]) == Decimal("9123.84")     # the agency's 6%
    assert Decimal(contract["paid_amount"]) == Decimal("152064")
    assert Decimal(contract["outstanding"]) == Decimal("0")
    hall = find(client, admin, "hall", code="A1", edition=cifit26["id"])
    assert hall["booth_count"] == "5" and hall["available_booths"] == "2"
    assert Decimal(hall["sold_area"]) == Decimal("117")               # 108 paid + 9 contracted
    star = find(client, admin, "exhibitor", name="星辰电子")
    assert star["churn_risk"] == "high"
    forum = find(client, admin, "forum", title="国际投资论坛")
    assert forum["registered"] == "2" and forum["attended"] == "2" and forum["seats_left"] == 298


# -- 2. permissions --------------------------------------------------------------------------
def _new_exhibitor(client: FlaskClient, who: dict[str, str], edition: int, name: str
                   ) -> dict[str, Any]:
    r = client.post("/api/v1/records/exhibitor", headers=who,
                    json={"name": name, "edition": edition, "category": "manufacturer"})
    assert r.status_code == 201, r.json
    return dict(r.json)


def test_roles_read_and_write_what_their_posts_need(people: dict[str, dict[str, str]],
                                                    client: FlaskClient) -> None:
    h = people
    admin = h["admin"]
    ed = find(client, admin, "edition", name="第二十六届投洽会")["id"]
    mine = {u: _new_exhibitor(client, h[u], ed, f"{u} 的展商") for u in ("seller1", "seller2",
                                                                        "seller3")}
    ids = {u: rec["id"] for u, rec in mine.items()}
    # Who reads which seller's exhibitor (own < department tree < all).
    reads = {
        "seller1": {"seller1"}, "seller2": {"seller2"}, "seller3": {"seller3"},
        # The manager's role is above the sellers' role, but the hierarchy reaches only the
        # manager's department tree: the west seller's exhibitor is another office's.
        "mgr_east": {"seller1", "seller2"},
        "director": {"seller1", "seller2", "seller3"},
        "svc": {"seller1", "seller2", "seller3"}, "fin": {"seller1", "seller2", "seller3"},
    }
    for user, visible in reads.items():
        for owner, rid in ids.items():
            r = client.get(f"/api/v1/records/exhibitor/{rid}", headers=h[user])
            assert r.status_code == (200 if owner in visible else 404), (user, owner, r.json)
    # Sellers and the manager see the sample exhibitors only through their scope: none of
    # them own the admin's sample rows; the director sees those nine and the new three.
    assert total(client, h["seller1"], "exhibitor") == 1
    assert total(client, h["mgr_east"], "exhibitor") == 2
    assert total(client, h["director"], "exhibitor") == 9 + 3
    # Writes: own for sellers, department tree for the manager, none for services.
    writes = {("seller1", "seller1"): 200, ("seller1", "seller2"): 404,
              ("mgr_east", "seller2"): 200, ("mgr_east", "seller3"): 404,
              ("seller3", "seller1"): 404, ("fin", "seller2"): 403,
              ("svc", "seller1"): 403, ("director", "seller3"): 200}
    for (user, owner), code in writes.items():
        rid = ids[owner]
        version = client.get(f"/api/v1/records/exhibitor/{rid}", headers=admin).json["version"]
        r = client.patch(f"/api/v1/records/exhibitor/{rid}", headers=h[user],
                         json={"notes": f"by {user}", "version": version})
        assert r.status_code == code, (user, owner, r.json)
    # Hidden fields are absent from responses.
    x = ids["seller1"]
    seen = client.get(f"/api/v1/records/exhibitor/{x}", headers=h["seller1"]).json
    assert "credit_limit" not in seen and "contract_total" in seen
    seen = client.get(f"/api/v1/records/exhibitor/{x}", headers=h["svc"]).json
    assert not {"credit_limit", "contract_total", "contract_count", "churn_reason"} & set(seen)
    assert "credit_limit" in client.get(f"/api/v1/records/exhibitor/{x}", headers=h["fin"]).json
    listed = client.get("/api/v1/records/booth", query_string={"limit": 50}, headers=h["svc"]).json
    assert listed["items"] and all("price" not in b and "unit_price" not in b
                                   for b in listed["items"])
    cert = client.get("/api/v1/records/certificate", headers=h["svc"]).json["items"]
    assert len(cert) == 4 and all("id_number" in c for c in cert)
    # A seller's certificates hide the ID number; a seller cannot list contracts of others.
    r = client.post("/api/v1/records/certificate", headers=h["seller1"], json={
        "holder": "展商员工", "edition": ed, "cert_type": "exhibitor", "exhibitor": x})
    assert r.status_code == 201 and "id_number" not in r.json, r.json
    assert total(client, h["seller1"], "certificate") == 1
    assert total(client, h["seller1"], "booth_contract") == 0
    # Services has no access to contracts at all; finance reads them all.
    assert client.get("/api/v1/records/booth_contract", headers=h["svc"]).status_code == 403
    assert total(client, h["fin"], "booth_contract") == 9
    # Read-only fields: a seller reserves a booth but cannot change its price.
    booth = find(client, admin, "booth", number="A1-014")
    r = client.patch(f"/api/v1/records/booth/{booth['id']}", headers=h["seller1"],
                     json={"unit_price": "1", "version": booth["version"]})
    assert r.status_code == 403, r.json
    r = client.patch(f"/api/v1/records/booth/{booth['id']}", headers=h["seller1"],
                     json={"status": "reserved", "exhibitor": x, "version": booth["version"]})
    assert r.status_code == 200 and r.json["status"] == "reserved", r.json
    # Finance may not change the discount of a contract.
    c = find(client, admin, "booth_contract", status="draft")
    r = client.patch(f"/api/v1/records/booth_contract/{c['id']}", headers=h["fin"],
                     json={"discount": "0", "version": c["version"]})
    assert r.status_code == 403, r.json
    r = client.post("/api/v1/records/booth_payment", headers=h["fin"], json={
        "booth_contract": c["id"], "paid_on": "2026-11-01", "amount": "1000"})
    assert r.status_code == 201, r.json


# -- 3. the booth discount approval ----------------------------------------------------------
def _inbox(client: FlaskClient, who: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/approvals/tasks", headers=who)
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def _act(client: FlaskClient, who: dict[str, str], action: str, **body: Any) -> dict[str, Any]:
    tasks = _inbox(client, who)
    assert len(tasks) == 1, tasks
    r = client.post(f"/api/v1/approvals/tasks/{tasks[0]['id']}/{action}", json=body, headers=who)
    assert r.status_code == 200, r.json
    return dict(r.json)


def test_booth_discount_approval_end_to_end(people: dict[str, dict[str, str]],
                                            client: FlaskClient) -> None:
    h = people
    admin = h["admin"]
    ed = find(client, admin, "edition", name="第二十六届投洽会")["id"]
    exhibitor = _new_exhibitor(client, h["seller1"], ed, "新展商")
    booths = [find(client, admin, "booth", number=n) for n in ("A1-014", "A1-015")]

    def contract(booth: dict[str, Any], discount: str) -> dict[str, Any]:
        r = client.post("/api/v1/records/booth_contract", headers=h["seller1"], json={
            "exhibitor": exhibitor["id"], "booth": booth["id"], "discount": discount})
        assert r.status_code == 201, r.json
        assert r.json["status"] == "draft"
        return dict(r.json)

    big = contract(booths[0], "20")
    assert Decimal(big["amount"]) == Decimal("12240")       # 9 m² x 1700, 20% off
    # Services may not submit; the seller may.
    r = client.post("/api/v1/approvals", json={"object": "booth_contract", "record": big["id"]},
                    headers=h["svc"])
    assert r.status_code in (403, 404), r.json
    r = client.post("/api/v1/approvals", json={"object": "booth_contract", "record": big["id"]},
                    headers=h["seller1"])
    assert r.status_code == 201, r.json
    inst = r.json
    assert inst["state"] == "running" and inst["tasks"][0]["assignee"] == "mgr_east"
    # Locked while in approval, except the notes.
    r = client.patch(f"/api/v1/records/booth_contract/{big['id']}", headers=h["seller1"],
                     json={"discount": "25", "version": big["version"]})
    assert r.status_code == 403, r.json
    r = client.patch(f"/api/v1/records/booth_contract/{big['id']}", headers=h["seller1"],
                     json={"notes": "老客户推荐", "version": big["version"]})
    assert r.status_code == 200, r.json
    assert _inbox(client, h["director"]) == []
    _act(client, h["mgr_east"], "approve", comment="同意")
    # Above 15%: the director decides too.
    assert _inbox(client, h["mgr_east"]) == []
    done = _act(client, h["director"], "approve")
    assert done["state"] == "approved"
    got = client.get(f"/api/v1/records/booth_contract/{big['id']}", headers=admin).json
    assert got["status"] == "approved" and Decimal(got["discount"]) == Decimal("20")
    r = client.get(f"/api/v1/approvals/{inst['id']}", headers=h["seller1"])
    assert r.status_code == 200 and r.json["state"] == "approved"
    # Signing the approved contract contracts the booth for the exhibitor (a trigger), and
    # from then on the booth is locked.
    r = client.patch(f"/api/v1/records/booth_contract/{big['id']}", headers=h["seller1"], json={
        "status": "signed", "signed_on": "2026-11-20", "version": got["version"]})
    assert r.status_code == 200, r.json
    booth = client.get(f"/api/v1/records/booth/{booths[0]['id']}", headers=admin).json
    assert booth["status"] == "contracted" and booth["exhibitor"] == exhibitor["id"]
    r = client.patch(f"/api/v1/records/booth/{booth['id']}", headers=h["seller1"],
                     json={"exhibitor": None, "status": "available", "version": booth["version"]})
    assert r.status_code in (403, 422), r.json
    assert client.get(f"/api/v1/records/booth/{booth['id']}", headers=admin).json == booth
    r = client.patch(f"/api/v1/records/booth_contract/{big['id']}", headers=h["seller1"],
                     json={"discount": "5", "version": got["version"] + 1})
    assert r.status_code == 403, r.json  # a signed contract keeps its terms

    # A small discount needs only the manager; a rejection sets the status back.
    small = contract(booths[1], "10")
    r = client.post("/api/v1/approvals", json={"object": "booth_contract", "record": small["id"]},
                    headers=h["seller1"])
    assert r.status_code == 201, r.json
    done = _act(client, h["mgr_east"], "reject", comment="折扣过高")
    assert done["state"] == "rejected"
    got = client.get(f"/api/v1/records/booth_contract/{small['id']}", headers=admin).json
    assert got["status"] == "rejected"
    assert _inbox(client, h["director"]) == []
    # No discount: the process does not apply.
    r = client.patch(f"/api/v1/records/booth_contract/{small['id']}", headers=h["seller1"],
                     json={"discount": "0", "status": "draft", "version": got["version"]})
    assert r.status_code == 200, r.json
    r = client.post("/api/v1/approvals", json={"object": "booth_contract", "record": small["id"]},
                    headers=h["seller1"])
    assert r.status_code == 422, r.json


def test_certificate_review(people: dict[str, dict[str, str]], client: FlaskClient) -> None:
    h = people
    ed = find(client, h["admin"], "edition", name="第二十六届投洽会")["id"]
    exhibitor = _new_exhibitor(client, h["seller1"], ed, "办证展商")
    certs = []
    for holder in ("展商员工甲", "展商员工乙"):
        r = client.post("/api/v1/records/certificate", headers=h["seller1"], json={
            "holder": holder, "edition": ed, "cert_type": "exhibitor",
            "exhibitor": exhibitor["id"]})
        assert r.status_code == 201 and r.json["status"] == "applied", r.json
        certs.append(r.json)
    for cert in certs:
        r = client.post("/api/v1/approvals", json={"object": "certificate", "record": cert["id"]},
                        headers=h["seller1"])
        assert r.status_code == 201 and r.json["tasks"][0]["assignee"] == "svc", r.json
    tasks = _inbox(client, h["svc"])
    assert sorted(t["record_id"] for t in tasks) == sorted(c["id"] for c in certs)
    by_record = {t["record_id"]: t["id"] for t in tasks}
    for cert, action in zip(certs, ("approve", "reject"), strict=True):
        r = client.post(f"/api/v1/approvals/tasks/{by_record[cert['id']]}/{action}", json={},
                        headers=h["svc"])
        assert r.status_code == 200, r.json
    got = [client.get(f"/api/v1/records/certificate/{c['id']}", headers=h["seller1"]).json
           for c in certs]
    assert [c["status"] for c in got] == ["approved", "rejected"]
    # Services record the holder's ID number, which sellers never see, not even on their own
    # applications (nor may they write it).
    seen = client.get(f"/api/v1/records/certificate/{certs[0]['id']}", headers=h["svc"]).json
    r = client.patch(f"/api/v1/records/certificate/{certs[0]['id']}", headers=h["svc"],
                     json={"id_number": "350203199001010011", "version": seen["version"]})
    assert r.status_code == 200 and r.json["id_number"] == "350203199001010011", r.json
    mine = client.get(f"/api/v1/records/certificate/{certs[0]['id']}", headers=h["seller1"]).json
    assert "id_number" not in mine and mine["holder"] == "展商员工甲"
    r = client.patch(f"/api/v1/records/certificate/{certs[1]['id']}", headers=h["seller1"],
                     json={"id_number": "1", "version": got[1]["version"]})
    assert r.status_code == 403, r.json
    # Only applications enter the review.
    r = client.post("/api/v1/approvals", json={"object": "certificate", "record": certs[0]["id"]},
                    headers=h["seller1"])
    assert r.status_code == 422, r.json


# -- 4. status and validation rules ----------------------------------------------------------
def test_contracted_booth_is_locked_and_rules_refuse_bad_writes(
        expo: Instance, client: FlaskClient, admin: dict[str, str]) -> None:
    booth = find(client, admin, "booth", number="A1-012", status="contracted")
    url = f"/api/v1/records/booth/{booth['id']}"
    other = find(client, admin, "exhibitor", name="蓝天物流")["id"]
    for change in ({"unit_price": "100"}, {"area": "4"}, {"exhibitor": other}):
        r = client.patch(url, json={**change, "version": booth["version"]}, headers=admin)
        assert r.status_code == 403, (change, r.json)
        assert "contracted" in error_of(r)["message"]
    # Back to available is refused by the rule (the exhibitor stays), in both languages.
    for lang, text in (("en", "A booth with an exhibitor cannot be available"),
                       ("zh", "已有展商的展位不能设为可售")):
        r = client.patch(url, query_string={"lang": lang}, headers=admin,
                         json={"status": "available", "version": booth["version"]})
        assert r.status_code == 422, r.json
        assert text in error_of(r)["fields"]["status"]
    r = client.patch(url, json={"status": "paid", "notes": "已付清", "version": booth["version"]},
                     headers=admin)
    assert r.status_code == 200, r.json
    r = client.patch(url, json={"status": "contracted", "version": r.json["version"]},
                     headers=admin)
    assert r.status_code == 403, r.json  # paid: only the notes
    r = client.delete(url, headers=admin)
    assert r.status_code == 403, r.json

    hall = find(client, admin, "hall", code="B2")["id"]
    cases = [
        ("booth", {"number": "B2-999", "hall": hall, "booth_type": "raw_space", "area": "20",
                   "unit_price": "1000"}, "area",
         "A raw-space booth is at least 36 m²", "光地展位面积不能小于 36 平方米"),
        ("booth", {"number": "B2-998", "hall": hall, "area": "9", "unit_price": "1000",
                   "status": "reserved"}, "exhibitor",
         "A reserved, contracted or paid booth needs an exhibitor",
         "已预订、已签约或已付款的展位必须指定展商"),
    ]
    ed = find(client, admin, "edition", name="第二十六届投洽会")["id"]
    huaxin = find(client, admin, "exhibitor", name="华信制造集团", edition=ed)["id"]
    taken = find(client, admin, "booth", number="A1-013", status="reserved")["id"]  # 星辰电子's
    cases += [
        ("booth_contract", {"exhibitor": huaxin, "booth": taken}, "booth",
         "This booth is taken by another exhibitor", "该展位已被其他展商预订"),
        ("booth_contract", {"exhibitor": huaxin, "booth": booth["id"], "discount": "31"},
         "discount", "The booth discount cannot exceed 30%", "展位折扣不能超过 30%"),
        ("edition", {"name": "x", "exhibition": cifit_id(client, admin), "start_date": "2026-09-10",
                     "end_date": "2026-09-01"}, "end_date",
         "The closing date cannot be before the opening date", "闭幕日期不能早于开幕日期"),
        ("visitor", {"name": "无联系方式", "edition": ed}, "mobile",
         "Enter a mobile number or an email address", "请填写手机或邮箱"),
        ("certificate", {"holder": "x", "edition": ed, "cert_type": "exhibitor"}, "exhibitor",
         "An exhibitor badge needs the exhibitor", "展商证必须关联展商"),
    ]
    for obj, body, field, en, zh in cases:
        for lang, text in (("en", en), ("zh", zh)):
            r = client.post(f"/api/v1/records/{obj}", json=body, headers=admin,
                            query_string={"lang": lang})
            assert r.status_code == 422, (obj, r.json)
            assert text in error_of(r)["fields"][field], (obj, lang, r.json)
    # Conditional requirements: a leaving exhibitor needs a reason; a check-in a time.
    r = client.post("/api/v1/records/exhibitor", headers=admin,
                    json={"name": "y", "edition": ed, "next_intent": "churned"})
    assert r.status_code == 422 and "churn_reason" in error_of(r)["fields"], r.json
    r = client.post("/api/v1/records/visitor", headers=admin,
                    json={"name": "z", "edition": ed, "mobile": "13300000999", "checked_in": True})
    assert r.status_code == 422 and "checked_in_at" in error_of(r)["fields"], r.json
    # Nothing of the refused writes was stored.
    assert total(client, admin, "booth") == len(ROWS["booth"])
    assert total(client, admin, "booth_contract") == len(ROWS["booth_contract"])


def cifit_id(client: FlaskClient, admin: dict[str, str]) -> int:
    return int(find(client, admin, "exhibition", code="CIFIT")["id"])
