"""Whether a reader has shares or temporary access is asked once and kept across requests
under the tenant's sharing version (security/branches.py): kept answers save a statement
per list on SQLite and two subqueries' planning on PostgreSQL, and must never hide what a
change has just made readable."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.security import sharing
from crmforge.security.credentials import SHARING_ROW
from crmforge.security.tables import credentials_version

from . import permissions_world as pw


@pytest.fixture
def world(client, admin) -> pw.World:  # type: ignore[no-untyped-def]
    return pw.build(client, admin)


class _Statements:
    """The statements this thread sends (transaction control left out)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.thread = threading.get_ident()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() != self.thread or statement.lstrip().upper().startswith(
                ("BEGIN", "SELECT SET_CONFIG('SEARCH_PATH'")):
            return
        self.seen.append(statement)


def _statements_of(instance, call) -> list[str]:  # type: ignore[no-untyped-def]
    engine = instance.tenant("default").engine
    log = _Statements()
    sa.event.listen(engine, "before_cursor_execute", log)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", log)
    return log.seen


def _listed(world: pw.World, user: str) -> set[int]:
    r = world.client.get("/api/v1/records/account?limit=100", headers=world.as_user(user))
    assert r.status_code == 200, r.json
    return {i["id"] for i in r.json["items"]}


def test_a_scoped_list_asks_about_branches_once(world: pw.World, instance) -> None:
    """The second list of a reader without shares sends no statement about shares or
    temporary access (neither a probe nor a subquery in the predicate), and as many
    statements as the administrator's list."""
    c, url = world.client, "/api/v1/records/account?limit=100"
    for who in (world.as_user("rep_n1"), world.admin):
        assert c.get(url, headers=who).status_code == 200  # warm caches
    scoped = _statements_of(instance, lambda: c.get(url, headers=world.as_user("rep_n1")))
    admin = _statements_of(instance, lambda: c.get(url, headers=world.admin))
    about = [s for s in scoped if "sys_shares" in s or "sys_temporary_access" in s]
    assert about == [], about
    assert len(scoped) == len(admin), (scoped, admin)


def test_a_department_moved_below_a_shared_one_is_seen_at_once(world: pw.World) -> None:
    """A share to a department reaches the departments below it: moving one there lets
    its people read the record on their very next request."""
    c = world.client
    target = next(rid for rid, rec in world.records.items()
                  if not pw.can_read(world, "rep_s1", rid))
    assert target not in _listed(world, "rep_s1")  # "no shares" now kept for rep_s1
    r = c.post(f"/api/v1/records/account/{target}/shares", headers=world.admin,
               json={"department": "service", "access": "read"})
    assert r.status_code == 201, r.json
    assert target not in _listed(world, "rep_s1")  # south is not below service
    moved = c.patch("/api/v1/admin/departments/south", headers=world.admin,
                    json={"parent": "service"})
    assert moved.status_code == 200, moved.json
    assert target in _listed(world, "rep_s1")
    assert c.get(f"/api/v1/records/account/{target}",
                 headers=world.as_user("rep_s1")).status_code == 200


def test_temporary_access_granted_is_seen_at_once(world: pw.World, tenant) -> None:
    """An approver's temporary access (the workflow grants it in its own transaction)."""
    target = next(rid for rid, rec in world.records.items()
                  if not pw.can_read(world, "rep_n1", rid))
    assert target not in _listed(world, "rep_n1")
    with tenant.read() as conn:
        object_id = tenant.snapshot(conn).object("account").id
    with tenant.write() as conn:
        sharing.grant_temporary_access(conn, object_id, target, world.user_ids["rep_n1"],
                                       "approval task")
    assert target in _listed(world, "rep_n1")
    with tenant.write() as conn:
        sharing.revoke_temporary_access(conn, object_id, target, world.user_ids["rep_n1"])
    assert target not in _listed(world, "rep_n1")


def test_without_the_sharing_counter_nothing_is_kept(world: pw.World, tenant) -> None:
    """A tenant older than the counter's row: no answer is kept, shares still show."""
    with tenant.write() as conn:
        conn.execute(credentials_version.delete().where(
            credentials_version.c.id == SHARING_ROW))
    kept = len(tenant.branches)
    assert _listed(world, "agent_s") == {
        rid for rid in world.records if pw.can_read(world, "agent_s", rid)}
    assert len(tenant.branches) == kept
    target = next(rid for rid, rec in world.records.items()
                  if not pw.can_read(world, "agent_s", rid))
    r = world.client.post(f"/api/v1/records/account/{target}/shares", headers=world.admin,
                          json={"user": "agent_s", "access": "read"})
    assert r.status_code == 201, r.json
    assert target in _listed(world, "agent_s")
    with tenant.read() as conn:  # the share brought the counter back
        assert conn.execute(sa.select(credentials_version.c.version).where(
            credentials_version.c.id == SHARING_ROW)).scalar() is not None
