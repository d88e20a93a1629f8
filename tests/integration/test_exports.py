"""Exports as spreadsheet users expect them: XLSX and CSV, labels as headers (or API
names), lookups as the titles of records the reader may see, picklists as labels, numbers
as numbers and dates as dates in XLSX, a UTF-8 BOM in CSV, text never run as a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from crmforge.runtime import jobs

from .conftest import error_of, sign_in

ACCOUNT = {"name": "account", "label": {"zh": "客户", "en": "Account"}, "fields": [
    {"name": "aname", "type": "text", "label": {"zh": "名称", "en": "Name"}}]}
ORDER = {"name": "purchase", "label": {"zh": "订单", "en": "Order"}, "fields": [
    {"name": "title", "type": "text", "label": {"zh": "标题", "en": "Title"}},
    {"name": "account", "type": "lookup", "target": "account",
     "label": {"zh": "客户", "en": "Account"}},
    {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
     "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                 {"value": "won", "label": {"zh": "赢单", "en": "Won"}}]},
    {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
    {"name": "qty", "type": "integer", "label": {"en": "Quantity"}},
    {"name": "due", "type": "date", "label": {"en": "Due"}},
    {"name": "note", "type": "text"}]}


@pytest.fixture
def world(client, admin) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    for doc in (ACCOUNT, ORDER):
        assert client.post("/api/v1/meta/objects", headers=admin, json=doc).status_code == 201
    mine = client.post("/api/v1/records/account", headers=admin, json={"aname": "Acme 公司"}).json
    theirs = client.post("/api/v1/records/account", headers=admin, json={"aname": "Secret"}).json
    orders = [
        {"title": "一号订单", "account": mine["id"], "stage": "won", "amount": "1234.50",
         "qty": 3, "due": "2027-01-31", "note": "=HYPERLINK(\"http://evil\")"},
        {"title": "second", "account": theirs["id"], "stage": "new", "amount": "10",
         "qty": 1, "note": "-2+3"}]
    for o in orders:
        assert client.post("/api/v1/records/purchase", headers=admin, json=o).status_code == 201
    assert client.post("/api/v1/admin/roles", headers=admin, json={"name": "clerk", "permissions": {
        "purchase": {"operations": ["read", "export"], "scope": "all"},
        "account": {"operations": ["read", "update"], "scope": "own"}}}).status_code == 201
    assert client.post("/api/v1/admin/users", headers=admin, json={
        "username": "cleo", "password": "Cleo-pass-2024!", "roles": ["clerk"]}).status_code == 201
    r = client.post(f"/api/v1/records/account/{mine['id']}/transfer", headers=admin,
                    json={"owner": "cleo"})
    assert r.status_code == 200, r.json
    return {"admin": admin, "cleo": sign_in(client, username="cleo", password="Cleo-pass-2024!"),
            "mine": mine, "theirs": theirs}


def _sheet(response: Any) -> list[list[Any]]:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def test_xlsx_with_labels_titles_numbers_and_dates(client, world) -> None:
    rows = _sheet(client.get("/api/v1/records/purchase/export?format=xlsx&sort=id&lang=zh",
                             headers=world["cleo"]))
    header = rows[0]
    assert header[:8] == ["ID", "标题", "客户", "阶段", "金额", "Quantity", "Due", "note"]
    assert header[8:] == ["创建时间", "更新时间", "负责人"]
    first, second = rows[1], rows[2]
    assert first[1] == "一号订单" and first[2] == "Acme 公司" and first[3] == "赢单"
    assert first[4] == pytest.approx(1234.5) and isinstance(first[4], float | int | Decimal)
    assert first[5] == 3 and first[6] == dt.datetime(2027, 1, 31)
    assert first[7] == '=HYPERLINK("http://evil")'  # text, not a formula
    assert isinstance(first[8], dt.datetime) and first[10] == "admin"
    # the other account is outside cleo's scope: its id, never its title
    assert second[2] == world["theirs"]["id"] and "Secret" not in str(rows)
    english = _sheet(client.get("/api/v1/records/purchase/export?format=xlsx&sort=id&lang=en",
                                headers=world["cleo"]))
    assert english[0][1:4] == ["Title", "Account", "Stage"] and english[1][3] == "Won"


def test_csv_with_bom_names_and_no_formula(client, world) -> None:
    r = client.get("/api/v1/records/purchase/export?headers=names&sort=id", headers=world["admin"])
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["id", "title", "account", "stage"]
    assert rows[1][1:5] == ["一号订单", "Acme 公司", "Won", "1234.50"]
    assert rows[1][7].startswith("'=") and rows[2][7] == "'-2+3"  # CSV injection defused
    assert rows[2][2] == "Secret"  # an administrator sees every title


def test_filters_apply_and_bad_parameters_are_refused(client, world) -> None:
    r = client.get("/api/v1/records/purchase/export?format=xlsx&stage=won", headers=world["cleo"])
    assert [row[1] for row in _sheet(r)[1:]] == ["一号订单"]
    for query, field in (("format=pdf", "format"), ("headers=both", "headers")):
        r = client.get(f"/api/v1/records/purchase/export?{query}", headers=world["cleo"])
        assert r.status_code == 400 and field in error_of(r)["fields"]
    r = client.get("/api/v1/records/account/export?format=xlsx", headers=world["cleo"])
    assert r.status_code == 403  # no export operation on accounts


# -- large exports as jobs ----------------------------------------------------------------------
def _finished(client, headers, job_id) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert jobs.wait_local(30)
    r = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert r.status_code == 200, r.json
    return dict(r.json)


def test_an_export_job_reports_progress_and_keeps_its_file(client, world) -> None:
    r = client.post("/api/v1/records/purchase/export?format=xlsx&sort=id&lang=zh",
                    headers=world["cleo"])
    assert r.status_code == 202, r.json
    job_id = r.json["id"]
    assert r.headers["Location"] == f"/api/v1/jobs/{job_id}"
    job = _finished(client, world["cleo"], job_id)
    assert job["kind"] == "export" and job["status"] == "done"
    assert job["processed"] == job["total"] == 2
    got = client.get(f"/api/v1/jobs/{job_id}/file", headers=world["cleo"])
    assert "attachment" in got.headers["Content-Disposition"]
    rows = _sheet(got)
    assert rows[0][1] == "标题" and rows[1][1] == "一号订单"
    assert world["theirs"]["id"] == rows[2][2]  # the same masking as a direct export
    # Somebody else's export is not theirs to download, nor a job that wrote no file.
    assert client.get(f"/api/v1/jobs/{job_id}/file", headers=world["admin"]).status_code == 200
    assert client.post("/api/v1/admin/users", headers=world["admin"], json={
        "username": "otto", "password": "Otto-pass-2024!", "roles": ["clerk"]}).status_code \
        == 201
    otto = sign_in(client, username="otto", password="Otto-pass-2024!")
    assert client.get(f"/api/v1/jobs/{job_id}/file", headers=otto).status_code == 404


def test_an_export_job_in_csv_with_a_filter(client, world) -> None:
    r = client.post("/api/v1/records/purchase/export?format=csv&stage=won&headers=names",
                    headers=world["admin"])
    assert r.status_code == 202, r.json
    assert _finished(client, world["admin"], r.json["id"])["processed"] == 1
    got = client.get(f"/api/v1/jobs/{r.json['id']}/file", headers=world["admin"])
    assert got.status_code == 200 and got.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    assert rows[0][1] == "title" and [row[1] for row in rows[1:]] == ["一号订单"]


def test_an_export_job_is_refused_up_front(client, world) -> None:
    for query, status in (("format=pdf", 400), ("headers=both", 400), ("bogus__op=1", 400)):
        r = client.post(f"/api/v1/records/purchase/export?{query}", headers=world["cleo"])
        assert r.status_code == status, (query, r.json)
    r = client.post("/api/v1/records/account/export", headers=world["cleo"])
    assert r.status_code == 403  # no export operation on accounts: nothing queued
    r = client.get("/api/v1/jobs/999999/file", headers=world["admin"])
    assert r.status_code == 404
