"""A create answers the record as a read of it would, without reading it back when nothing
after the insert changed it (``pipeline.create_one``): every field type, formulas computed
and stored, roll-ups starting at zero, autonumbers, files; and, when an after-save trigger
or a move to the recycle bin changed it in the same transaction, the changed record."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance, writes

from .test_pages_no_500 import ACCOUNT, ITEM


@pytest.fixture
def h(client: FlaskClient, admin: dict[str, str]) -> dict[str, str]:
    rollups = [f for f in ACCOUNT["fields"] if f["type"] == "rollup"]  # once the child exists
    first = {**ACCOUNT, "fields": [f for f in ACCOUNT["fields"] if f["type"] != "rollup"]}
    for path, doc in [("/api/v1/meta/objects", first), ("/api/v1/meta/objects", ITEM),
                      *(("/api/v1/meta/objects/account/fields", f) for f in rollups)]:
        r = client.post(path, json=doc, headers=admin)
        assert r.status_code == 201, r.json
    return admin


def _upload(client: FlaskClient, h: dict[str, str]) -> int:
    r = client.post("/api/v1/files", headers=h, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"%PDF-1.4 contract"), "合同 1.pdf")})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def test_the_answer_to_a_create_is_the_record_as_read(client: FlaskClient,
                                                       h: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Any] = []
    real = writes.was_rewritten
    monkeypatch.setattr(writes, "was_rewritten", lambda *a: reads.append(a) or real(*a))
    account = client.post("/api/v1/records/account", json={"name": "ACME"}, headers=h)
    assert account.status_code == 201, account.json
    assert account.json == client.get(f"/api/v1/records/account/{account.json['id']}",
                                      headers=h).json
    assert (account.json["total"], account.json["lines"]) == ("0.00", "0")
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "pat", "password": "Pat-pass-12345", "roles": []})
    assert r.status_code == 201, r.json
    me = r.json["id"]
    values: dict[str, Any] = {
        "title": "Line 1", "notes": "tab\there\nand a line", "qty": 3, "rate": "12.50",
        "amount": "1000.10", "share": "12.5", "due": "2026-02-28", "at": "2026-03-01T08:30:00Z",
        "flag": True, "stage": "won", "tags": ["a", "b"], "ref": account.json["id"],
        "account": account.json["id"], "person": me, "email": "a@example.com",
        "phone": "+86 10 1234 5678", "site": "https://example.com", "doc": _upload(client, h)}
    made = client.post("/api/v1/records/item", json=values, headers=h)
    assert made.status_code == 201, made.json
    read = client.get(f"/api/v1/records/item/{made.json['id']}", headers=h).json
    assert made.json == read
    assert read["line_total"] == "3000.30" and read["live"] == "Line 1" and read["code"]
    assert read["doc"]["name"] == "合同 1.pdf"
    assert len(reads) == 2  # both answers came from the values written


def test_a_record_changed_after_its_insert_is_answered_as_changed(
        client: FlaskClient, h: dict[str, str]) -> None:
    account = client.post("/api/v1/records/account", json={"name": "ACME"}, headers=h).json
    r = client.patch("/api/v1/meta/objects/item", headers=h, json={"triggers": [{
        "name": "stamp", "when": "after_save", "on": ["create"],
        "script": "update('item', record.id, {'notes': 'stamped ' + record.title})"}]})
    assert r.status_code == 200, r.json
    made = client.post("/api/v1/records/item", headers=h,
                       json={"title": "T", "account": account["id"], "notes": "mine"})
    assert made.status_code == 201, made.json
    assert made.json["notes"] == "stamped T" and made.json["version"] == 2
    assert made.json == client.get(f"/api/v1/records/item/{made.json['id']}", headers=h).json


def test_the_service_answers_a_scope_none_creator_too(instance: Instance, client: FlaskClient,
                                                      h: dict[str, str]) -> None:
    """Creating a record one cannot read afterwards still answers what one wrote."""
    role = {"name": "drop", "permissions": {"account": {"operations": ["create"],
                                                        "scope": "none"}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=h).status_code == 201
    r = client.post("/api/v1/admin/users", headers=h, json={
        "username": "dropper", "password": "Dropper-pass-1234", "roles": ["drop"]})
    assert r.status_code == 201, r.json
    from .conftest import sign_in

    d = sign_in(client, username="dropper", password="Dropper-pass-1234")
    made = client.post("/api/v1/records/account", json={"name": "Blind"}, headers=d)
    assert made.status_code == 201 and made.json["name"] == "Blind"
    assert client.get(f"/api/v1/records/account/{made.json['id']}", headers=d).status_code == 404


def test_a_read_at_the_driver_answers_what_sqlalchemy_reads(
        instance: Instance, client: FlaskClient, h: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite runs a kept single-record read at the driver (``Dialect.first``): every field
    type comes back as SQLAlchemy's own execution gives it, which a listener on the
    statements forces."""
    import sqlalchemy as sa

    from crmforge.runtime.storage import dialects

    tenant = instance.tenant("default")
    account = client.post("/api/v1/records/account", json={"name": "ACME"}, headers=h).json
    values = {"title": "Line 1", "notes": "tab\there", "qty": 3, "rate": "12.50",
              "amount": "1000.10", "share": "12.5", "due": "2026-02-28",
              "at": "2026-03-01T08:30:00Z", "flag": True, "stage": "won", "tags": ["a", "b"],
              "ref": account["id"], "account": account["id"], "email": "a@example.com"}
    made = client.post("/api/v1/records/item", json=values, headers=h).json
    url = f"/api/v1/records/item/{made['id']}"
    ran: list[Any] = []
    real_row = dialects._ReadPlan.row
    monkeypatch.setattr(dialects._ReadPlan, "row", lambda plan, raw: ran.append(raw) or
                        real_row(plan, raw))
    rows: list[dict[str, Any]] = []
    real_first = type(tenant.dialect).first

    def first(self: Any, *args: Any) -> Any:
        found = real_first(self, *args)
        rows.append({k: (type(v), v) for k, v in (found or {}).items()})
        return found

    monkeypatch.setattr(type(tenant.dialect), "first", first)
    direct = client.get(url, headers=h).json
    assert len(ran) == (1 if tenant.dialect.name == "sqlite" else 0)  # the driver ran it
    seen: list[str] = []

    def listen(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(tenant.engine, "before_cursor_execute", listen)
    try:
        through = client.get(url, headers=h).json
    finally:
        sa.event.remove(tenant.engine, "before_cursor_execute", listen)
    assert any("FROM obj_" in s for s in seen)  # SQLAlchemy ran the read this time
    assert len(rows) == 2 and rows[0] == rows[1] and rows[0]  # same values, same types
    assert direct == through == made
    assert client.get("/api/v1/records/item/999999", headers=h).status_code == 404
