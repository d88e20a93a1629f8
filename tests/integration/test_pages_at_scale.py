"""Pages of a tenant with dozens of objects and thousands of records: each page costs the
same number of SQL statements whatever the number of records (netbox-style budgets), for
an administrator and for a user whose role limits the scope."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Designer, Instance, RecordService
from crmforge.security import SYSTEM

from .conftest import browser_session

OBJECTS = 30
PASSWORD = "Rep-pass-12345"
BIG = {"name": "big", "label": {"zh": "大表", "en": "Big"}, "fields": [
    {"name": "title", "type": "text", "required": True, "searchable": True},
    {"name": "amount", "type": "decimal", "scale": 2},
    {"name": "stage", "type": "picklist",
     "choices": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"name": "total", "type": "formula", "result_type": "decimal", "expression": "amount * 2"},
    {"name": "account", "type": "lookup", "target": "obj_00"},
]}
#: Page -> most statements it may run on the tenant's database (the session and its
#: roles live in the control database). Budgets are pinned: a change that adds a query
#: per row or per object shows up here.
PAGES = {
    # The home page: versions, open tasks, their count, the user's approvals, their kept
    # recent records, and one statement naming them all (decision 0037).
    "/": 6,
    "/records/big": 11,
    "/records/big?stage=won&sort=-amount": 11,
    "/records/big/{id}": 24,
    "/records/big/dashboard": 6,
    # The board: one bounded list read and its estimated count per column (three choices
    # and "no value") and the user's columns, whatever the number of records.
    "/records/big?view=kanban&by=stage": 10,
    "/inbox": 6,
    "/admin/": 5,
    "/admin/roles": 4,
    "/admin/objects/big/layout": 4,
}

#: The same for a user whose role limits the scope: the list adds its permission probes.
SCOPED_PAGES = {"/": 6, "/records/big": 13, "/records/big?stage=won&sort=-amount": 13,
                "/inbox": 6}


class _Counter:
    """Statements of this thread only: the access-audit flusher writes from its own."""

    def __init__(self) -> None:
        self.count = 0
        self.thread = threading.get_ident()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        mine = threading.get_ident() == self.thread
        # Choosing the tenant's schema begins each PostgreSQL transaction: control, like BEGIN.
        if statement.startswith("SELECT set_config('search_path'"):
            return
        if mine and not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            self.count += 1


def _add_records(instance: Instance, n: int, start: int) -> int:
    rows = [{"title": f"Deal {i}", "amount": str(i % 997), "stage": ("new", "won", "lost")[i % 3],
             "account": 1 + i % 5} for i in range(start, start + n)]
    ids = RecordService(instance.tenant("default")).create_many(SYSTEM, "big", rows)
    return ids[0]


@pytest.fixture
def world(client: FlaskClient, admin: dict[str, str], instance: Instance) -> Iterator[int]:
    tenant = instance.tenant("default")
    designer = Designer(tenant)
    designer.background_backfill = False
    with designer.batch(SYSTEM, "many objects"):
        for i in range(OBJECTS):
            designer.create_object(SYSTEM, {
                "name": f"obj_{i:02d}", "label": {"en": f"Object {i:02d}"},
                "fields": [{"name": "name", "type": "text", "searchable": True}]})
        designer.create_object(SYSTEM, BIG)
    RecordService(tenant).create_many(SYSTEM, "obj_00", [{"name": f"Acct {i}"} for i in range(5)])
    r = client.post("/api/v1/admin/roles", headers=admin, json={"name": "rep", "permissions": {
        "big": {"operations": ["create", "read", "update"], "scope": "own",
                "fields": {"amount": "read"}},
        "obj_00": {"operations": ["read"], "scope": "all"}}})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": "rep", "password": PASSWORD, "roles": ["rep"]})
    assert r.status_code == 201, r.json
    yield _add_records(instance, 60, 0)


def _costs(instance: Instance, c: FlaskClient, record: int, pages: list[str]) -> dict[str, int]:
    engine = instance.tenant("default").engine
    out = {}
    for page in pages:
        url = page.format(id=record)
        assert c.get(url).status_code == 200, url  # warm the caches
        counter = _Counter()
        sa.event.listen(engine, "before_cursor_execute", counter)
        try:
            r = c.get(url)
        finally:
            sa.event.remove(engine, "before_cursor_execute", counter)
        assert r.status_code == 200, url
        out[page] = counter.count
    return out


def test_page_costs_do_not_grow_with_records_or_objects(world: int, instance: Instance) -> None:
    admin = browser_session(instance)
    assert admin.get(f"/records/big/{world}").status_code == 200  # a recent item for home
    before = _costs(instance, admin, world, list(PAGES))
    _add_records(instance, 2000, 60)
    after = _costs(instance, admin, world, list(PAGES))
    assert after == before
    over = {p: (n, PAGES[p]) for p, n in after.items() if n > PAGES[p]}
    assert over == {}, over
    # A full page of rows, a way on, and the objects folded behind "More".
    listing = admin.get("/records/big").text
    assert listing.count('href="/records/big/') >= 50 and "cursor=" in listing
    assert f"More ({OBJECTS + 1 - 8})" in admin.get("/").text


def test_a_scoped_user_costs_the_same(world: int, instance: Instance) -> None:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        rep_id = conn.execute(sa.text("SELECT id FROM sys_users WHERE username = 'rep'")
                              ).scalar_one()
    with tenant.write() as conn:  # hand the rep a few of the records
        conn.execute(sa.text("UPDATE obj_big SET owner_id = :rep WHERE id % 7 = 0"),
                     {"rep": rep_id})
    rep = browser_session(instance, "rep", PASSWORD)
    assert rep.get(f"/records/big/{world + 6}").status_code == 200  # one of the rep's
    before = _costs(instance, rep, world, list(SCOPED_PAGES))
    _add_records(instance, 2000, 60)
    assert _costs(instance, rep, world, list(SCOPED_PAGES)) == before
    assert all(n <= SCOPED_PAGES[p] for p, n in before.items()), before
    # Only the rep's own records are listed (ids 7, 14, ...: titles Deal 6, Deal 13, ...).
    listing = rep.get("/records/big?sort=title&limit=50").text
    assert "Deal 6<" in listing and "Deal 7<" not in listing
