"""Every entry point runs the same write sequence (DESIGN §4, runtime/pipeline.py).

One world: accounts whose roll-ups count and sum their visits, a visit object with an
after-save trigger that leaves a trail record, a stored formula on a note that reads its
visit's subject through a lookup, a recording after-save hook and a recording event
consumer. Each way of creating or updating a visit (API, bulk, import, pack data, a
trigger's own write, a page form, an approval's field update, a transfer) must leave the
same traces: history, the parent's roll-ups, the related formula, the trigger's trail,
the event, and the hook (which only an approval's own update switches off, by name).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.composition import wiring
from crmforge.runtime import Instance, RecordService, event_jobs, events, jobs
from crmforge.runtime.context import Ctx
from crmforge.runtime.hooks import Wiring
from crmforge.security.principal import SYSTEM

from .conftest import browser_session, csrf_token

ACCOUNT = {"name": "account", "fields": [{"name": "name", "type": "text"}]}
VISIT = {"name": "visit", "fields": [
    {"name": "subject", "type": "text", "required": True},
    {"name": "hours", "type": "integer"},
    {"name": "status", "type": "picklist", "choices": [{"value": "open"}, {"value": "done"}]},
    {"name": "account", "type": "master_detail", "target": "account"}],
    "triggers": [{"name": "trail", "when": "after_save", "on": ["create", "update"],
                  "script": "create('trail', {'note': 'saved ' + record.subject})"}]}
TRAIL = {"name": "trail", "fields": [{"name": "note", "type": "text"}]}
NOTE = {"name": "note", "fields": [
    {"name": "visit", "type": "lookup", "target": "visit"},
    {"name": "about", "type": "formula", "result_type": "text", "stored": True,
     "expression": "visit.subject"}]}
PLAN = {"name": "schedule", "fields": [{"name": "title", "type": "text"},
                                   {"name": "account", "type": "lookup", "target": "account"}],
        "triggers": [{"name": "spawn", "when": "after_save", "on": ["create"],
                      "script": "create('visit', {'subject': record.title, 'hours': 2, "
                                "'account': record.account})"}]}
ROLLUPS = [{"name": "visits", "type": "rollup", "function": "count", "child": "visit"},
           {"name": "hours", "type": "rollup", "function": "sum", "child": "visit",
            "field": "hours"}]


class Recorder:
    """An event consumer and an after-save hook that remember what they were given."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, dict[str, Any]]] = []
        self.saves: list[tuple[str, int, bool]] = []

    def wants(self, tenant: Any, snapshot: Any, event: str, obj: Any) -> bool:
        return obj.name == "visit"

    def handle(self, tenant: Any, conn: sa.Connection, rows: Sequence[Any]) -> None:
        self.events.extend((r.event, r.object, int(r.record_id), events.changes_json(r))
                           for r in rows)

    def after_save(self, ctx: Ctx, record_id: int, created: bool) -> None:
        if ctx.obj.name == "visit":
            self.saves.append((ctx.obj.name, record_id, created))


@pytest.fixture
def world(instance: Instance, client: FlaskClient, admin: dict[str, str]) -> Recorder:
    recorder = Recorder()
    full = wiring()
    instance.wire(Wiring(after_save=(*full.after_save, recorder.after_save),
                         consumers=(recorder,), events_hint=None))
    for doc in (ACCOUNT, TRAIL, VISIT, NOTE, PLAN):
        r = client.post("/api/v1/meta/objects", headers=admin, json=doc)
        assert r.status_code == 201, r.json
    for f in ROLLUPS:
        r = client.post("/api/v1/meta/objects/account/fields", headers=admin, json=f)
        assert r.status_code == 201, r.json
    return recorder


def _get(client: FlaskClient, h: dict[str, str], obj: str, rid: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/records/{obj}/{rid}", headers=h)
    assert r.status_code == 200, r.json
    return dict(r.json)


def _account(client: FlaskClient, h: dict[str, str], name: str = "Acme") -> int:
    r = client.post("/api/v1/records/account", headers=h, json={"name": name})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _visits(client: FlaskClient, h: dict[str, str], subject: str) -> list[dict[str, Any]]:
    items = client.get(f"/api/v1/records/visit?subject={subject}", headers=h).json["items"]
    return list(items)


def _trails(client: FlaskClient, h: dict[str, str]) -> list[str]:
    items = client.get("/api/v1/records/trail?limit=200", headers=h).json["items"]
    return [i["note"] for i in items]


def _actions(client: FlaskClient, h: dict[str, str], rid: int) -> list[str]:
    r = client.get(f"/api/v1/records/visit/{rid}/history", headers=h)
    assert r.status_code == 200, r.json
    return [e["action"] for e in r.json["items"]]


def _drain(instance: Instance, recorder: Recorder) -> None:
    events.consume(instance.tenant("default"), recorder)


def _created_traces(client: FlaskClient, h: dict[str, str], instance: Instance,
                    recorder: Recorder, subject: str, account: int, hours: int) -> None:
    """What every create of a visit leaves behind."""
    found = _visits(client, h, subject)
    assert len(found) == 1, found
    rid = int(found[0]["id"])
    assert "create" in _actions(client, h, rid)
    parent = _get(client, h, "account", account)
    assert (parent["visits"], parent["hours"]) == ("1", f"{hours}.00")  # roll-ups of the parent
    assert f"saved {subject}" in _trails(client, h)  # the after-save trigger
    assert ("visit", rid, True) in recorder.saves  # the hooks of the layers above
    _drain(instance, recorder)
    created = [e for e in recorder.events if e[0] == "record.created" and e[2] == rid]
    assert len(created) == 1 and created[0][3]["subject"] == [None, subject]


def _csv(*rows: Sequence[Any]) -> bytes:
    return ("\n".join(",".join(str(c) for c in r) for r in rows) + "\n").encode()


CREATES = ["api", "bulk", "import", "pack_data", "trigger", "page"]


@pytest.mark.parametrize("entry", CREATES)
def test_every_create_runs_the_whole_sequence(entry: str, instance: Instance,
                                              client: FlaskClient, admin: dict[str, str],
                                              world: Recorder) -> None:
    acct = _account(client, admin)
    subject = f"via {entry}"
    body = {"subject": subject, "hours": 3, "account": acct}
    if entry == "api":
        r = client.post("/api/v1/records/visit", headers=admin, json=body)
        assert r.status_code == 201, r.json
    elif entry == "bulk":
        r = client.post("/api/v1/records/visit/bulk", headers=admin,
                        json={"mode": "create", "records": [body]})
        assert r.status_code == 200 and r.json["results"][0]["status"] == "created", r.json
    elif entry == "import":
        data = {"file": (io.BytesIO(_csv(("subject", "hours", "account"),
                                         (subject, 3, "Acme"))), "v.csv"), "object": "visit"}
        r = client.post("/api/v1/imports", headers=admin, data=data,
                        content_type="multipart/form-data")
        assert r.status_code == 202, r.json
        assert jobs.wait_local(60)
        done = client.get(f"/api/v1/imports/{r.json['id']}", headers=admin).json
        assert done["status"] == "done" and done["created"] == 1, done
    elif entry == "pack_data":  # pack sample data: RecordService.create_many
        RecordService(instance.tenant("default")).create_many(SYSTEM, "visit", [body])
    elif entry == "trigger":  # a trigger of another object creates the visit
        r = client.post("/api/v1/records/schedule", headers=admin,
                        json={"title": subject, "account": acct})
        assert r.status_code == 201, r.json
        body["hours"] = 2
    elif entry == "page":
        page = browser_session(instance)
        form = page.get("/records/visit/new")
        assert form.status_code == 200, form.text
        r = page.post("/records/visit/new", data={
            "csrf_token": csrf_token(form.text), "subject": subject, "hours": "3",
            "account": str(acct)})
        assert r.status_code in (302, 303), r.text
    _created_traces(client, admin, instance, world, subject, acct, int(body["hours"]))


UPDATES = ["api", "bulk", "import", "trigger", "page", "approval"]


@pytest.mark.parametrize("entry", UPDATES)
def test_every_update_runs_the_whole_sequence(entry: str, instance: Instance,
                                              client: FlaskClient, admin: dict[str, str],
                                              world: Recorder) -> None:
    acct = _account(client, admin)
    r = client.post("/api/v1/records/visit", headers=admin,
                    json={"subject": "first", "hours": 1, "account": acct, "status": "open"})
    assert r.status_code == 201, r.json
    rid = int(r.json["id"])
    note = client.post("/api/v1/records/note", headers=admin, json={"visit": rid})
    assert note.status_code == 201 and note.json["about"] == "first"
    _drain(instance, world)
    world.events.clear()
    world.saves.clear()
    if entry == "api":
        r = client.patch(f"/api/v1/records/visit/{rid}", headers=admin,
                         json={"subject": "second", "hours": 5, "version": 1})
        assert r.status_code == 200, r.json
    elif entry == "bulk":
        r = client.post("/api/v1/records/visit/bulk", headers=admin, json={
            "mode": "update", "records": [{"id": rid, "version": 1, "subject": "second",
                                           "hours": 5}]})
        assert r.status_code == 200 and r.json["results"][0]["status"] == "updated", r.json
    elif entry == "import":
        r = client.patch("/api/v1/meta/objects/visit/fields/subject", headers=admin,
                         json={"unique": True})
        assert r.status_code == 200, r.json
        data = {"file": (io.BytesIO(_csv(("subject", "hours"), ("first", 5)))
                         , "v.csv"), "object": "visit", "mode": "update", "key": "subject"}
        r = client.post("/api/v1/imports", headers=admin, data=data,
                        content_type="multipart/form-data")
        assert r.status_code == 202, r.json
        assert jobs.wait_local(60)
        done = client.get(f"/api/v1/imports/{r.json['id']}", headers=admin).json
        assert done["status"] == "done" and done["updated"] == 1, done
        r = client.patch(f"/api/v1/records/visit/{rid}", headers=admin,
                         json={"subject": "second", "version": 2})
        assert r.status_code == 200, r.json
    elif entry == "trigger":  # a trigger of another object updates the visit
        r = client.patch("/api/v1/meta/objects/schedule", headers=admin, json={"triggers": [
            {"name": "touch", "when": "after_save", "on": ["create"],
             "script": f"update('visit', {rid}, {{'subject': 'second', 'hours': 5}})"}]})
        assert r.status_code == 200, r.json
        assert client.post("/api/v1/records/schedule", headers=admin,
                           json={"title": "x"}).status_code == 201
    elif entry == "page":
        page = browser_session(instance)
        form = page.get(f"/records/visit/{rid}")
        assert form.status_code == 200, form.text
        r = page.post(f"/records/visit/{rid}", data={
            "csrf_token": csrf_token(form.text), "subject": "second", "hours": "5",
            "status": "open", "account": str(acct), "version": "1"})
        assert r.status_code in (302, 303), r.text
    elif entry == "approval":
        r = client.post("/api/v1/meta/processes", headers=admin, json={
            "name": "visit_ok", "object": "visit",
            "steps": [{"name": "boss", "approvers": {"users": ["admin"]}}],
            "on_approve": {"subject": "'second'", "hours": "5"}})
        assert r.status_code == 201, r.json
        r = client.post("/api/v1/approvals", headers=admin, json={"object": "visit",
                                                                  "record": rid})
        assert r.status_code == 201, r.json
        task = client.get("/api/v1/approvals/tasks", headers=admin).json["items"][0]
        r = client.post(f"/api/v1/approvals/tasks/{task['id']}/approve", headers=admin,
                        json={})
        assert r.status_code == 200 and r.json["state"] == "approved", r.json
    record = _get(client, admin, "visit", rid)
    assert record["subject"] == "second" and record["hours"] == 5
    actions = _actions(client, admin, rid)
    assert actions[-1] == ("approval" if entry == "approval" else "update"), actions
    assert _get(client, admin, "account", acct)["hours"] == "5.00"  # the parent's roll-up
    assert _get(client, admin, "note", int(note.json["id"]))["about"] == "second"
    assert "saved second" in _trails(client, admin)  # after-save trigger of the update
    _drain(instance, world)
    updated = [e for e in world.events if e[0] == "record.updated" and e[2] == rid]
    assert updated and updated[-1][3]["subject"][1] == "second", world.events
    # The hooks run for every update but an approval's own (named: pipeline.APPROVAL).
    assert (("visit", rid, False) in world.saves) is (entry != "approval")


def test_transfer_delete_and_restore_publish_their_events(
        instance: Instance, client: FlaskClient, admin: dict[str, str], world: Recorder) -> None:
    acct = _account(client, admin)
    rid = client.post("/api/v1/records/visit", headers=admin,
                      json={"subject": "s", "hours": 4, "account": acct}).json["id"]
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "olga", "password": "Pass-word-1234"})
    assert r.status_code == 201, r.json
    r = client.post(f"/api/v1/records/visit/{rid}/transfer", headers=admin,
                    json={"owner": "olga"})
    assert r.status_code == 200, r.json
    assert _actions(client, admin, rid)[-1] == "transfer"
    assert client.delete(f"/api/v1/records/visit/{rid}", headers=admin).status_code == 204
    assert _get(client, admin, "account", acct)["visits"] == "0"
    assert client.post(f"/api/v1/records/visit/{rid}/restore",
                       headers=admin).status_code == 200
    assert _get(client, admin, "account", acct)["visits"] == "1"
    _drain(instance, world)
    mine = [e[0] for e in world.events if e[2] == rid]
    assert mine == ["record.created", "record.owner_changed", "record.deleted",
                    "record.restored"], mine
    owner = next(e[3] for e in world.events if e[0] == "record.owner_changed")
    assert owner["owner"][1] != owner["owner"][0]


def test_a_rolled_back_write_publishes_nothing(instance: Instance, client: FlaskClient,
                                               admin: dict[str, str], world: Recorder) -> None:
    acct = _account(client, admin)
    r = client.patch("/api/v1/meta/objects/visit", headers=admin, json={"triggers": [
        {"name": "refuse", "when": "after_save", "on": ["create"],
         "script": "add_error('subject', 'no')"}]})
    assert r.status_code == 200, r.json
    r = client.post("/api/v1/records/visit", headers=admin,
                    json={"subject": "gone", "account": acct})
    assert r.status_code == 422, r.json
    _drain(instance, world)
    assert world.events == [] and world.saves == []
    tenant = instance.tenant("default")
    events.ensure_tables(tenant)
    with tenant.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events.outbox)).scalar() == 0


def test_nobody_listening_writes_no_event(instance: Instance, client: FlaskClient,
                                          admin: dict[str, str], world: Recorder) -> None:
    r = client.post("/api/v1/records/account", headers=admin, json={"name": "quiet"})
    assert r.status_code == 201
    events.ensure_tables(instance.tenant("default"))
    with instance.tenant("default").read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events.outbox)).scalar() == 0


def test_events_keep_the_order_of_each_records_writes(
        instance: Instance, client: FlaskClient, admin: dict[str, str], world: Recorder) -> None:
    acct = _account(client, admin)
    ids = [client.post("/api/v1/records/visit", headers=admin,
                       json={"subject": f"v{i}", "account": acct}).json["id"] for i in range(3)]
    for step in range(1, 4):
        for rid in reversed(ids):
            r = client.patch(f"/api/v1/records/visit/{rid}", headers=admin,
                             json={"hours": step, "version": step})
            assert r.status_code == 200, r.json
    _drain(instance, world)
    for rid in ids:
        hours = [e[3]["hours"][1] for e in world.events
                 if e[2] == rid and e[0] == "record.updated"]
        assert hours == [1, 2, 3], world.events
    # a second consumer starts from the beginning, the first one has nothing left
    assert events.consume(instance.tenant("default"), world) == 0


def test_a_slow_commit_is_never_overtaken_by_the_cursor(
        instance: Instance, backend: str, world: Recorder) -> None:
    """Two writers: the first inserts its event and is slow to commit, the second commits
    meanwhile. A consumer reading in between must not move its cursor past the first
    writer's event (it would never see it): the outbox lock orders them."""
    tenant = instance.tenant("default")
    svc = RecordService(tenant)
    acct = svc.create(SYSTEM, "account", {"name": "Acme"})["id"]
    other = svc.create(SYSTEM, "account", {"name": "Other"})["id"]
    svc.create(SYSTEM, "visit", {"subject": "warm-up", "account": acct})
    assert events.consume(tenant, world) == 1
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            with tenant.write():
                svc.create(SYSTEM, "visit", {"subject": "slow", "account": acct})
                tenant.before_commit(lambda: (inserted.set(), release.wait(10)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def quick() -> None:
        try:
            # another parent: the two writes share no row (a roll-up locks its parent)
            svc.create(SYSTEM, "visit", {"subject": "quick", "account": other})
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=slow)
    first.start()
    assert inserted.wait(10), errors
    second = threading.Thread(target=quick)
    second.start()
    second.join(0.5)  # on PostgreSQL it waits for the lock; on SQLite for the write lock
    events.consume(tenant, world)  # in between: must not skip the slow writer's event
    release.set()
    first.join(10)
    second.join(10)
    assert errors == []
    events.consume(tenant, world)
    subjects = [e[3]["subject"][1] for e in world.events if e[0] == "record.created"]
    assert subjects == ["warm-up", "slow", "quick"], subjects


def test_one_waiting_job_serves_a_stream_of_writes(instance: Instance, world: Recorder) -> None:
    """The events' transaction asks whether an ``events`` job waits (with the insert, in
    one round trip on PostgreSQL) and queues one only when none does: three writes, one
    job; once it has started, the next write queues the next one. A write that rolls back
    queues nothing."""
    instance.wire(Wiring(consumers=(world,), events_hint=event_jobs.hint))
    tenant = instance.tenant("default")
    dispatched: list[int] = []
    tenant.dispatch = lambda t, job_id: dispatched.append(job_id)
    svc = RecordService(tenant)
    acct = svc.create(SYSTEM, "account", {"name": "Acme"})["id"]

    def waiting() -> list[int]:
        with tenant.read() as conn:
            return list(conn.execute(sa.select(jobs.job_rows.c.id).where(
                jobs.job_rows.c.kind == event_jobs.KIND,
                jobs.job_rows.c.status == jobs.QUEUED)).scalars())

    for n in range(3):
        svc.create(SYSTEM, "visit", {"subject": f"v{n}", "account": acct})
    assert len(dispatched) == 1 and waiting() == dispatched
    assert jobs.JobStore(tenant).claim(dispatched[0]) is not None  # the worker took it
    assert waiting() == []
    with pytest.raises(RuntimeError), tenant.write():
        svc.create(SYSTEM, "visit", {"subject": "gone", "account": acct})
        raise RuntimeError("rolled back")
    assert waiting() == [] and len(dispatched) == 1
    svc.create(SYSTEM, "visit", {"subject": "next", "account": acct})
    assert len(dispatched) == 2 and waiting() == dispatched[1:]
    tenant.dispatch = None
