"""Recently viewed records (decision 0037): kept by the access audit's batch, never by the
read itself, and shown only while the reader may still read them."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance, access_log, recent

from .conftest import error_of, sign_in

PASSWORD = "Recent-pass-123"

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"zh": "商机", "en": "Deal"},
    "fields": [{"name": "name", "type": "text", "required": True},
               {"name": "code", "type": "text"}],
}
NOTE: dict[str, Any] = {
    "name": "note", "label": {"zh": "备注", "en": "Note"},
    "fields": [{"name": "subject", "type": "text", "required": True}],
}


class World:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.admin = sign_in(client)
        for doc in (DEAL, NOTE):
            assert client.post("/api/v1/meta/objects", json=doc,
                               headers=self.admin).status_code == 201
        for role in (
                {"name": "rep", "permissions": {
                    "deal": {"operations": ["create", "read", "update", "delete"],
                             "scope": "own"},
                    "note": {"operations": ["create", "read"], "scope": "own",
                             "fields": {"subject": "hidden"}}}},):
            assert client.post("/api/v1/admin/roles", json=role,
                               headers=self.admin).status_code == 201
        r = self.client.post("/api/v1/admin/users", headers=self.admin, json={
            "username": "rep", "password": PASSWORD, "roles": ["rep"]})
        assert r.status_code == 201, r.json
        self.rep = sign_in(client, username="rep", password=PASSWORD)

    def create(self, obj: str, who: dict[str, str], **values: Any) -> int:
        r = self.client.post(f"/api/v1/records/{obj}", headers=who, json=values)
        assert r.status_code == 201, r.json
        return int(r.json["id"])

    def open(self, obj: str, rid: int, who: dict[str, str]) -> None:
        assert self.client.get(f"/api/v1/records/{obj}/{rid}", headers=who).status_code == 200

    def recent(self, who: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/recent", headers=who, query_string=params)
        assert r.status_code == 200, r.json
        return list(r.json["items"])


@pytest.fixture
def world(client: FlaskClient) -> World:
    return World(client)


def _titles(items: list[dict[str, Any]]) -> list[str]:
    return [i["title"] for i in items]


def test_distinct_newest_first_with_labels_before_and_after_the_flush(world: World) -> None:
    a = world.create("deal", world.rep, name="Alpha")
    b = world.create("deal", world.rep, name="Beta")
    c = world.create("deal", world.rep, name="Gamma")
    for rid in (a, b, c, a):
        world.open("deal", rid, world.rep)
    pending = world.recent(world.rep, lang="zh")  # still in memory: shown at once
    assert _titles(pending) == ["Alpha", "Gamma", "Beta"]
    assert pending[0] == {"object": "deal", "label": "商机", "id": a, "title": "Alpha",
                          "viewed_at": pending[0]["viewed_at"]}
    access_log.flush_all()
    assert _titles(world.recent(world.rep)) == ["Alpha", "Gamma", "Beta"]
    assert _titles(world.recent(world.rep, limit=2)) == ["Alpha", "Gamma"]
    # A list page or a search reads records too, but nobody opened them.
    assert world.client.get("/api/v1/records/deal", headers=world.rep).status_code == 200
    d = world.create("deal", world.rep, name="Delta")
    world.client.get("/api/v1/records/deal", headers=world.rep)
    access_log.flush_all()
    assert "Delta" not in _titles(world.recent(world.rep)) and d
    assert world.recent(world.admin) == []  # each user their own


def test_deleted_and_withdrawn_records_drop_out_without_their_titles(
        world: World, client: FlaskClient) -> None:
    a = world.create("deal", world.rep, name="Kept")
    b = world.create("deal", world.rep, name="Deleted later")
    c = world.create("deal", world.rep, name="Handed over")
    for rid in (a, b, c):
        world.open("deal", rid, world.rep)
    access_log.flush_all()
    assert client.delete(f"/api/v1/records/deal/{b}", headers=world.rep).status_code == 204
    r = client.post(f"/api/v1/records/deal/{c}/transfer", headers=world.admin,
                    json={"owner": "admin"})
    assert r.status_code == 200, r.json
    r = client.get("/api/v1/recent", headers=world.rep)
    assert _titles(r.json["items"]) == ["Kept"]
    assert "Deleted later" not in r.text and "Handed over" not in r.text
    # Restored or handed back, they come back.
    assert client.post(f"/api/v1/records/deal/{b}/restore",
                       headers=world.rep).status_code == 200
    assert _titles(world.recent(world.rep)) == ["Deleted later", "Kept"]


def test_a_hidden_title_shows_the_number(world: World) -> None:
    n = world.create("note", world.admin, subject="Secret subject")
    mine = world.create("note", world.admin, subject="Mine too")
    assert world.client.post(f"/api/v1/records/note/{mine}/transfer", headers=world.admin,
                             json={"owner": "rep"}).status_code == 200
    world.open("note", mine, world.rep)
    world.open("note", n, world.admin)
    items = world.recent(world.rep)
    assert items == [{"object": "note", "label": "Note", "id": mine, "title": f"#{mine}",
                      "viewed_at": items[0]["viewed_at"]}]


def test_the_page_counts_and_bad_limits_are_refused(world: World, instance: Instance) -> None:
    from .conftest import browser_session
    a = world.create("deal", world.rep, name="Paged")
    page = browser_session(instance, "rep", PASSWORD)
    assert page.get(f"/records/deal/{a}").status_code == 200
    assert _titles(world.recent(world.rep)) == ["Paged"]
    assert world.client.get("/api/v1/recent").status_code == 401
    for bad in ("0", "31", "x"):
        r = world.client.get("/api/v1/recent", headers=world.rep, query_string={"limit": bad})
        assert r.status_code == 400 and "limit" in error_of(r)["message"]


def test_opening_a_record_writes_nothing_and_the_flush_keeps_the_newest(
        world: World, instance: Instance) -> None:
    tenant = instance.tenant("default")
    ids = [world.create("deal", world.rep, name=f"Deal {i}") for i in range(recent.KEEP + 5)]
    statements: list[str] = []
    me = threading.get_ident()

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me:
            statements.append(statement)

    sa.event.listen(tenant.engine, "before_cursor_execute", seen)
    try:
        for rid in ids:
            world.open("deal", rid, world.rep)
    finally:
        sa.event.remove(tenant.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "sys_recent_items" in s or
                s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    access_log.flush_all()
    with tenant.read() as conn:
        kept = conn.execute(sa.select(recent.recent_items.c.record_id)).scalars().all()
    assert sorted(kept) == ids[-recent.KEEP:]
    assert _titles(world.recent(world.rep)) == [f"Deal {i}" for i in
                                                range(recent.KEEP + 4, recent.KEEP - 6, -1)]


def test_openings_being_written_stay_visible_to_a_read_that_began_before(
        world: World, instance: Instance) -> None:
    """A page whose read transaction began before the flush committed does not see the
    stored rows yet: the openings of the batch being written, and of the last one
    written, are still offered by the log (duplicates fold into one)."""
    a = world.create("deal", world.rep, name="Just opened")
    world.open("deal", a, world.rep)
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        rep = conn.execute(sa.text("SELECT id FROM sys_users WHERE username = 'rep'")
                           ).scalar_one()
    [entry] = tenant.access_log.pending_of(rep)
    access_log.flush_all()
    assert tenant.access_log.pending_of(rep) == [entry]
    assert _titles(world.recent(world.rep)) == ["Just opened"]


def test_a_stored_formula_title_names_the_record(world: World) -> None:
    doc = {"name": "person", "title_field": "full_name", "fields": [
        {"name": "given", "type": "text", "required": True},
        {"name": "family", "type": "text"},
        {"name": "full_name", "type": "formula", "result_type": "text", "stored": True,
         "expression": "concat(given, ' ', family)"}]}
    r = world.client.post("/api/v1/meta/objects", json=doc, headers=world.admin)
    assert r.status_code == 201, r.json
    rid = world.create("person", world.admin, given="Zhang", family="San")
    world.open("person", rid, world.admin)
    assert _titles(world.recent(world.admin)) == ["Zhang San"]
