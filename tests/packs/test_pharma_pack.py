"""The pharma pack after core, on SQLite and PostgreSQL: every sample row installed with
stored layouts; reps, district managers, commercial operations, medical, finance and legal
reading and writing what their posts need (territory alignment through ownership and
shares, costs hidden); the academic event countersign and the expense approval end to
end; and the business rules (yearly sample limit, event and expense limits, sell-out
matching) refusing bad writes in Chinese and English."""

from __future__ import annotations

from typing import Any

import pytest

from crmforge.core import clock
from crmforge.runtime.designer import Designer

from .conftest import PACKS, PackWorld, pack_rows, refused

PACK = "pharma"

DEPARTMENTS: list[tuple[str, str | None]] = [
    ("ph_hq", None), ("ph_east", "ph_hq"), ("terr_sh", "ph_east"), ("terr_hz", "ph_east"),
    ("ph_north", "ph_hq"), ("terr_bj", "ph_north"), ("ph_commercial", "ph_hq"),
    ("ph_medical", "ph_hq"), ("ph_finance", "ph_hq"), ("ph_legal", "ph_hq")]
USERS = [
    ("rep_sh1", "terr_sh", ["pharma_rep"]), ("rep_sh2", "terr_sh", ["pharma_rep"]),
    ("rep_hz", "terr_hz", ["pharma_rep"]), ("rep_bj", "terr_bj", ["pharma_rep"]),
    ("dm_east", "ph_east", ["pharma_district_manager"]),
    ("ops", "ph_commercial", ["pharma_commercial_ops"]),
    ("med", "ph_medical", ["pharma_medical", "pharma_event_countersign"]),
    ("fin", "ph_finance", ["pharma_finance", "pharma_event_countersign"]),
    ("legal", "ph_legal", ["pharma_legal", "pharma_event_countersign"]),
]
#: Primary alignment: who owns which sample terminals and doctors.
OWNERS = {
    "rep_sh1": {"hospital": ["h_ruijin", "h_zhongshan", "h_jingan", "h_yifeng"],
                "doctor": ["dr_wang", "dr_li", "dr_zhou", "dr_chen", "dr_gu"],
                "sales_target": ["tg1", "tg2"]},
    "rep_hz": {"hospital": ["h_zheyi", "h_xixi"], "doctor": ["dr_xu", "dr_sun"],
               "sales_target": ["tg3"]},
    "rep_bj": {"hospital": ["h_chaoyang"], "doctor": ["dr_zhao", "dr_qian"],
               "sales_target": ["tg4"]},
}
SH = {"上海瑞和医院", "上海中山路医院", "静安区中心医院", "益丰大药房（南京西路店）"}
HZ = {"浙江省第一人民医院", "西溪社区卫生服务中心"}
BJ = {"北京朝阳门医院"}
#: The supermarket and mall terminals (1.2): no rep is aligned to them in this world.
RETAIL = {"家乐福古北店药品专柜", "港汇恒隆广场健康生活馆"}

SAMPLE_LIMIT = {"zh": "超出该医生本年度样品限额", "en": "This exceeds the doctor's yearly sample limit"}


@pytest.fixture(scope="module")
def ph(pack_world: PackWorld) -> PackWorld:
    """The pharma organisation: territories as departments, users of every role, and the
    sample terminals aligned to reps by transfer (primary) and share (secondary)."""
    w = pack_world
    w.departments(DEPARTMENTS)
    w.users(USERS)
    w.head("ph_east", "dm_east")
    for owner, objects in OWNERS.items():
        for obj, keys in objects.items():
            for key in keys:
                if (obj, key) == ("hospital", "h_zheyi"):
                    continue  # commercial operations aligns this one below
                w.transfer(obj, w.key(obj, key), owner)
    r = w.post("ops", f"/api/v1/records/hospital/{w.key('hospital', 'h_zheyi')}/transfer",
               {"owner": "rep_hz"})
    assert r.status_code == 200, r.json
    # Secondary alignment (al6): the Shanghai rep co-covers Zheyi's oncology, shared by the
    # district manager, who sees the terminal through the department tree.
    for obj, key in (("hospital", "h_zheyi"), ("doctor", "dr_xu")):
        r = w.post("dm_east", f"/api/v1/records/{obj}/{w.key(obj, key)}/shares",
                   {"user": "rep_sh2", "access": "read"})
        assert r.status_code == 201, r.json
    return w


def _today() -> str:
    return clock.now().date().isoformat()


def _event(w: PackWorld, who: str, **values: Any) -> dict[str, Any]:
    body = {"name": "心内科高血压病例讨论会", "event_type": "department_meeting",
            "hospital": w.key("hospital", "h_ruijin"), "speaker": w.key("doctor", "dr_wang"),
            "drug": w.key("drug", "d_cardio"), "event_date": "2026-12-20",
            "attendees": 20, "budget": "10000", "speaker_fee": "3000", **values}
    return w.created(who, "academic_event", body)


# -- 1. install ------------------------------------------------------------------------------
def test_every_sample_row_is_a_record_and_every_object_has_a_stored_layout(ph: PackWorld
                                                                           ) -> None:
    w = ph
    rows = pack_rows(PACK)
    objects = sorted(p.stem for p in (PACKS / PACK / "objects").glob("*.yaml"))
    assert len(objects) == 20
    assert set(rows) == set(objects)  # sample data for every object
    assert w.installed == {obj: len(r) for obj, r in rows.items()}
    for obj, obj_rows in rows.items():
        for row in obj_rows:
            r = w.record("admin", obj, w.key(obj, row["_key"]))
            assert r.status_code == 200, (obj, row["_key"])
        layout = w.get("admin", f"/api/v1/meta/objects/{obj}/layout").json
        assert layout["generated"] is False, obj
        doc = w.get("admin", f"/api/v1/meta/objects/{obj}").json
        assert doc["pack"] == PACK
        assert {"zh", "en"} <= set(doc["label"]), obj
        placed = {name for s in layout["form"]["sections"] for name in s["fields"]}
        assert placed == {f["name"] for f in doc["fields"]}, obj
        for f in doc["fields"]:
            assert {"zh", "en"} <= set(f["label"]), (obj, f["name"])
            for c in f.get("choices", []):
                assert {"zh", "en"} <= set(c["label"]), (obj, f["name"], c["value"])
    # A row's values came through: spot checks of formulas and roll-ups on untouched rows.
    plan = w.record("admin", "call_plan", w.key("call_plan", "cp_sh_11")).json
    assert (plan["planned_calls"], plan["completed_calls"], plan["completion"]) == \
        ("5", "3", "60.00")
    batch = w.record("admin", "sellout_import", w.key("sellout_import", "si_zj_10")).json
    assert (batch["line_count"], batch["matched_count"], batch["match_rate"],
            batch["total_amount"]) == ("3", "1", "33.30", "85325.00")
    assert w.record("admin", "academic_event", w.key("academic_event", "ev3")).json[
        "actual_cost"] == "118000.00"
    zheyi = w.record("admin", "hospital", w.key("hospital", "h_zheyi")).json
    assert (zheyi["doctor_count"], zheyi["aligned_reps"]) == ("2", "2")
    assert w.record("admin", "drug", w.key("drug", "d_cardio")).json["gross_margin"] == "79.08"
    procs = {p["name"]: p for p in w.get("admin", "/api/v1/meta/processes").json["items"]}
    assert procs["event_countersign"]["steps"][1]["mode"] == "all"
    assert procs["expense_approval"]["object"] == "ph_expense"
    boards = {d["name"] for d in Designer(w.instance.tenant("default")).dashboards()}
    assert {"pharma_field_force", "pharma_channel"} <= boards
    roles = {r["name"] for r in w.get("admin", "/api/v1/admin/roles").json["items"]}
    assert {"pharma_rep", "pharma_district_manager", "pharma_commercial_ops", "pharma_medical",
            "pharma_finance", "pharma_legal", "pharma_event_countersign"} <= roles


# -- 2. permissions --------------------------------------------------------------------------
def test_reps_see_the_terminals_of_their_territory_and_shared_ones(ph: PackWorld) -> None:
    w = ph
    assert w.titles("rep_sh1", "hospital") == SH
    assert w.titles("rep_sh2", "hospital") == SH | {"浙江省第一人民医院"}  # shared
    assert w.titles("rep_hz", "hospital") == HZ
    assert w.titles("rep_bj", "hospital") == BJ
    assert w.titles("dm_east", "hospital") == SH | HZ
    for who in ("ops", "med", "fin", "legal"):
        assert w.titles(who, "hospital") == SH | HZ | BJ | RETAIL, who
    assert w.titles("rep_sh1", "doctor") == {"王志刚", "李晓燕", "周明", "陈丽", "顾芳"}
    assert w.titles("rep_sh2", "doctor") == {"王志刚", "李晓燕", "周明", "陈丽", "顾芳", "徐建华"}
    assert w.titles("rep_hz", "doctor") == {"徐建华", "孙伟"}
    assert w.titles("rep_sh1", "sales_target") == {"瑞和医院 心安宁 2026Q4", "瑞和医院 畅息 2026Q4"}
    # Another territory's terminal does not exist for a rep; a shared one is read-only.
    chaoyang, zheyi, ruijin = (w.key("hospital", k) for k in ("h_chaoyang", "h_zheyi", "h_ruijin"))
    assert w.record("rep_sh1", "hospital", chaoyang).status_code == 404
    assert w.record("dm_east", "hospital", chaoyang).status_code == 404
    assert w.record("rep_sh2", "hospital", zheyi).status_code == 200
    assert w.update("rep_sh2", "hospital", zheyi, {"phone": "0571-86000001"}).status_code == 403
    assert w.update("rep_hz", "hospital", ruijin, {"phone": "021-64370009"}).status_code == 404
    r = w.update("rep_sh1", "hospital", ruijin, {"phone": "021-64370002"})
    assert r.status_code == 200, r.json
    assert r.json["phone"] == "+862164370002"  # stored in E.164
    assert w.update("rep_sh1", "hospital", ruijin, {"territory": None}).status_code == 403
    # Reps do not create terminals (master data) nor read sell-out; operations do.
    assert w.create("rep_sh1", "hospital", {"name": "新药房", "kind": "pharmacy"}).status_code \
        == 403
    assert w.get("rep_sh1", "/api/v1/records/sellout_line").status_code == 403
    assert len(w.items("ops", "sellout_line")) == len(pack_rows(PACK)["sellout_line"])


def test_visits_are_the_reps_own_and_lookups_stop_at_the_territory(ph: PackWorld) -> None:
    w = ph
    visit = w.created("rep_sh1", "call_visit", {
        "hospital": w.key("hospital", "h_ruijin"), "doctor": w.key("doctor", "dr_li"),
        "visit_date": "2026-11-21", "channel": "face_to_face", "status": "done",
        "key_message": "畅息吸入技巧复训", "feedback": "同意在科室推广"})
    w.created("rep_sh1", "visit_detail", {"call_visit": visit["id"],
                                          "drug": w.key("drug", "d_resp"), "reaction": "positive"})
    assert w.record("rep_sh1", "call_visit", visit["id"]).json["products_detailed"] == "1"
    assert w.record("rep_sh2", "call_visit", visit["id"]).status_code == 404
    assert w.record("rep_hz", "call_visit", visit["id"]).status_code == 404
    assert w.record("dm_east", "call_visit", visit["id"]).status_code == 200
    assert w.record("med", "call_visit", visit["id"]).status_code == 200
    assert w.client.delete(f"/api/v1/records/call_visit/{visit['id']}",
                           headers=w.as_user("rep_sh1")).status_code == 403
    # A terminal of another territory cannot be named in a visit.
    r = w.create("rep_bj", "call_visit", {"hospital": w.key("hospital", "h_ruijin"),
                                          "visit_date": "2026-11-21"})
    assert r.status_code == 422 and "hospital" in r.json["error"]["fields"], r.json
    # Doctors: reps add them in their territory, but tier and sample limit are set centrally.
    doc = w.created("rep_sh1", "doctor", {"name": "吴迪", "hospital": w.key("hospital", "h_jingan"),
                                          "title": "resident", "specialty": "endocrinology"})
    assert (doc["tier"], doc["sample_limit"]) == ("c", 20)
    assert w.record("rep_sh2", "doctor", doc["id"]).status_code == 200  # same territory
    assert w.record("rep_hz", "doctor", doc["id"]).status_code == 404
    assert w.update("rep_sh1", "doctor", doc["id"], {"tier": "kol"}).status_code == 403
    assert w.update("rep_sh1", "doctor", doc["id"], {"sample_limit": 99}).status_code == 403


def test_costs_and_private_data_are_hidden_from_the_roles_that_may_not_see_them(
        ph: PackWorld) -> None:
    w = ph
    drug = w.key("drug", "d_cardio")
    for who in ("rep_sh1", "dm_east", "med", "legal"):
        seen = w.record(who, "drug", drug).json
        assert seen["bid_price"] == "32.50", who
        assert "unit_cost" not in seen and "gross_margin" not in seen, who
    for who in ("fin", "ops"):
        seen = w.record(who, "drug", drug).json
        assert (seen["unit_cost"], seen["gross_margin"]) == ("6.80", "79.08"), who
    # Listing and filtering do not reveal them either.
    assert all("unit_cost" not in d for d in w.items("rep_sh1", "drug"))
    assert w.get("rep_sh1", "/api/v1/records/drug", unit_cost__gt="1").status_code == 400
    sample = w.created("rep_sh1", "sample_issue", {
        "doctor": w.key("doctor", "dr_wang"), "drug": w.key("drug", "d_cardio"), "quantity": 2})
    assert "unit_cost" not in sample and "total_cost" not in sample
    assert sample["status"] == "issued" and sample["number"].startswith("SP-")
    as_fin = w.record("fin", "sample_issue", sample["id"]).json
    assert (as_fin["unit_cost"], as_fin["total_cost"]) == ("6.80", "13.60")
    assert "total_cost" not in w.record("legal", "sample_issue", sample["id"]).json
    dist = w.key("distributor", "ds_shyy")
    assert "credit_limit" not in w.record("rep_sh1", "distributor", dist).json
    assert w.record("fin", "distributor", dist).json["credit_limit"] == "20000000.00"
    assert "cost_amount" not in w.items("dm_east", "sellout_line")[0]
    assert w.record("ops", "sellout_line", w.key("sellout_line", "sl1")).json[
        "cost_amount"] == "8160.00"
    dr = w.key("doctor", "dr_wang")
    assert w.record("rep_sh1", "doctor", dr).json["mobile"] == "+8613901000001"
    for who in ("med", "fin", "legal"):
        seen = w.record(who, "doctor", dr).json
        assert seen["name"] == "王志刚" and "mobile" not in seen and "birthday" not in seen
    # Sending a hidden field is refused without naming it.
    r = w.create("rep_sh1", "sample_issue", {"doctor": w.key("doctor", "dr_li"),
                                             "drug": drug, "quantity": 1, "unit_cost": "1"})
    assert r.status_code == 403 and "unit_cost" not in str(r.json)


# -- 3. approvals ----------------------------------------------------------------------------
def test_event_countersign_by_medical_finance_and_legal(ph: PackWorld) -> None:
    w = ph
    ev = _event(w, "rep_sh1")
    assert ev["status"] == "draft" and ev["cost_per_attendee"] == "500.00"
    run = w.submit("rep_sh1", "academic_event", ev["id"])
    assert run["state"] == "running"
    for who in ("med", "fin", "legal"):  # the countersign waits for the manager
        assert w.tasks(who, "academic_event", ev["id"]) == []
    r = w.update("rep_sh1", "academic_event", ev["id"], {"venue": "改到大礼堂"})
    assert r.status_code == 403  # locked while in approval
    assert w.update("rep_sh1", "academic_event", ev["id"],
                    {"compliance_notes": "讲者协议已上传"}).status_code == 200
    w.act("dm_east", "academic_event", ev["id"], "approve")
    for who in ("med", "fin", "legal"):
        assert len(w.tasks(who, "academic_event", ev["id"])) == 1, who
    w.act("med", "academic_event", ev["id"], "approve", "科学内容合规")
    w.act("fin", "academic_event", ev["id"], "approve", "预算合理")
    assert w.record("rep_sh1", "academic_event", ev["id"]).json["status"] == "draft"
    done = w.act("legal", "academic_event", ev["id"], "approve", "讲者协议齐全")
    assert done["state"] == "approved"
    seen = w.record("rep_sh1", "academic_event", ev["id"]).json
    assert (seen["status"], seen["approved_on"]) == ("approved", _today())
    # Approved: its budget is frozen (status rule), the notes stay open.
    assert w.update("admin", "academic_event", ev["id"], {"budget": "12000"}).status_code == 403
    assert w.update("rep_sh1", "academic_event", ev["id"],
                    {"compliance_notes": "签到表已归档"}).status_code == 200


def test_one_countersigner_rejects_the_event(ph: PackWorld) -> None:
    w = ph
    ev = _event(w, "rep_sh1", name="城市会：血脂管理", event_type="city_meeting",
                attendees=60, budget="36000", speaker_fee="6000")
    w.submit("rep_sh1", "academic_event", ev["id"])
    w.act("dm_east", "academic_event", ev["id"], "approve")
    w.act("med", "academic_event", ev["id"], "approve")
    done = w.act("legal", "academic_event", ev["id"], "reject", "讲者与医院存在利益冲突")
    assert done["state"] == "rejected"
    assert w.record("rep_sh1", "academic_event", ev["id"]).json["status"] == "rejected"
    assert w.tasks("fin", "academic_event", ev["id"]) == []  # the open task was cancelled
    # A rejected event can be changed and submitted again.
    assert w.submit("rep_sh1", "academic_event", ev["id"])["state"] == "running"


def test_expense_approval_adds_finance_above_five_thousand(ph: PackWorld) -> None:
    w = ph
    ev = _event(w, "rep_sh1", name="科室会：心衰随访", attendees=30, budget="15000")
    w.submit("rep_sh1", "academic_event", ev["id"])
    for who in ("dm_east", "med", "fin", "legal"):
        w.act(who, "academic_event", ev["id"], "approve")
    big = w.created("rep_sh1", "ph_expense", {
        "academic_event": ev["id"], "expense_type": "venue", "amount": "6000",
        "spent_on": "2026-12-20", "invoice_no": "FP-1"})
    small = w.created("rep_sh1", "ph_expense", {
        "academic_event": ev["id"], "expense_type": "meal", "amount": "1200", "persons": 30,
        "spent_on": "2026-12-20"})
    assert w.record("rep_sh1", "academic_event", ev["id"]).json["actual_cost"] == "7200.00"
    w.submit("rep_sh1", "ph_expense", big["id"])
    w.submit("rep_sh1", "ph_expense", small["id"])
    assert w.tasks("fin", "ph_expense", big["id"]) == []
    w.act("dm_east", "ph_expense", big["id"], "approve")
    done = w.act("dm_east", "ph_expense", small["id"], "approve")
    assert done["state"] == "approved"
    assert w.tasks("fin", "ph_expense", small["id"]) == []
    assert w.record("rep_sh1", "ph_expense", big["id"]).json["status"] == "draft"
    done = w.act("fin", "ph_expense", big["id"], "approve")
    assert done["state"] == "approved"
    assert w.record("rep_sh1", "ph_expense", big["id"]).json["status"] == "approved"
    assert w.record("rep_sh1", "ph_expense", small["id"]).json["status"] == "approved"
    # Finance pays it; afterwards nothing changes.
    assert w.update("fin", "ph_expense", big["id"], {"status": "paid"}).status_code == 200
    assert w.update("fin", "ph_expense", big["id"], {"notes": "x"}).status_code == 403


# -- 4. business rules -----------------------------------------------------------------------
def test_the_yearly_sample_limit_per_doctor(ph: PackWorld) -> None:
    w = ph
    zhou = w.key("doctor", "dr_zhou")  # limit 20, 3 issued this year in the sample data
    cardio = w.key("drug", "d_cardio")
    assert w.record("rep_sh1", "doctor", zhou).json["samples_ytd"] == "3.00"
    first = w.created("rep_sh1", "sample_issue", {"doctor": zhou, "drug": cardio, "quantity": 15})
    body = {"doctor": zhou, "drug": cardio, "quantity": 3}
    assert refused(w.create("rep_sh1", "sample_issue", body), "quantity") == [SAMPLE_LIMIT["en"]]
    assert refused(w.create("rep_sh1", "sample_issue", body, lang="zh"), "quantity") == \
        [SAMPLE_LIMIT["zh"]]
    w.created("rep_sh1", "sample_issue", {**body, "quantity": 2})
    doctor = w.record("rep_sh1", "doctor", zhou).json
    assert (doctor["samples_ytd"], doctor["samples_left"]) == ("20.00", 0)
    assert refused(w.create("rep_sh2", "sample_issue", {**body, "quantity": 1}), "quantity") \
        == [SAMPLE_LIMIT["en"]]  # the limit is the doctor's, whoever issues
    # An issued sample cannot be changed, only cancelled, which frees the quota.
    assert w.update("rep_sh1", "sample_issue", first["id"], {"quantity": 1}).status_code == 403
    r = w.update("rep_sh1", "sample_issue", first["id"], {"status": "cancelled"})
    assert r.status_code == 200, r.json
    assert w.record("rep_sh1", "doctor", zhou).json["samples_ytd"] == "5.00"
    w.created("rep_sh2", "sample_issue", {**body, "quantity": 10})
    # A drug that may not be sampled.
    r = w.create("rep_sh1", "sample_issue", {"doctor": w.key("doctor", "dr_chen"),
                                             "drug": w.key("drug", "d_onco"), "quantity": 1},
                 lang="zh")
    assert refused(r, "drug") == ["该药品不允许发放样品"]


def test_visit_event_expense_and_master_data_rules(ph: PackWorld) -> None:
    w = ph
    ruijin, zhou = w.key("hospital", "h_ruijin"), w.key("doctor", "dr_zhou")
    r = w.create("rep_sh1", "call_visit", {"hospital": ruijin, "doctor": zhou,
                                           "visit_date": "2026-11-22"})
    assert refused(r, "doctor") == ["The doctor does not work at the terminal visited"]
    r = w.create("rep_sh1", "call_visit", {"hospital": ruijin, "visit_date": "2026-11-22",
                                           "status": "done"})
    assert refused(r, "feedback") == ["is required"]
    r = w.create("rep_sh1", "academic_event", {
        "name": "x", "event_type": "symposium", "event_date": "2026-12-01", "attendees": 10,
        "budget": "5000", "speaker_fee": "3000"}, lang="zh")
    assert refused(r, "speaker_fee") == ["讲课费不能超过会议预算的 50%"]
    r = w.create("rep_sh1", "academic_event", {
        "name": "x", "event_type": "symposium", "event_date": "2026-12-01", "attendees": 10,
        "budget": "9000"})
    assert refused(r, "budget") == ["The budget cannot exceed 800 per attendee"]
    draft = _event(w, "rep_sh1", name="未审批的会议")
    r = w.create("rep_sh1", "ph_expense", {"academic_event": draft["id"], "expense_type": "venue",
                                           "amount": "100", "spent_on": "2026-12-20"})
    assert refused(r, "academic_event") == [
        "Expenses can only be claimed for an approved academic event"]
    approved = w.key("academic_event", "ev1")
    r = w.create("rep_sh1", "ph_expense", {"academic_event": approved, "expense_type": "meal",
                                           "amount": "1000", "persons": 3,
                                           "spent_on": "2026-12-08"}, lang="zh")
    assert refused(r, "amount") == ["餐费不能超过每人 300 元"]
    # Master data kept by commercial operations.
    r = w.create("ops", "hospital", {"name": "新建医院", "kind": "hospital", "grade": "g2a"})
    assert refused(r, "beds") == ["A hospital needs its number of beds"]
    r = w.create("ops", "hospital", {"name": "新建医院", "kind": "hospital", "beds": 300})
    assert refused(r, "grade") == ["is required"]
    assert w.created("ops", "hospital", {"name": "新开药房", "kind": "pharmacy"})["kind"] == \
        "pharmacy"
    r = w.create("ops", "distributor", {"name": "某分销", "code": "DS-099", "tier": "tier2"},
                 lang="zh")
    assert refused(r, "parent_distributor") == ["二级分销商必须指定上级经销商"]
    line = w.key("sellout_line", "sl3")  # 中山路, 心安宁, unmatched
    r = w.update("ops", "sellout_line", line, {"sales_target": w.key("sales_target", "tg2")})
    messages = refused(r, "sales_target")
    assert "The matched target is for another drug" in messages
    assert "The matched target belongs to another terminal" in messages
    r = w.update("ops", "sellout_line", line, {"hospital": ruijin,
                                               "sales_target": w.key("sales_target", "tg1")})
    assert r.status_code == 200, r.json
    assert r.json["matched"] is True
    batch = w.record("ops", "sellout_import", w.key("sellout_import", "si_sh_10")).json
    assert (batch["matched_count"], batch["match_rate"]) == ("3", "100.00")
