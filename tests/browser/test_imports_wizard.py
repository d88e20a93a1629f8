"""The import wizard in Chromium, in English and in Chinese: upload a small CSV, change
one column's mapping, run, watch it finish and read the per-row result; the records are
what the file said, mapped as chosen."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

ADMIN_PASSWORD = "Admin-pass-123"


def _customer(name: str) -> dict[str, Any]:
    return {"name": name, "label": {"zh": "客户" + name[-2:], "en": "Customer " + name[-2:]},
            "fields": [
                {"name": "title", "type": "text", "required": True,
                 "label": {"zh": "名称", "en": "Name"}},
                {"name": "level", "type": "picklist", "label": {"zh": "等级", "en": "Level"},
                 "choices": [{"value": "gold", "label": {"zh": "金牌", "en": "Gold"}},
                             {"value": "silver", "label": {"zh": "银牌", "en": "Silver"}}]},
                {"name": "employees", "type": "integer", "label": {"zh": "员工数", "en": "Employees"}},
                {"name": "note", "type": "text", "label": {"zh": "备注", "en": "Note"}}]}


@pytest.fixture(scope="module")
def world(server: Server) -> Server:
    server.sign_in_api()
    for name in ("cust_en", "cust_zh"):
        status, body = server.api("POST", "/api/v1/meta/objects", _customer(name))
        assert status == 201, body
    return server


def _records(server: Server, name: str) -> dict[str, dict[str, Any]]:
    status, body = server.api("GET", f"/api/v1/records/{name}?limit=50")
    assert status == 200, body
    return {r["title"]: r for r in body["items"]}


def test_the_wizard_in_english(world: Server, browser: Any) -> None:
    context, page, dialogs = sign_in_page(browser, world, "admin", ADMIN_PASSWORD, "/imports")
    csv = "Name,Level,Employees,Remark\nAcme,Gold,10,vip\nBeta,Silver,many,x\nGamma,silver,5,y\n"
    page.get_by_label("Import into").select_option(label="Customer en")
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": csv.encode()})
    page.get_by_role("button", name="Next: map the columns").click()
    remark = page.get_by_label("Remark", exact=True)
    expect(remark).to_have_value("")  # no field is called Remark: not imported
    expect(page.get_by_label("Level", exact=True)).to_have_value("level")
    remark.select_option(value="note")  # the one change: Remark goes to Note
    page.get_by_label("All or none: import nothing if any row fails").uncheck()
    page.get_by_role("button", name="Start the import").click()
    expect(page.locator("#import-state")).to_have_text("Finished.")
    expect(page.locator("[data-count=created]")).to_have_text("2")
    expect(page.locator("[data-count=failed]")).to_have_text("1")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("'many' is not a whole number")
    expect(page.locator("#import-errors-csv")).to_be_visible()
    expect(page.get_by_role("button", name="Undo this import")).to_be_visible()
    shot(page, "imports-en")
    stored = _records(world, "cust_en")
    assert set(stored) == {"Acme", "Gamma"}
    assert (stored["Acme"]["note"], stored["Acme"]["level"], stored["Gamma"]["level"]) == \
        ("vip", "gold", "silver")
    # undo: asked on the page, then the two new records go to the recycle bin
    page.get_by_role("button", name="Undo this import").click()
    expect(page.locator("#import-undo-question")).to_have_text(
        "Move the 2 records this import created to the recycle bin?")
    page.get_by_role("button", name="Move them to the recycle bin").click()
    expect(page.locator("#import-undo-state")).to_have_text(
        "Undone: 2 records moved to the recycle bin.")
    expect(page.get_by_role("button", name="Undo this import")).to_be_hidden()
    assert _records(world, "cust_en") == {}
    # a workbook whose data is on its second sheet: choosing the sheet maps its columns
    page.goto(world.url + "/imports")
    expect(page.get_by_role("cell", name="customers.csv")).to_be_visible()
    page.get_by_label("Import into").select_option(label="Customer en")
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        {"name": "book.xlsx", "mimeType": XLSX, "buffer": _two_sheets()})
    page.get_by_role("button", name="Next: map the columns").click()
    expect(page.get_by_label("Notes", exact=True)).to_have_value("")  # the cover sheet
    page.get_by_label("Sheet").select_option("Customers")
    expect(page.get_by_label("Name", exact=True)).to_have_value("title")
    page.get_by_role("button", name="Start the import").click()
    expect(page.locator("#import-state")).to_have_text("Finished.")
    assert set(_records(world, "cust_en")) == {"Initech"}
    assert dialogs == []
    context.close()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _two_sheets() -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    cover = book.active
    cover.title = "Cover"
    cover.append(["Notes"])
    cover.append(["exported for the CRM"])
    data = book.create_sheet("Customers")
    data.append(["Name", "Employees"])
    data.append(["Initech", 12])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_wizard_in_chinese(world: Server, browser: Any) -> None:
    context, page, dialogs = sign_in_page(browser, world, "admin", ADMIN_PASSWORD, "/imports")
    page.goto(world.url + "/imports?lang=zh")  # remembered from here on
    expect(page.get_by_role("heading", name="导入数据")).to_be_visible()
    csv = "名称,等级,员工数,说明\n华为,金牌,10,重点\n腾讯,银牌,很多,一般\n"
    page.get_by_label("导入到").select_option(label="客户zh")
    page.get_by_label("文件（CSV 或 XLSX）").set_input_files(
        {"name": "客户.csv", "mimeType": "text/csv", "buffer": csv.encode("gbk")})
    page.get_by_role("button", name="下一步：映射列").click()
    note = page.get_by_label("说明", exact=True)
    expect(note).to_have_value("")
    note.select_option(value="note")
    page.get_by_role("button", name="开始导入").click()  # all or none (the default)
    expect(page.locator("#import-state")).to_have_text("没有导入任何数据。")
    expect(page.locator("[data-count=failed]")).to_have_text("1")
    expect(page.locator("#import-errors tbody tr").first).to_contain_text("“很多”不是整数")
    expect(page.locator("#import-errors tbody tr").first).to_contain_text("员工数")
    expect(page.get_by_role("button", name="撤销此次导入")).to_be_hidden()  # nothing to undo
    expect(page.locator("#import-errors-xlsx")).to_be_visible()
    shot(page, "imports-zh")
    assert _records(world, "cust_zh") == {}
    # the same file with the row fixed lands whole, with the chosen mapping
    page.goto(world.url + "/imports")
    page.get_by_label("导入到").select_option(label="客户zh")
    page.get_by_label("文件（CSV 或 XLSX）").set_input_files(
        {"name": "客户.csv", "mimeType": "text/csv",
         "buffer": csv.replace("很多", "20").encode("gbk")})
    page.get_by_role("button", name="下一步：映射列").click()
    page.get_by_label("说明", exact=True).select_option(value="note")
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("#import-state")).to_have_text("已完成。")
    expect(page.locator("[data-count=created]")).to_have_text("2")
    expect(page.locator("#import-errors-xlsx")).to_be_hidden()  # no errors, no error file
    stored = _records(world, "cust_zh")
    assert stored["腾讯"]["employees"] == 20 and stored["华为"]["note"] == "重点"
    assert dialogs == []
    context.close()


def test_the_first_step_waits_for_its_script(world: Server, browser: Any) -> None:
    """Until the wizard's script listens, "Next" is disabled: a click sent natively would
    put the file's name in the address and upload nothing."""
    context, page, _ = sign_in_page(browser, world, "admin", ADMIN_PASSWORD, "/recycle-bin")
    held: list[Any] = []
    page.route("**/static/imports.js", lambda route: held.append(route))
    page.goto(world.url + "/imports", wait_until="commit")
    next_step = page.get_by_role("button", name="Next: map the columns")
    expect(next_step).to_be_disabled()
    assert len(held) == 1
    held[0].continue_()
    expect(next_step).to_be_enabled()
    context.close()
