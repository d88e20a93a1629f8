"""Data import (DESIGN §9): CSV in any common encoding and XLSX, through the API, as a
durable job; every row through the record service as the importing user. Real files, real
databases (SQLite and PostgreSQL), real jobs."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import re
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from crmforge import tasks
from crmforge.runtime import Instance, jobs
from crmforge.runtime.imports.service import ImportService, Options
from crmforge.security.accounts import principal_of
from crmforge.web import create_app

from .conftest import error_of, sign_in

ACCOUNT = {"name": "account", "label": {"zh": "客户", "en": "Account"}, "fields": [
    {"name": "name", "type": "text", "required": True, "label": {"zh": "客户名称", "en": "Name"}},
    {"name": "code", "type": "text", "unique": True, "label": {"zh": "编码", "en": "Code"}},
    {"name": "level", "type": "picklist", "label": {"zh": "等级", "en": "Level"},
     "choices": [{"value": "gold", "label": {"zh": "金牌", "en": "Gold"}},
                 {"value": "silver", "label": {"zh": "银牌", "en": "Silver"}}]},
    {"name": "since", "type": "date", "label": {"zh": "签约日期", "en": "Customer since"}},
    {"name": "credit", "type": "currency", "label": {"zh": "信用额度", "en": "Credit"}},
    {"name": "employees", "type": "integer", "label": {"en": "Employees"}},
    {"name": "active", "type": "boolean", "label": {"en": "Active"}},
    {"name": "notes", "type": "textarea", "label": {"en": "Notes"}},
    {"name": "secret", "type": "text", "label": {"en": "Secret"}},
    {"name": "rating", "type": "text", "label": {"en": "Rating"}}],
    "validation_rules": [{"name": "credit_cap", "field": "credit",
                          "condition": "is_blank(credit) or credit <= 1000000",
                          "message": {"zh": "信用额度不能超过一百万",
                                      "en": "credit is capped at 1,000,000"}}]}
CONTRACT = {"name": "contract", "label": {"zh": "合同", "en": "Contract"}, "fields": [
    {"name": "number", "type": "text", "required": True, "unique": True,
     "label": {"zh": "合同编号", "en": "Contract number"}},
    {"name": "account", "type": "master_detail", "target": "account",
     "label": {"zh": "客户", "en": "Account"}},
    {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
    {"name": "signed", "type": "datetime", "label": {"en": "Signed at"}},
    {"name": "owner_user", "type": "user", "label": {"en": "Sales rep"}}]}
ROLLUP = {"name": "contract_total", "type": "rollup", "function": "sum", "child": "contract",
          "field": "amount", "label": {"en": "Contracts"}}


@pytest.fixture
def h(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for doc in (ACCOUNT, CONTRACT):
        r = client.post("/api/v1/meta/objects", headers=admin, json=doc)
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/meta/objects/account/fields", headers=admin, json=ROLLUP)
    assert r.status_code == 201, r.json
    return admin


def _start(client: Any, h: dict[str, str], content: bytes, name: str = "data.csv",
           object_name: str = "account", lang: str = "en", **fields: Any) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(content), name), "object": object_name}
    data.update({k: json.dumps(v) if isinstance(v, dict) else str(v).lower()
                 if isinstance(v, bool) else v for k, v in fields.items()})
    return client.post("/api/v1/imports", headers={**h, "Accept-Language": lang}, data=data,
                       content_type="multipart/form-data")


def _run(client: Any, h: dict[str, str], content: bytes, name: str = "data.csv",
         lang: str = "en", **fields: Any) -> dict[str, Any]:
    r = _start(client, h, content, name, lang=lang, **fields)
    assert r.status_code == 202, r.json
    assert set(r.json) == {"id", "status"} and r.json["status"] == "queued"
    assert jobs.wait_local(120)
    status = client.get(f"/api/v1/imports/{r.json['id']}",
                        headers={**h, "Accept-Language": lang})
    assert status.status_code == 200
    body: dict[str, Any] = status.json
    return body


def _accounts(client: Any, h: dict[str, str]) -> dict[str, dict[str, Any]]:
    items = client.get("/api/v1/records/account?limit=500", headers=h).json["items"]
    return {i["name"]: i for i in items}


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    import csv

    csv.writer(out).writerows(rows)
    return out.getvalue()


def _xlsx(rows: list[list[Any]], *, cached: dict[str, str] | None = None) -> bytes:
    """A workbook of ``rows``; ``cached`` gives formula cells (by reference) the value a
    spreadsheet program would have stored with them."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    if not cached:
        return out.getvalue()
    src = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    fixed = io.BytesIO()
    with zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                for ref, value in cached.items():
                    text = re.sub(rf'(<c r="{ref}"[^>]*>)(<f>[^<]*</f>)<v\s*(?:/>|></v>)',
                                  rf"\1\2<v>{value}</v>", text)
                data = text.encode()
            dst.writestr(item, data)
    return fixed.getvalue()


HEADER_ZH = ["客户名称", "编码", "等级", "签约日期", "信用额度"]
ROWS_ZH = [["华为技术", "HW", "金牌", "2021-03-05", "500000"],
           ["深圳腾讯", "TX", "银牌", "2020/1/2", "￥1,200.50"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_common_encoding_with_chinese_labels(client, h, encoding) -> None:
    content = _csv([HEADER_ZH, *ROWS_ZH]).encode(encoding)
    if encoding == "utf-8-sig":
        assert content.startswith(codecs.BOM_UTF8)
    status = _run(client, h, content)
    assert status["status"] == "done", status
    assert (status["total"], status["processed"], status["created"], status["failed"]) == \
        (2, 2, 2, 0)
    stored = _accounts(client, h)
    assert stored["华为技术"]["level"] == "gold" and stored["深圳腾讯"]["level"] == "silver"
    assert stored["华为技术"]["since"] == "2021-03-05" and stored["深圳腾讯"]["since"] == "2020-01-02"
    assert stored["深圳腾讯"]["credit"] == "1200.50"


def test_headers_match_api_names_and_english_labels_and_a_mapping_overrides(client, h) -> None:
    preview = client.post("/api/v1/imports/preview", headers=h, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(_csv([
                              ["name", "Code", "LEVEL", "Customer since", "Unknown", "Rating"],
                              ["Acme", "AC", "Gold", "2022-01-01", "x", "A+"]]).encode()), "a.csv"),
                              "object": "account"})
    assert preview.status_code == 200, preview.json
    body = preview.json
    assert body["mapping"] == {"name": "name", "Code": "code", "LEVEL": "level",
                               "Customer since": "since", "Unknown": None, "Rating": "rating"}
    assert body["rows"] == [["Acme", "AC", "Gold", "2022-01-01", "x", "A+"]]
    assert {f["name"] for f in body["fields"]} >= {"name", "code", "level", "credit"}
    assert "contract_total" not in {f["name"] for f in body["fields"]}  # computed
    # the mapping sent is the whole mapping: "Rating" goes to notes instead, and the
    # unknown column stays out
    status = _run(client, h, _csv([["name", "Code", "Rating"], ["Acme", "AC", "A+"]]).encode(),
                  mapping={"name": "name", "Code": "code", "Rating": "notes"})
    assert status["status"] == "done", status
    acme = _accounts(client, h)["Acme"]
    assert acme["notes"] == "A+" and acme["rating"] is None


def test_xlsx_types_formulas_and_lookups_by_title_and_unique_field(client, h) -> None:
    for name, code in (("Acme", "A1"), ("Globex", "G1"), ("Globex", "G2")):
        assert client.post("/api/v1/records/account", headers=h,
                           json={"name": name, "code": code}).status_code == 201
    rows = [["Contract number", "Account", "Amount", "Signed at", "Sales rep"],
            ["C-1", "Acme", 1200.5, dt.datetime(2024, 3, 5, 14, 30), "admin"],
            ["C-2", "Globex", 99, dt.datetime(2024, 3, 6), "admin"],  # two Globex: ambiguous
            ["C-3", "Acme", "=1+1", "2024-03-07 09:15", "admin"],  # formula, no cached value
            ["C-4", "Acme", "=B5*2", "2024-03-08", "nobody"],  # cached value; unknown user
            ["C-5", "Initech", 5, "2024-03-09", "admin"]]  # no such account
    content = _xlsx(rows, cached={"C5": "84"})
    status = _run(client, h, content, "contracts.xlsx", object="contract", all_or_none=False)
    assert status["status"] == "done", status
    assert (status["created"], status["failed"]) == (1, 4)
    errors = {(e["row"], e["field"]): e["message"] for e in status["errors"]}
    assert "matches 2 account records" in errors[(3, "account")]
    assert "formula" in errors[(4, "amount")] and "without a computed value" in errors[(4, "amount")]
    assert errors[(5, "owner_user")] == "no user named 'nobody'"
    assert (5, "amount") not in errors  # the cached value 84 was read, not computed
    assert errors[(6, "account")] == "no account record titled 'Initech'"
    contracts = client.get("/api/v1/records/contract", headers=h).json["items"]
    assert [(c["number"], c["amount"], c["signed"]) for c in contracts] == \
        [("C-1", "1200.50", "2024-03-05T14:30:00.000Z")]
    acme = _accounts(client, h)["Acme"]
    assert contracts[0]["account"] == acme["id"] and acme["contract_total"] == "1200.50"  # roll-up
    # by a unique field of the parent: the two Globex apart
    status = _run(client, h, _csv([["Contract number", "Account code", "Amount"],
                                   ["C-2", "G2", "99"], ["C-6", "G1", "1"]]).encode(),
                  object="contract", mapping={"Contract number": "number",
                                              "Account code": "account.code", "Amount": "amount"})
    assert status["status"] == "done" and status["created"] == 2, status
    globex = {a["code"]: a for a in client.get("/api/v1/records/account", headers=h).json["items"]}
    assert globex["G2"]["contract_total"] == "99.00" and globex["G1"]["contract_total"] == "1.00"


def test_dates_in_several_formats_and_an_ambiguous_one(client, h) -> None:
    rows = [["name", "since"], ["a", "2024-03-05"], ["b", "2024/3/5"], ["c", "2024.3.5"],
            ["d", "20240305"], ["e", "2024年3月5日"], ["f", "5 Mar 2024"],
            ["g", "March 5, 2024"], ["h", "25/03/2024"], ["i", "03/25/2024"],
            ["j", "2024-03-05 00:00:00"], ["k", "05/03/2024"], ["l", "2024-02-30"],
            ["m", "soon"], ["n", "2024-03-05 14:00"]]
    status = _run(client, h, _csv(rows).encode(), all_or_none=False)
    errors = {e["row"]: e["message"] for e in status["errors"]}
    assert set(errors) == {12, 13, 14, 15}, errors
    assert "day or month first" in errors[12]
    assert errors[13] == "'2024-02-30' is not a date" and errors[14] == "'soon' is not a date"
    assert "is a date and time" in errors[15]
    stored = _accounts(client, h)
    assert {stored[n]["since"] for n in "abcdefgj"} == {"2024-03-05"}
    assert stored["h"]["since"] == stored["i"]["since"] == "2024-03-25"
    status = _run(client, h, _csv([["name", "since"], ["k", "05/03/2024"]]).encode(),
                  date_order="dmy")
    assert status["status"] == "done" and _accounts(client, h)["k"]["since"] == "2024-03-05"


def test_create_update_upsert_and_duplicate_keys_in_one_file(client, h) -> None:
    status = _run(client, h, _csv([["name", "code", "employees"], ["Acme", "A", "10"],
                                   ["Beta", "B", "1,200"]]).encode())
    assert status["created"] == 2
    before = _accounts(client, h)
    # update only: by code; a code nobody has is refused on its row, the rest land
    status = _run(client, h, _csv([["code", "employees", "name"], ["A", "11", "Acme Ltd"],
                                   ["Z", "5", "Zed"]]).encode(), mode="update", key="code",
                  all_or_none=False)
    assert (status["created"], status["updated"], status["failed"]) == (0, 1, 1)
    assert status["errors"] == [{"row": 3, "field": "code",
                                 "message": "no account record with code 'Z'"}]
    stored = _accounts(client, h)
    assert stored["Acme Ltd"]["employees"] == 11 and stored["Acme Ltd"]["id"] == before["Acme"]["id"]
    assert stored["Acme Ltd"]["version"] == 2
    # upsert: B is updated, C created; C twice in the file: the later row is refused
    status = _run(client, h, _csv([["code", "name", "employees"], ["B", "Beta", "7"],
                                   ["C", "Gamma", "1"], ["C", "Gamma again", "2"]]).encode(),
                  mode="upsert", key="code", all_or_none=False)
    assert (status["created"], status["updated"], status["failed"]) == (1, 1, 1), status
    assert status["errors"] == [{"row": 4, "field": "code",
                                 "message": "the value is also in row 3 of the file"}]
    stored = _accounts(client, h)
    assert stored["Beta"]["employees"] == 7 and stored["Gamma"]["employees"] == 1
    assert "Gamma again" not in stored
    # update by id (what an export gives back), and the key must be a unique field
    rid = stored["Beta"]["id"]
    status = _run(client, h, _csv([["ID", "employees"], [rid, "8"]]).encode(), mode="update",
                  key="id")
    assert status["updated"] == 1 and _accounts(client, h)["Beta"]["employees"] == 8
    r = _start(client, h, b"name\nx\n", mode="upsert", key="name")
    assert r.status_code == 422 and "key" in error_of(r)["fields"]
    r = _start(client, h, b"name\nx\n", mode="upsert")
    assert r.status_code == 400 and "key" in error_of(r)["fields"]


def test_dry_run_checks_every_row_and_changes_nothing(client, h) -> None:
    content = _csv([["name", "code", "credit"], ["Acme", "A", "10"], ["Beta", "B", "2000000"],
                    ["Gamma", "G", "5"]]).encode()
    status = _run(client, h, content, dry_run=True)
    assert status["status"] == "done" and status["dry_run"] is True
    assert (status["created"], status["failed"]) == (2, 1)  # what would happen
    assert status["errors"] == [{"row": 3, "field": "credit",
                                 "message": "credit is capped at 1,000,000"}]
    assert _accounts(client, h) == {}
    assert client.get(f"/api/v1/imports/{status['id']}/rows", headers=h).json["items"] == \
        [{"row": 3, "status": "failed", "id": None}]
    r = client.post(f"/api/v1/imports/{status['id']}/undo", headers=h)
    assert r.status_code == 409


def test_all_or_none_keeps_nothing_when_one_row_fails(client, h) -> None:
    rows = [["name", "code", "employees"]] + [[f"N{i}", f"C{i}", str(i)] for i in range(30)]
    rows[17][2] = "lots"  # row 18 of the file
    status = _run(client, h, _csv(rows).encode())
    assert status["status"] == "failed" and status["all_or_none"] is True
    assert (status["created"], status["failed"], status["rolled_back"]) == (0, 1, 29)
    assert status["errors"] == [{"row": 18, "field": "employees",
                                 "message": "'lots' is not a whole number"}]
    assert _accounts(client, h) == {}
    assert client.get(f"/api/v1/imports/{status['id']}/rows", headers=h).json["items"] == \
        [{"row": 18, "status": "failed", "id": None}]


def test_per_row_commits_report_exactly_which_rows_landed(client, h, monkeypatch) -> None:
    monkeypatch.setenv("CRMFORGE_IMPORT_CHUNK", "4")
    rows = [["name", "code"]] + [[f"N{i}", f"C{i}"] for i in range(10)]
    rows[3][1] = "C0"  # a duplicate of row 2 in the file
    rows[8][0] = ""  # name is required
    status = _run(client, h, _csv(rows).encode(), all_or_none=False)
    assert status["status"] == "done"
    assert (status["total"], status["processed"], status["created"], status["failed"]) == \
        (10, 10, 8, 2)
    listed = client.get(f"/api/v1/imports/{status['id']}/rows", headers=h).json["items"]
    assert [i["row"] for i in listed] == list(range(2, 12))
    failed = [i["row"] for i in listed if i["status"] == "failed"]
    assert failed == [4, 9]
    stored = _accounts(client, h)
    created = {i["row"]: i["id"] for i in listed if i["status"] == "created"}
    assert sorted(created.values()) == sorted(a["id"] for a in stored.values())
    assert {e["row"]: e["field"] for e in status["errors"]} == {4: "code", 9: "name"}
    page = client.get(f"/api/v1/imports/{status['id']}/rows?after=5&limit=3", headers=h).json
    assert [i["row"] for i in page["items"]] == [6, 7, 8] and page["next_after"] == 8


ROLE = {"name": "clerk", "permissions": {
    "account": {"operations": ["create", "read", "update", "import"], "scope": "own",
                "fields": {"secret": "hidden", "rating": "read"}},
    "contract": {"operations": ["create", "read"], "scope": "own"}}}


def _clerk(client: Any, h: dict[str, str]) -> dict[str, str]:
    assert client.post("/api/v1/admin/roles", headers=h, json=ROLE).status_code == 201
    assert client.post("/api/v1/admin/users", headers=h, json={
        "username": "clerk", "password": "Clerk-pass-2024!", "roles": ["clerk"]}).status_code == 201
    return sign_in(client, username="clerk", password="Clerk-pass-2024!")


def test_permissions_hold_for_imported_rows(client, h) -> None:
    clerk = _clerk(client, h)
    # a hidden or read-only field in the mapping is refused before anything is stored
    for mapping, message in (({"name": "name", "secret": "secret"},
                              "'secret' is not a field of account you may import into"),
                             ({"name": "name", "rating": "rating"}, "rating is read-only for you")):
        r = _start(client, clerk, b"name,secret,rating\nA,x,y\n", mapping=mapping)
        assert r.status_code == 422, r.json
        column = next(iter(set(mapping) - {"name"}))
        assert error_of(r)["fields"] == {column: [message]}
    # the default mapping leaves out what the clerk may not edit
    preview = client.post("/api/v1/imports/preview", headers=clerk, data={
        "file": (io.BytesIO(b"name,secret,rating\nA,x,y\n"), "a.csv"), "object": "account"},
        content_type="multipart/form-data").json
    assert preview["mapping"] == {"name": "name", "secret": None, "rating": None}
    assert {"secret", "rating"}.isdisjoint({f["name"] for f in preview["fields"]})
    # no import permission on contract: 403, nothing stored
    r = _start(client, clerk, b"Contract number\nX\n", object_name="contract")
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    assert client.get("/api/v1/imports", headers=clerk).json["items"] == []
    # the rows are the clerk's: owner and history say so; a lookup finds only what the
    # clerk may see (the admin's account is out of the clerk's scope)
    assert client.post("/api/v1/records/account", headers=h, json={"name": "Hidden Co"}).status_code == 201
    status = _run(client, clerk, b"name,code\nMine,M1\n")
    assert status["created"] == 1 and status["created_by"] == "clerk"
    mine = _accounts(client, clerk)["Mine"]
    history = client.get(f"/api/v1/records/account/{mine['id']}/history", headers=clerk).json["items"]
    assert {e["by"] for e in history} == {"clerk"} and {e["action"] for e in history} == {"create"}
    # the admin sees the clerk's import; the clerk does not see the admin's
    assert client.get(f"/api/v1/imports/{status['id']}", headers=h).status_code == 200
    admin_import = _run(client, h, b"name\nAdmin Co\n")
    assert client.get(f"/api/v1/imports/{admin_import['id']}", headers=clerk).status_code == 404


def test_validation_rule_messages_per_row_in_chinese_and_english(client, h) -> None:
    content = _csv([["name", "credit", "employees"], ["A", "2000000", "1"],
                    ["B", "5", "x"], ["", "1", "1"], ["D", "1", "1"],
                    ["", "3000000", "y"]]).encode()
    zh = _run(client, h, content, lang="zh", all_or_none=False)
    by_row = {(e["row"], e["field"]): e["message"] for e in zh["errors"]}
    # every problem of a row at once: an unreadable cell, and what the record service
    # says of the others (row 6)
    assert by_row == {(2, "credit"): "信用额度不能超过一百万", (3, "employees"): "“x”不是整数",
                      (4, "name"): "必填", (6, "employees"): "“y”不是整数", (6, "name"): "必填",
                      (6, "credit"): "信用额度不能超过一百万"}
    en = _run(client, h, content.replace(b"D,1", b"E,1"), lang="en", all_or_none=False)
    by_row = {(e["row"], e["field"]): e["message"] for e in en["errors"]}
    assert by_row == {(2, "credit"): "credit is capped at 1,000,000",
                      (3, "employees"): "'x' is not a whole number", (4, "name"): "is required",
                      (6, "employees"): "'y' is not a whole number", (6, "name"): "is required",
                      (6, "credit"): "credit is capped at 1,000,000"}
    # the same import read in the other language: the service's own messages follow the
    # reader, a rule's message is in the language the import ran in
    again = client.get(f"/api/v1/imports/{zh['id']}?lang=en", headers=h).json
    assert {(e["row"], e["field"]): e["message"] for e in again["errors"]}[(3, "employees")] == \
        "'x' is not a whole number"


def _encrypted_xlsx() -> bytes:
    msoffcrypto = pytest.importorskip("msoffcrypto")
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(_xlsx([["name"], ["A"]]))).encrypt("Secret-1", out)
    assert out.getvalue().startswith(b"\xd0\xcf\x11\xe0")  # an OLE compound file
    assert msoffcrypto  # used
    return out.getvalue()


@pytest.mark.parametrize("content,name,fields,status,message", [
    (b"PK\x03\x04broken archive", "a.xlsx", {}, 422, "damaged"),
    (None, "locked.xlsx", {}, 422, "password-protected"),
    ("name\nCafé,x\n".encode("latin-1") + b"\xff\xfe\x80", "a.csv", {}, 422,
     "not UTF-8 or GB18030"),
    ("客户名称\n华为\n".encode("gbk"), "a.csv", {"encoding": "utf-8"}, 422,
     "not valid utf-8 text"),
    (b"", "empty.csv", {}, 422, "empty"),
    (b"\x00\x01\x02binary", "a.bin", {}, 422, "neither a CSV"),
    (b"name\nA\n", "a.csv", {"mode": "merge"}, 400, "mode"),
    (b"name\nA\n", "a.csv", {"mapping": "{not json"}, 400, "mapping"),
    (b"name\nA\n", "a.csv", {"object": "nothing"}, 404, "no object"),
])
def test_bad_files_are_refused_clearly_and_nothing_is_stored(client, h, content, name, fields,
                                                             status, message) -> None:
    if content is None:
        content = _encrypted_xlsx()
    fields = dict(fields)
    object_name = fields.pop("object", "account")
    data: dict[str, Any] = {"file": (io.BytesIO(content), name), "object": object_name, **fields}
    r = client.post("/api/v1/imports", headers=h, data=data, content_type="multipart/form-data")
    assert r.status_code == status, r.json
    assert message in error_of(r)["message"]
    assert client.get("/api/v1/imports", headers=h).json["items"] == []


def test_too_big_a_file_is_refused_before_it_is_read(client, h, monkeypatch) -> None:
    monkeypatch.setenv("CRMFORGE_IMPORT_MAX_BYTES", str(64 * 1024))
    r = _start(client, h, b"name\n" + b"x" * 70_000 + b"\n")
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"

    class Endless(io.RawIOBase):
        """A 200 MB body that fails the test if more than 1 MB of it is read."""

        size = 200 * 1024 * 1024
        read_bytes = 0
        position = 0

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def tell(self) -> int:
            return self.position

        def seek(self, offset: int, whence: int = 0) -> int:
            self.position = self.size if whence == 2 else offset
            return self.position

        def readinto(self, buffer: Any) -> int:
            Endless.read_bytes += len(buffer)
            assert Endless.read_bytes < 1024 * 1024, "the body was read"
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    monkeypatch.setenv("CRMFORGE_IMPORT_MAX_BYTES", str(50 * 1024 * 1024))
    r = client.post("/api/v1/imports", headers=h, input_stream=Endless(),
                    content_type="multipart/form-data; boundary=b")
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"
    assert Endless.read_bytes == 0


def test_the_error_file_holds_the_failing_rows_with_an_error_column(client, h) -> None:
    rows = [["name", "code", "employees", "notes"], ["Good", "G", "1", "fine"],
            ["=HYPERLINK(\"http://x\")", "G", "-5", "@SUM(1)"], ["Bad", "B", "many", "+1"]]
    status = _run(client, h, _csv(rows).encode(), all_or_none=False)
    assert (status["created"], status["failed"]) == (1, 2)
    r = client.get(f"/api/v1/imports/{status['id']}/errors?format=csv", headers=h)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.data.startswith(codecs.BOM_UTF8)
    import csv

    lines = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert lines[0] == ["name", "code", "employees", "notes", "Row", "Errors"]
    assert lines[1] == ["'=HYPERLINK(\"http://x\")", "G", "-5", "'@SUM(1)", "3",
                        "code: the value is also in row 2 of the file"]
    assert lines[2] == ["Bad", "B", "many", "+1", "4", "employees: 'many' is not a whole number"]
    # the formula-like text was stored as text in the first place (a CSV cell is data)
    r = client.get(f"/api/v1/imports/{status['id']}/errors", headers={**h, "Accept-Language": "zh"})
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["name", "code", "employees", "notes", "行号", "错误"]
    assert values[1][:4] == ["=HYPERLINK(\"http://x\")", "G", "-5", "@SUM(1)"]
    assert sheet.cell(2, 1).data_type == "s"  # text, not a formula
    assert values[2][4:] == [4, "employees: “many”不是整数"]
    # the error file fixed and imported again: the added columns map to nothing
    fixed = [lines[0], ["Third", "T", "3", "", "4", "whatever"]]
    again = _run(client, h, _csv(fixed).encode())
    assert again["status"] == "done" and _accounts(client, h)["Third"]["employees"] == 3
    csv_text = _run(client, h, _csv([["name", "notes"], ["Formula", "=1+1"],
                                     ["Quoted", "'=2+2"]]).encode())
    assert csv_text["status"] == "done"
    stored = _accounts(client, h)
    assert stored["Formula"]["notes"] == "=1+1" and stored["Quoted"]["notes"] == "=2+2"


def test_undo_moves_the_created_records_to_the_recycle_bin(client, h) -> None:
    assert client.post("/api/v1/records/account", headers=h,
                       json={"name": "Old", "code": "O"}).status_code == 201
    status = _run(client, h, _csv([["code", "name"], ["O", "Old renamed"], ["N1", "New 1"],
                                   ["N2", "New 2"]]).encode(), mode="upsert", key="code")
    assert (status["created"], status["updated"]) == (2, 1)
    r = client.post(f"/api/v1/imports/{status['id']}/undo", headers=h)
    assert r.status_code == 202 and r.json["undo"]["job"]
    assert jobs.wait_local(60)
    after = client.get(f"/api/v1/imports/{status['id']}", headers=h).json
    assert after["undo"]["status"] == "done" and after["undo"]["deleted"] == 2
    assert set(_accounts(client, h)) == {"Old renamed"}  # updated records stay
    binned = client.get("/api/v1/recycle-bin", headers=h).json["items"]
    assert sorted(e["title"] for e in binned) == ["New 1", "New 2"]
    assert client.post(f"/api/v1/imports/{status['id']}/undo", headers=h).status_code == 409
    # restored from the bin like any deleted record
    rid = next(e["id"] for e in binned if e["title"] == "New 1")
    assert client.post(f"/api/v1/records/account/{rid}/restore", headers=h).status_code == 200


def test_cancel_of_a_queued_import(client, h, instance) -> None:
    instance.set_dispatcher(lambda tenant, job_id: None)  # nobody runs it
    try:
        r = _start(client, h, b"name\nA\n")
        assert r.status_code == 202
        cancelled = client.post(f"/api/v1/imports/{r.json['id']}/cancel", headers=h)
        assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    finally:
        instance.set_dispatcher(None)
    assert _accounts(client, h) == {}


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_an_import_survives_a_restart(tmp_path, backend, instance, request, queue) -> None:
    """The job is stored with its file: after the instance is closed and opened again (a
    restart), a worker on the queue picks it up and runs it."""
    url = request.getfixturevalue("redis_url") if queue == "redis" else None
    tasks.install(instance, url)  # queued and indexed, but no consumer runs
    tenant = instance.tenant("default")
    client = create_app(instance, {"TESTING": True}).test_client()
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", headers=admin, json=ACCOUNT).status_code == 201
    content = _csv([["name", "code"]] + [[f"N{i}", f"C{i}"] for i in range(25)]).encode()
    r = _start(client, admin, content)
    assert r.status_code == 202
    iid = r.json["id"]
    assert jobs.JobStore(tenant).get(iid).status == jobs.QUEUED
    path = instance.path
    instance.dispose()
    reopened = Instance.open(path)
    try:
        queue_ = tasks.install(reopened, url)
        worker = tasks.Worker(queue_, periodic=True)
        worker.start()
        try:
            service = ImportService(reopened.tenant("default"))
            with reopened.tenant("default").read() as conn:
                admin_p = principal_of(conn, "admin")
            deadline = dt.datetime.now() + dt.timedelta(seconds=60)
            while service.status(admin_p, iid)["status"] in ("queued", "running"):
                assert dt.datetime.now() < deadline, "the import was not picked up"
                import time

                time.sleep(0.1)
        finally:
            worker.stop()
        done = service.status(admin_p, iid)
        assert done["status"] == "done" and done["created"] == 25
    finally:
        reopened.set_dispatcher(None)
        reopened.dispose()


def test_a_per_row_import_resumes_after_its_chunks_without_duplicates(tenant, monkeypatch) -> None:
    """A run that dies between chunks (here: after its third chunk) leaves its committed
    chunks recorded; the retry resumes after them, so no row lands twice."""
    from crmforge.runtime import Designer
    from crmforge.runtime.imports import run as import_run
    from crmforge.security import SYSTEM

    monkeypatch.setenv("CRMFORGE_IMPORT_CHUNK", "10")
    Designer(tenant).create_object(SYSTEM, {"name": "item", "fields": [
        {"name": "code", "type": "text", "unique": True, "required": True}]})
    with tenant.read() as conn:
        admin_p = principal_of(conn, "admin")
    service = ImportService(tenant)
    tenant.dispatch = lambda t, j: None  # run by hand below
    content = _csv([["code"]] + [[f"I{i}"] for i in range(55)]).encode()
    submitted = service.submit(admin_p, "item", io.BytesIO(content), "items.csv", len(content),
                               Options(all_or_none=False), "en")
    iid = submitted["id"]
    calls = {"n": 0}
    real_chunk = import_run.Importer.chunk

    def dying(self: Any, conn: Any, rows: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("the worker died")
        return real_chunk(self, conn, rows)

    monkeypatch.setattr(import_run.Importer, "chunk", dying)
    from crmforge.runtime import job_kinds

    with pytest.raises(RuntimeError):
        jobs.run(tenant, iid, job_kinds.HANDLERS)
    half = service.status(admin_p, iid)
    assert half["status"] == "queued" and half["created"] == 30  # three chunks landed
    done_job = jobs.run(tenant, iid, job_kinds.HANDLERS)
    assert done_job is not None and done_job.status == jobs.DONE and done_job.attempts == 2
    done = service.status(admin_p, iid)
    assert (done["status"], done["created"], done["failed"], done["processed"]) == \
        ("done", 55, 0, 55)
    rows = service.rows(admin_p, iid, 0, 100)["items"]
    assert [r["row"] for r in rows] == list(range(2, 57))
    assert len({r["id"] for r in rows}) == 55
    tenant.dispatch = None


def _item_import(tenant: Any, monkeypatch: Any, rows: int, chunk: int, **options: Any
                 ) -> tuple[ImportService, Any, int]:
    from crmforge.runtime import Designer
    from crmforge.security import SYSTEM

    monkeypatch.setenv("CRMFORGE_IMPORT_CHUNK", str(chunk))
    Designer(tenant).create_object(SYSTEM, {"name": "item", "fields": [
        {"name": "code", "type": "text", "unique": True, "required": True}]})
    with tenant.read() as conn:
        admin_p = principal_of(conn, "admin")
    service = ImportService(tenant)
    tenant.dispatch = lambda t, j: None  # run by hand
    content = _csv([["code"]] + [[f"I{i}"] for i in range(rows)]).encode()
    submitted = service.submit(admin_p, "item", io.BytesIO(content), "items.csv", len(content),
                               Options(**options), "en")
    return service, admin_p, int(submitted["id"])


def test_a_cancel_between_chunks_keeps_exactly_what_landed(tenant, monkeypatch) -> None:
    from crmforge.runtime import job_kinds
    from crmforge.runtime.imports import run as import_run

    service, admin_p, iid = _item_import(tenant, monkeypatch, 30, 5, all_or_none=False)
    calls = {"n": 0}
    real_chunk = import_run.Importer.chunk

    def cancelling(self: Any, conn: Any, rows: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the user cancels while the third chunk is written
            service.cancel(admin_p, iid)
        return real_chunk(self, conn, rows)

    monkeypatch.setattr(import_run.Importer, "chunk", cancelling)
    job = jobs.run(tenant, iid, job_kinds.HANDLERS)
    assert job is not None and job.status == jobs.CANCELLED
    status = service.status(admin_p, iid)
    assert (status["status"], status["created"], status["processed"]) == ("cancelled", 15, 15)
    landed = service.rows(admin_p, iid, 0, 100)["items"]
    assert [r["row"] for r in landed] == list(range(2, 17))  # the chunks that committed
    tenant.dispatch = None


def test_an_all_or_none_run_reports_progress_while_it_runs(tenant, backend, monkeypatch) -> None:
    """On PostgreSQL the progress of the one long transaction is visible from outside as
    chunks pass; on SQLite (one writer) it shows when the run ends. Either way the final
    report is exact."""
    from crmforge.runtime import job_kinds
    from crmforge.runtime.imports import run as import_run

    service, admin_p, iid = _item_import(tenant, monkeypatch, 20, 5)
    seen: list[int] = []
    real_chunk = import_run.Importer.chunk

    def watching(self: Any, conn: Any, rows: Any) -> Any:
        if backend == "postgresql":
            with tenant.engine.connect() as other, other.begin():  # outside the run
                seen.append(int(other.execute(sa.select(jobs.job_rows.c.processed).where(
                    jobs.job_rows.c.id == iid)).scalar_one()))
        return real_chunk(self, conn, rows)

    monkeypatch.setattr(import_run.Importer, "chunk", watching)
    job = jobs.run(tenant, iid, job_kinds.HANDLERS)
    assert job is not None and job.status == jobs.DONE
    if backend == "postgresql":
        assert seen == [0, 5, 10, 15]
    status = service.status(admin_p, iid)
    assert (status["status"], status["total"], status["processed"], status["created"]) == \
        ("done", 20, 20, 20)
    tenant.dispatch = None
