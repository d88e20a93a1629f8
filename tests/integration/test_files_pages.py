"""Files on the record page, as a browser session posts them (CSRF-protected multipart
forms): the Attachments list with thumbnails and remove buttons, uploads (several at
once), a file field's link and upload control, refusals shown on the page in its
language, removed files in the recycle bin page, and what a reader without edit rights
sees."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web import create_app

from .conftest import ADMIN_PASSWORD, csrf_token
from .files_cases import MAX_BYTES, PDF, World, png


@pytest.fixture
def world(instance: Instance) -> World:
    return World.make(instance)


def _session(instance: Instance, username: str = "admin", password: str = ADMIN_PASSWORD
             ) -> FlaskClient:
    c = create_app(instance, {"TESTING": True, "CRMFORGE_FILES_MAX_BYTES": MAX_BYTES}) \
        .test_client()
    r = c.post("/login", data={"username": username, "password": password,
                               "csrf_token": csrf_token(c.get("/login").text)})
    assert r.status_code == 303, r.text
    return c


def _post_files(c: FlaskClient, path: str, page: str, files: list[tuple[bytes, str]],
                **fields: str) -> object:
    return c.post(path, data={"csrf_token": csrf_token(page), **fields,
                              "file": [(io.BytesIO(d), n) for d, n in files]},
                  content_type="multipart/form-data")


def test_attachments_on_the_record_page(world: World, instance: Instance) -> None:
    rid = world.deal()["id"]
    c = _session(instance)
    page = c.get(f"/records/deal/{rid}?lang=zh").text
    assert 'id="attachments"' in page and "附件" in page and "还没有附件。" in page
    assert "data-dropzone" in page and 'type="file"' in page and "files.js" in page
    r = _post_files(c, f"/records/deal/{rid}/attachments", page,
                    [(png(), "照片.png"), (b"meeting notes", "notes.txt")])
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/records/deal/{rid}#attachments")
    page = c.get(f"/records/deal/{rid}?lang=zh").text
    assert "已添加 2 个附件。" in page
    assert "照片.png" in page and "notes.txt" in page
    items = world.get(f"/api/v1/records/deal/{rid}/attachments").json["items"]
    photo, notes = items
    assert f'src="/api/v1/records/deal/{rid}/attachments/{photo["id"]}?preview=1"' in page
    assert f'/attachments/{notes["id"]}?preview=1' not in page  # no thumbnail for text
    assert "添加了附件" in page  # history, in Chinese
    # The page's session downloads through the API (cookie, no token).
    got = c.get(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}?download=1")
    assert got.status_code == 200 and got.data == b"meeting notes"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    # Remove, then restore from the recycle bin page.
    asked = c.post(f"/records/deal/{rid}/attachments/{notes['id']}/remove?lang=zh",
                   data={"csrf_token": csrf_token(page)})  # asked first, in the language
    assert asked.status_code == 200 and "移除附件 notes.txt？" in asked.text
    assert "notes.txt</a>" in c.get(f"/records/deal/{rid}").text  # still there
    r = c.post(f"/records/deal/{rid}/attachments/{notes['id']}/remove",
               data={"csrf_token": csrf_token(page), "confirmed": "1"})
    assert r.status_code == 303
    page = c.get(f"/records/deal/{rid}?lang=en").text
    assert "附件已移入回收站。" in page and "notes.txt</a>" not in page  # flashed in zh
    assert "removed the attachment" in page
    bin_page = c.get("/recycle-bin?lang=zh").text
    assert "已移除的文件" in bin_page and "notes.txt" in bin_page
    r = c.post(f"/recycle-bin/deal/{rid}/files/{notes['id']}/restore",
               data={"csrf_token": csrf_token(bin_page)})
    assert r.status_code == 303
    assert "notes.txt" in c.get(f"/records/deal/{rid}").text
    assert "notes.txt" not in c.get("/recycle-bin").text


def test_refusals_are_shown_on_the_page(world: World, instance: Instance) -> None:
    rid = world.deal()["id"]
    c = _session(instance)
    page = c.get(f"/records/deal/{rid}?lang=zh").text
    before = world.keys()
    r = _post_files(c, f"/records/deal/{rid}/attachments", page,
                    [(b"MZ\x90\x00" + b"\x00" * 300, "setup.exe")])
    assert r.status_code == 303
    assert "不接受程序和脚本（请打包为 zip 文件）" in c.get(f"/records/deal/{rid}?lang=zh").text
    r = _post_files(c, f"/records/deal/{rid}/attachments", page, [(b"x" * (MAX_BYTES + 1),
                                                                   "big.txt")])
    assert r.status_code == 303
    assert "文件超过了 195 KB 的大小上限" in c.get(f"/records/deal/{rid}?lang=zh").text
    # A body far beyond the limit is refused before it is read: an error page, not JSON.
    r = _post_files(c, f"/records/deal/{rid}/attachments?lang=zh", page,
                    [(b"x" * (MAX_BYTES + 600_000), "huge.txt")])
    assert r.status_code == 413 and "text/html" in r.headers["Content-Type"]
    assert "文件超过了 195 KB 的大小上限" in r.text
    r = c.post(f"/records/deal/{rid}/attachments", data={"csrf_token": csrf_token(page)},
               content_type="multipart/form-data")
    assert r.status_code == 303
    assert "请选择要上传的文件。" in c.get(f"/records/deal/{rid}?lang=zh").text
    assert world.keys() == before
    # Without the CSRF token nothing is accepted.
    r = c.post(f"/records/deal/{rid}/attachments", data={"file": (io.BytesIO(b"x"), "a.txt")},
               content_type="multipart/form-data")
    assert r.status_code == 403


def test_a_file_field_on_the_form(world: World, instance: Instance) -> None:
    rid = world.deal()["id"]
    c = _session(instance)
    page = c.get(f"/records/deal/{rid}?lang=en").text
    assert 'id="file-form-contract"' in page and 'form="file-form-contract"' in page
    assert 'accept="image/*"' in page  # the photo field's accept option
    assert "No file" in page
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    r = _post_files(c, f"/records/deal/{rid}/files/contract", page, [(PDF, "合同.pdf")],
                    version=version.group(1))
    assert r.status_code == 303
    page = c.get(f"/records/deal/{rid}?lang=zh").text
    assert f'href="/api/v1/records/deal/{rid}/files/contract"' in page and "合同.pdf" in page
    assert c.get(f"/api/v1/records/deal/{rid}/files/contract").data == PDF
    # A stale page is refused, nothing is overwritten.
    r = _post_files(c, f"/records/deal/{rid}/files/contract", page, [(b"other", "o.txt")],
                    version=version.group(1))
    assert r.status_code == 303
    assert c.get(f"/api/v1/records/deal/{rid}/files/contract").data == PDF
    # The field's own limits, under its label.
    r = _post_files(c, f"/records/deal/{rid}/files/photo", page, [(PDF, "a.pdf")],
                    version=str(world.get(f"/api/v1/records/deal/{rid}").json["version"]))
    assert "photo: 此处不接受 application/pdf 类型的文件" in c.get(
        f"/records/deal/{rid}?lang=zh").text
    # Clear it.
    record = world.get(f"/api/v1/records/deal/{rid}").json
    form = {"csrf_token": csrf_token(page), "clear": "1", "version": str(record["version"])}
    asked = c.post(f"/records/deal/{rid}/files/contract", data=form,
                   content_type="multipart/form-data")
    assert asked.status_code == 200 and 'name="confirmed" value="1"' in asked.text
    assert world.get(f"/api/v1/records/deal/{rid}").json["contract"] is not None
    r = c.post(f"/records/deal/{rid}/files/contract", data={**form, "confirmed": "1"})
    assert r.status_code == 303
    assert world.get(f"/api/v1/records/deal/{rid}").json["contract"] is None


def test_a_new_record_takes_its_files_with_the_form(world: World, instance: Instance) -> None:
    c = _session(instance)
    page = c.get("/records/deal/new?lang=en").text
    assert 'enctype="multipart/form-data"' in page and 'name="contract"' in page
    r = c.post("/records/deal/new", data={
        "csrf_token": csrf_token(page), "title": "With a contract",
        "contract": (io.BytesIO(PDF), "signed.pdf"), "photo": (io.BytesIO(b""), "")},
        content_type="multipart/form-data")
    assert r.status_code == 303, r.text
    rid = int(r.headers["Location"].rsplit("/", 1)[1])
    record = world.get(f"/api/v1/records/deal/{rid}").json
    assert record["contract"]["name"] == "signed.pdf" and record["photo"] is None
    assert c.get(f"/api/v1/records/deal/{rid}/files/contract").data == PDF
    # A refused file is shown beside its field, and nothing is created.
    r = c.post("/records/deal/new?lang=zh", data={
        "csrf_token": csrf_token(page), "title": "Refused",
        "photo": (io.BytesIO(PDF), "not-an-image.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "此处不接受 application/pdf 类型的文件" in r.text
    r = c.post("/records/deal/new?lang=zh", data={
        "csrf_token": csrf_token(page), "title": "Refused",
        "contract": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 300), "x.exe")},
        content_type="multipart/form-data")
    assert r.status_code == 422 and "不接受程序和脚本" in r.text
    titles = [i["title"] for i in world.get("/api/v1/records/deal").json["items"]]
    assert "Refused" not in titles


def test_a_reader_sees_files_but_no_controls(world: World, instance: Instance) -> None:
    up = world.upload(PDF, "c.pdf").json
    rid = world.deal(contract=up["id"])["id"]
    world.attach(rid, b"notes", "notes.txt")
    c = _session(instance, "reader", "Reader-pass-1234")
    page = c.get(f"/records/deal/{rid}").text
    assert "notes.txt" in page and "c.pdf" in page
    assert "data-dropzone" not in page and "file-form-contract" not in page
    assert "/attachments/" in page and "/remove" not in page
    r = c.post(f"/records/deal/{rid}/attachments", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(b"x"), "x.txt")},
        content_type="multipart/form-data")
    assert r.status_code == 303
    assert "you may not update" in c.get(f"/records/deal/{rid}").text
    outsider = _session(instance, "outsider", "Outsider-pass-1234")
    assert outsider.get(f"/records/deal/{rid}").status_code == 404
    r = outsider.post(f"/records/deal/{rid}/attachments", data={
        "csrf_token": csrf_token(outsider.get("/records/deal").text),
        "file": (io.BytesIO(b"x"), "x.txt")}, content_type="multipart/form-data")
    assert r.status_code == 404
