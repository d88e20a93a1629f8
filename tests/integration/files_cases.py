"""Behaviours of files that every storage backend must show the same way: the local file
system (test_files.py) and an S3-compatible server (test_files_s3.py) run these cases
against real stores, through the HTTP API, on both databases."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from PIL import Image

from crmforge.runtime import Instance
from crmforge.web import create_app

from .conftest import sign_in

#: A small file limit keeps the oversized uploads of the tests small.
MAX_BYTES = 200_000

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"zh": "商机", "en": "Deal"},
    "fields": [
        {"name": "title", "type": "text", "required": True},
        {"name": "contract", "type": "file", "label": {"zh": "合同", "en": "Contract"}},
        {"name": "photo", "type": "file", "accept": ["image/*"], "max_size": 100_000},
    ],
}
ROLES: list[dict[str, Any]] = [
    {"name": "editor", "permissions": {"deal": {
        "operations": ["create", "read", "update", "delete"], "scope": "all"}}},
    {"name": "reader", "permissions": {"deal": {"operations": ["read"], "scope": "all"}}},
    {"name": "outsider", "permissions": {"deal": {
        "operations": ["create", "read", "update"], "scope": "own"}}},
    {"name": "hider", "permissions": {"deal": {
        "operations": ["read", "update"], "scope": "all", "fields": {"contract": "hidden"}}}},
]
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


def png(size: tuple[int, int] = (600, 300), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@dataclass
class World:
    instance: Instance
    client: FlaskClient
    admin: dict[str, str]
    users: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def make(cls, instance: Instance, **config: Any) -> World:
        app = create_app(instance, {"TESTING": True, "CRMFORGE_FILES_MAX_BYTES": MAX_BYTES,
                                    **config})
        client = app.test_client()
        admin = sign_in(client)
        w = cls(instance, client, admin)
        assert client.post("/api/v1/meta/objects", headers=admin, json=DEAL).status_code == 201
        for role in ROLES:
            r = client.post("/api/v1/admin/roles", headers=admin, json=role)
            assert r.status_code == 201, r.json
            password = f"{role['name'].title()}-pass-1234"
            r = client.post("/api/v1/admin/users", headers=admin, json={
                "username": role["name"], "password": password, "roles": [role["name"]]})
            assert r.status_code == 201, r.json
            w.users[role["name"]] = sign_in(client, username=role["name"], password=password)
        return w

    # -- helpers ------------------------------------------------------------------------
    def keys(self) -> set[str]:
        """What the store holds for the tenant."""
        return set(self.instance.blob_store().keys("default"))

    def upload(self, data: bytes, name: str, headers: dict[str, str] | None = None,
               content_type: str = "application/octet-stream") -> Any:
        return self.client.post("/api/v1/files", headers=headers or self.admin, data={
            "file": (io.BytesIO(data), name, content_type)})

    def attach(self, rid: int, data: bytes, name: str, headers: dict[str, str] | None = None,
               content_type: str = "application/octet-stream") -> Any:
        return self.client.post(f"/api/v1/records/deal/{rid}/attachments",
                                headers=headers or self.admin,
                                data={"file": (io.BytesIO(data), name, content_type)})

    def deal(self, headers: dict[str, str] | None = None, **values: Any) -> dict[str, Any]:
        r = self.client.post("/api/v1/records/deal", headers=headers or self.admin,
                             json={"title": "Big deal", **values})
        assert r.status_code == 201, r.json
        return dict(r.json)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, headers=headers or self.admin)

    def set_field(self, rid: int, field_name: str, value: Any,
                  headers: dict[str, str] | None = None) -> Any:
        current = self.get(f"/api/v1/records/deal/{rid}", headers).json
        return self.client.patch(f"/api/v1/records/deal/{rid}", headers=headers or self.admin,
                                 json={field_name: value, "version": current["version"]})

    def history(self, rid: int) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v1/records/deal/{rid}/history").json["items"])


# -- the cases ------------------------------------------------------------------------------
def upload_set_field_and_download(w: World) -> None:
    before = w.keys()
    r = w.upload(PDF, "合同 2024.pdf", content_type="text/html")
    assert r.status_code == 201, r.json
    up = r.json
    assert up == {"id": up["id"], "name": "合同 2024.pdf", "size": len(PDF),
                  "content_type": "application/pdf"}
    assert len(w.keys() - before) == 1
    rid = w.deal()["id"]
    r = w.set_field(rid, "contract", up["id"])
    assert r.status_code == 200, r.json
    assert r.json["contract"] == up
    got = w.get(f"/api/v1/records/deal/{rid}/files/contract")
    assert got.status_code == 200
    assert got.data == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"2024.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C%202024.pdf")
    # Sending back the description read changes nothing; another file replaces it, and
    # the one replaced goes to the recycle bin (content kept), history names both.
    record = w.get(f"/api/v1/records/deal/{rid}").json
    r = w.client.patch(f"/api/v1/records/deal/{rid}", headers=w.admin, json={
        "contract": record["contract"], "version": record["version"]})
    assert r.status_code == 200 and r.json["version"] == record["version"]
    second = w.upload(b"second version", "v2.txt").json
    assert w.set_field(rid, "contract", second["id"]).status_code == 200
    assert w.get(f"/api/v1/records/deal/{rid}/files/contract").data == b"second version"
    changes = [h for h in w.history(rid) if h["field"] == "contract"]
    assert changes[-1]["old"]["id"] == up["id"] and changes[-1]["old"]["name"] == "合同 2024.pdf"
    assert changes[-1]["new"]["id"] == second["id"]
    removed = w.get("/api/v1/recycle-bin/files").json["items"]
    assert [(f["id"], f["field"], f["record"]) for f in removed] == [(up["id"], "contract", rid)]
    assert len(w.keys() - before) == 2
    # Clearing the field: null, and the file follows the first into the bin.
    r = w.set_field(rid, "contract", None)
    assert r.status_code == 200 and r.json["contract"] is None
    assert w.get(f"/api/v1/records/deal/{rid}/files/contract").status_code == 404
    assert len(w.get("/api/v1/recycle-bin/files").json["items"]) == 2


def attachment_lifecycle(w: World) -> None:
    rid = w.deal()["id"]
    before = w.keys()
    r = w.attach(rid, png(), "截图.png", content_type="application/pdf")
    assert r.status_code == 201, r.json
    att = r.json
    assert att["content_type"] == "image/png" and att["name"] == "截图.png"
    r = w.attach(rid, b"minutes of the meeting", "notes.txt")
    assert r.status_code == 201
    notes = r.json
    items = w.get(f"/api/v1/records/deal/{rid}/attachments").json["items"]
    assert [(i["id"], i["name"], i["size"], i["content_type"]) for i in items] == [
        (att["id"], "截图.png", att["size"], "image/png"),
        (notes["id"], "notes.txt", 22, "text/plain")]
    assert items[0]["preview"] is True and items[1]["preview"] is False
    got = w.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}")
    assert got.status_code == 200 and got.data == png()
    assert got.headers["Content-Disposition"].startswith("inline;")  # an image shows in place
    # The preview is a bounded thumbnail, made once and kept in the store.
    thumb = w.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}?preview=1")
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.data)) as img:
        assert max(img.size) == 256
    assert len(w.keys() - before) == 3  # two files and one preview
    again = w.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}?preview=1")
    assert again.data == thumb.data and len(w.keys() - before) == 3
    no_preview = w.get(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}?preview=1")
    assert no_preview.status_code == 404
    # Conditional download.
    etag = got.headers["ETag"]
    r = w.client.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}",
                     headers={**w.admin, "If-None-Match": etag})
    assert r.status_code == 304 and r.data == b""
    # Remove: gone from the record, in the recycle bin, content kept; restore brings it back.
    r = w.client.delete(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}", headers=w.admin)
    assert r.status_code == 204
    assert w.get(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}").status_code == 404
    assert [i["id"] for i in w.get(f"/api/v1/records/deal/{rid}/attachments").json["items"]] \
        == [att["id"]]
    binned = w.get("/api/v1/recycle-bin/files").json["items"]
    assert [(b["id"], b["field"], b["title"]) for b in binned] == [(notes["id"], None, "Big deal")]
    assert len(w.keys() - before) == 3
    r = w.client.post(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}/restore",
                      headers=w.admin)
    assert r.status_code == 200 and r.json["id"] == notes["id"]
    assert w.get(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}").data == \
        b"minutes of the meeting"
    actions = [(h["action"], (h["old"] or h["new"])["name"]) for h in w.history(rid)
               if h["action"].startswith("attachment_")]
    assert actions == [("attachment_added", "截图.png"), ("attachment_added", "notes.txt"),
                       ("attachment_removed", "notes.txt"), ("attachment_restored", "notes.txt")]
    # Purging a removed file deletes its content.
    w.client.delete(f"/api/v1/records/deal/{rid}/attachments/{notes['id']}", headers=w.admin)
    r = w.client.delete(f"/api/v1/recycle-bin/deal/{rid}/files/{notes['id']}", headers=w.admin)
    assert r.status_code == 204
    assert len(w.keys() - before) == 2
    assert w.get("/api/v1/recycle-bin/files").json["items"] == []


def oversized_upload_stores_nothing(w: World) -> None:
    rid = w.deal()["id"]
    before = w.keys()
    for size in (MAX_BYTES + 1, MAX_BYTES + 1_000_000):  # the service's check, the body limit
        r = w.upload(b"x" * size, "big.txt")
        assert r.status_code == 413, (size, r.json)
        assert r.json["error"]["code"] == "payload_too_large"
        assert "limit of 195 KB" in r.json["error"]["message"]
        r = w.attach(rid, b"x" * size, "big.txt")
        assert r.status_code == 413
    assert w.keys() == before
    assert w.get(f"/api/v1/records/deal/{rid}/attachments").json["items"] == []
    r = w.upload(b"x" * MAX_BYTES, "just-fits.txt")
    assert r.status_code == 201


def record_recycle_restore_and_purge(w: World) -> None:
    before = w.keys()
    up = w.upload(PDF, "contract.pdf").json
    rid = w.deal(contract=up["id"])["id"]
    att = w.attach(rid, b"attached text", "a.txt").json
    assert len(w.keys() - before) == 2
    assert w.client.delete(f"/api/v1/records/deal/{rid}", headers=w.admin).status_code == 204
    # In the recycle bin with its record: nothing answers, the content is kept.
    assert w.get(f"/api/v1/records/deal/{rid}/files/contract").status_code == 404
    assert w.get(f"/api/v1/records/deal/{rid}/attachments").status_code == 404
    assert w.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}").status_code == 404
    assert len(w.keys() - before) == 2
    r = w.client.post(f"/api/v1/records/deal/{rid}/restore", headers=w.admin)
    assert r.status_code == 200
    assert w.get(f"/api/v1/records/deal/{rid}/files/contract").data == PDF
    assert w.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}").data == b"attached text"
    # Purged: the rows and the contents are gone.
    assert w.client.delete(f"/api/v1/records/deal/{rid}", headers=w.admin).status_code == 204
    r = w.client.delete(f"/api/v1/recycle-bin/deal/{rid}", headers=w.admin)
    assert r.status_code == 204
    assert w.keys() == before


CASES: list[Callable[[World], None]] = [
    upload_set_field_and_download, attachment_lifecycle, oversized_upload_stores_nothing,
    record_recycle_restore_and_purge,
]
