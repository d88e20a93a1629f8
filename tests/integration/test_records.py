"""The record service (DESIGN §4): the one write path and the list reads, at the service level.

Covers create/get/update/delete/restore/purge, history, master-detail cascades, conversion
and validation errors keyed by field, every filter operator, sorting with NULLs, cursor
pagination, counts, field selection and text search. Every refused write is checked to leave
the database exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core import (
    BadRequest,
    Conflict,
    CRMError,
    NotFound,
    ValidationFailed,
    parse_list_query,
)
from crmforge.runtime import Designer, RecordService, Tenant, jobs
from crmforge.security import SYSTEM

# -- metadata used by these tests ----------------------------------------------------------

EXHIBITOR = {"name": "exhibitor", "label": {"en": "Exhibitor", "zh": "展商"}, "fields": [
    {"name": "company", "type": "text", "required": True, "searchable": True},
]}

BOOTH = {"name": "booth", "label": {"en": "Booth", "zh": "展位"}, "fields": [
    {"name": "number", "type": "text", "required": True, "unique": True, "max_length": 20,
     "searchable": True},
    {"name": "hall", "type": "text", "max_length": 10},
    {"name": "area", "type": "decimal", "scale": 2, "min": 0},
    {"name": "price", "type": "currency"},
    {"name": "floor", "type": "integer", "min": -5, "max": 200},
    {"name": "status", "type": "picklist", "default": "'available'", "choices": [
        {"value": "available"}, {"value": "reserved"}, {"value": "contracted"}]},
    {"name": "tags", "type": "multipicklist", "choices": [
        {"value": "corner"}, {"value": "island"}, {"value": "power"}]},
    {"name": "vip", "type": "boolean", "default": "False"},
    {"name": "opened", "type": "date"},
    {"name": "seen_at", "type": "datetime"},
    {"name": "contact", "type": "email"},
    {"name": "notes", "type": "textarea", "searchable": True},
    {"name": "code", "type": "autonumber", "format": "B-{0000}"},
    {"name": "exhibitor", "type": "lookup", "target": "exhibitor"},
    {"name": "manager", "type": "user"},
    {"name": "total", "type": "formula", "result_type": "currency", "expression": "area * price"},
]}

EXHIBITION = {"name": "exhibition", "fields": [
    {"name": "title", "type": "text", "required": True}]}
BOOKING = {"name": "booking", "fields": [
    {"name": "ref", "type": "text", "required": True},
    {"name": "show", "type": "master_detail", "target": "exhibition"}]}
PAYMENT = {"name": "payment", "fields": [
    {"name": "amount", "type": "currency"},
    {"name": "booking", "type": "master_detail", "target": "booking"}]}


@pytest.fixture
def records(tenant: Tenant) -> RecordService:
    designer = Designer(tenant)
    for doc in (EXHIBITOR, BOOTH, EXHIBITION, BOOKING, PAYMENT):
        designer.create_object(SYSTEM, doc)
    return RecordService(tenant)


# -- helpers --------------------------------------------------------------------------------


def dump(tenant: Tenant) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the tenant's database, in a stable order."""
    md = sa.MetaData()
    with tenant.engine.connect() as conn:
        md.reflect(conn)
        out = {}
        for name, table in sorted(md.tables.items()):
            rows = conn.execute(sa.select(table)).all()
            out[name] = sorted(tuple(map(repr, r)) for r in rows)
        return out


def refused(tenant: Tenant, error: type[CRMError], action: Callable[[], Any]) -> CRMError:
    """Run a write that must fail with ``error`` and check it changed nothing at all
    (background jobs of earlier changes finish first: their rows are not this write's)."""
    assert jobs.wait_local(60)
    before = dump(tenant)
    with pytest.raises(error) as exc:
        action()
    assert dump(tenant) == before, "a refused write changed the database"
    return exc.value


def ls(records: RecordService, obj: str, **params: Any) -> dict[str, Any]:
    return records.list(SYSTEM, obj, parse_list_query([(k, str(v)) for k, v in params.items()]))


def ids(records: RecordService, obj: str, **params: Any) -> list[int]:
    params.setdefault("limit", 500)
    return [r["id"] for r in ls(records, obj, **params)["items"]]


def walk(records: RecordService, obj: str, limit: int, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a list, page by page through next_cursor."""
    cursor = None
    for _ in range(1000):
        page_params = dict(params, limit=limit)
        if cursor:
            page_params["cursor"] = cursor
        page = ls(records, obj, **page_params)
        assert len(page["items"]) <= limit
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
        assert page["items"], "a page with a next cursor is never empty"
    raise AssertionError("pagination did not end")


def booth(records: RecordService, number: str, **values: Any) -> dict[str, Any]:
    return records.create(SYSTEM, "booth", {"number": number, **values})


# -- create, get, update ---------------------------------------------------------------------


def test_create_returns_the_normalized_record(records: RecordService) -> None:
    """A created record reads back in its documented JSON form, with system fields."""
    ex = records.create(SYSTEM, "exhibitor", {"company": "Acme"})
    created = booth(records, "A-1", hall="h1", area="12.5", price=99, floor=3,
                    tags=["power", "corner"], vip=True, opened="2024-02-29",
                    seen_at="2024-03-10T12:00:00.123456+05:30", contact="ann@example.com",
                    notes="near the door", exhibitor=ex["id"])
    assert created["version"] == 1
    assert isinstance(created["id"], int)
    expected = {"number": "A-1", "hall": "h1", "area": "12.50", "price": "99.00", "floor": 3,
                "status": "available", "tags": ["corner", "power"], "vip": True,
                "opened": "2024-02-29", "seen_at": "2024-03-10T06:30:00.123Z",
                "contact": "ann@example.com", "notes": "near the door", "code": "B-0001",
                "exhibitor": ex["id"], "manager": None}
    assert {k: created[k] for k in expected} == expected
    assert created["created_at"].endswith("Z") and created["updated_at"].endswith("Z")
    assert created["total"] == "1237.50"  # a non-stored formula, computed on read (12.5 * 99)
    assert records.get(SYSTEM, "booth", created["id"]) == created
    assert records.get(SYSTEM, "booth", str(created["id"])) == created


def test_defaults_apply_only_to_absent_fields(records: RecordService) -> None:
    """Defaults fill fields left out on create; an explicit value wins."""
    a = booth(records, "A-1")
    b = booth(records, "A-2", status="reserved", vip=True)
    assert (a["status"], a["vip"]) == ("available", False)
    assert (b["status"], b["vip"]) == ("reserved", True)
    c = records.update(SYSTEM, "booth", a["id"], {"status": None, "version": 1})
    assert c["status"] is None  # defaults never come back on update


def test_autonumber_counts_and_is_never_reused(records: RecordService) -> None:
    """Autonumbers count up per field and a deleted record's number is not reused."""
    first, second = booth(records, "A-1"), booth(records, "A-2")
    assert (first["code"], second["code"]) == ("B-0001", "B-0002")
    records.delete(SYSTEM, "booth", second["id"])
    assert booth(records, "A-3")["code"] == "B-0003"


def test_update_checks_the_version(records: RecordService, tenant: Tenant) -> None:
    """A stale version is a conflict; a matching one bumps the version by one."""
    rec = booth(records, "A-1", area=10)
    updated = records.update(SYSTEM, "booth", rec["id"], {"area": "11", "version": 1})
    assert (updated["version"], updated["area"]) == (2, "11.00")
    err = refused(tenant, Conflict,
                  lambda: records.update(SYSTEM, "booth", rec["id"], {"area": 12, "version": 1}))
    assert err.details == {"current_version": 2}
    refused(tenant, Conflict,
            lambda: records.update(SYSTEM, "booth", rec["id"], {"area": 12}, expected_version=7))
    same = records.update(SYSTEM, "booth", rec["id"], {"area": 12}, expected_version=2)
    assert same["version"] == 3


def test_update_needs_a_version(records: RecordService, tenant: Tenant) -> None:
    """An update without a (whole-number) version is refused; header and body must agree."""
    rec = booth(records, "A-1")
    err = refused(tenant, ValidationFailed,
                  lambda: records.update(SYSTEM, "booth", rec["id"], {"area": 1}))
    assert "version" in err.fields
    refused(tenant, ValidationFailed,
            lambda: records.update(SYSTEM, "booth", rec["id"], {"area": 1, "version": "1"}))
    refused(tenant, ValidationFailed,
            lambda: records.update(SYSTEM, "booth", rec["id"], {"area": 1, "version": True}))
    refused(tenant, BadRequest, lambda: records.update(SYSTEM, "booth", rec["id"],
                                                       {"area": 1, "version": 1},
                                                       expected_version=2))


def test_update_without_changes_keeps_the_version(records: RecordService) -> None:
    """Writing the same values (in another form) is not a change."""
    rec = booth(records, "A-1", area="10.5", seen_at="2024-01-01T00:00:00Z", tags=["island"])
    same = records.update(SYSTEM, "booth", rec["id"], {
        "area": 10.50, "seen_at": "2024-01-01T01:00:00+01:00", "tags": ["island"],
        "number": "A-1", "version": 1})
    assert same == rec
    assert [h for h in records.history(SYSTEM, "booth", rec["id"]) if h["action"] == "update"] == []


def test_update_changes_only_the_given_fields(records: RecordService) -> None:
    """Fields left out of an update keep their values."""
    rec = booth(records, "A-1", hall="h1", floor=2)
    updated = records.update(SYSTEM, "booth", rec["id"], {"floor": 3, "version": 1})
    assert {k: v for k, v in updated.items() if k not in ("floor", "version", "updated_at")} == \
        {k: v for k, v in rec.items() if k not in ("floor", "version", "updated_at")}
    assert updated["floor"] == 3


@pytest.mark.parametrize("bad_id", [0, -1, "abc", "", "1.5", "²", "１", True, None, 10**30])
def test_unknown_ids_are_not_found(records: RecordService, bad_id: Any) -> None:
    """Malformed or unknown ids are a 404, never a crash."""
    booth(records, "A-1")
    with pytest.raises(NotFound):
        records.get(SYSTEM, "booth", bad_id)
    with pytest.raises(NotFound):
        records.get(SYSTEM, "booth", 999)


def test_unknown_object_is_not_found(records: RecordService, tenant: Tenant) -> None:
    """An unknown object is a 404 for reads and writes."""
    with pytest.raises(NotFound):
        records.get(SYSTEM, "nothing", 1)
    refused(tenant, NotFound, lambda: records.create(SYSTEM, "nothing", {}))


# -- refused payloads ---------------------------------------------------------------------------


def test_all_payload_errors_are_reported_at_once(records: RecordService, tenant: Tenant) -> None:
    """Unknown, system and computed fields and bad values are each keyed by field."""
    booth(records, "A-1")
    err = refused(tenant, ValidationFailed, lambda: records.create(SYSTEM, "booth", {
        "bogus": 1, "id": 7, "version": 3, "created_at": "2024-01-01T00:00:00Z",
        "deleted_at": None, "owner_id": 1, "code": "B-9999", "total": "5", "area": "-1",
        "floor": "3", "price": "1.234", "vip": "yes", "opened": "2024-13-01",
        "seen_at": "2024-01-01", "tags": ["nope"], "status": "sold", "contact": "ann",
        "hall": "x" * 11}))
    assert set(err.fields) == {
        "bogus", "id", "version", "created_at", "deleted_at", "owner_id", "code", "total",
        "area", "floor", "price", "vip", "opened", "seen_at", "tags", "status", "contact",
        "hall", "number"}
    assert err.fields["bogus"] == ["no such field"]
    assert err.fields["id"] == ["is set by the system"]
    assert "computed" in err.fields["code"][0] and "computed" in err.fields["total"][0]
    assert err.fields["number"] == ["is required"]
    assert "at least 0" in err.fields["area"][0]


def test_update_payload_errors(records: RecordService, tenant: Tenant) -> None:
    """Update payload errors are keyed by field, all at once."""
    rec = booth(records, "A-1")
    err = refused(tenant, ValidationFailed, lambda: records.update(SYSTEM, "booth", rec["id"], {
        "version": 1, "updated_at": "2024-01-01T00:00:00Z", "number": None, "floor": 1.5,
        "ghost": 1}))
    assert set(err.fields) == {"updated_at", "number", "floor", "ghost"}


@pytest.mark.parametrize("payload", [None, [], "text", 5])
def test_payload_must_be_an_object(records: RecordService, tenant: Tenant, payload: Any) -> None:
    """A payload that is not an object is a 400."""
    refused(tenant, BadRequest, lambda: records.create(SYSTEM, "booth", payload))


@pytest.mark.parametrize("number", [None, ""])
def test_required(records: RecordService, tenant: Tenant, number: Any) -> None:
    """A required field can be neither missing, null nor empty."""
    err = refused(tenant, ValidationFailed,
                  lambda: records.create(SYSTEM, "booth", {"number": number, "hall": "h1"}))
    assert err.fields == {"number": ["is required"]}


def test_unique_on_create_and_update(records: RecordService, tenant: Tenant) -> None:
    """A repeated unique value is a validation error on that field, never a database error;
    a record keeps its own value, and a deleted record still holds its value (restore must
    not collide)."""
    a, b = booth(records, "A-1"), booth(records, "A-2")
    err = refused(tenant, ValidationFailed, lambda: booth(records, "A-1"))
    assert list(err.fields) == ["number"] and "unique" in err.fields["number"][0]
    refused(tenant, ValidationFailed,
            lambda: records.update(SYSTEM, "booth", b["id"], {"number": "A-1", "version": 1}))
    assert records.update(SYSTEM, "booth", a["id"], {"number": "A-1", "version": 1}) == a
    records.delete(SYSTEM, "booth", a["id"])
    refused(tenant, ValidationFailed, lambda: booth(records, "A-1"))
    assert records.restore(SYSTEM, "booth", a["id"])["number"] == "A-1"


def test_unique_within_one_batch(records: RecordService, tenant: Tenant) -> None:
    """create_many refuses repeats inside the batch too, and writes none of the rows."""
    booth(records, "A-1")
    err = refused(tenant, ValidationFailed, lambda: records.create_many(SYSTEM, "booth", [
        {"number": "B-1"}, {"number": "B-2"}, {"number": "B-1"}]))
    assert "number" in err.fields
    refused(tenant, ValidationFailed, lambda: records.create_many(SYSTEM, "booth", [
        {"number": "B-1"}, {"number": "A-1"}]))
    assert len(records.create_many(SYSTEM, "booth", [{"number": "B-1"}, {"number": "B-2"}])) == 2


def test_create_many_reports_the_row(records: RecordService, tenant: Tenant) -> None:
    """A bulk create names the failing row and writes nothing."""
    err = refused(tenant, ValidationFailed, lambda: records.create_many(SYSTEM, "booth", [
        {"number": "B-1"}, {"number": "B-2", "floor": "x"}]))
    assert err.message.startswith("row 2:") and "floor" in err.fields


def test_lookups_must_point_at_live_records(records: RecordService, tenant: Tenant) -> None:
    """Lookups and user fields must name existing, non-deleted records."""
    ex = records.create(SYSTEM, "exhibitor", {"company": "Acme"})
    gone = records.create(SYSTEM, "exhibitor", {"company": "Gone"})
    records.delete(SYSTEM, "exhibitor", gone["id"])
    for target in (999, gone["id"]):
        err = refused(tenant, ValidationFailed,
                      lambda t=target: booth(records, "A-1", exhibitor=t))
        assert list(err.fields) == ["exhibitor"]
    err = refused(tenant, ValidationFailed, lambda: booth(records, "A-1", manager=999))
    assert list(err.fields) == ["manager"]
    assert booth(records, "A-1", exhibitor=str(ex["id"]))["exhibitor"] == ex["id"]


def test_master_detail_is_required_and_must_be_live(records: RecordService,
                                                     tenant: Tenant) -> None:
    """A detail always needs a live master."""
    err = refused(tenant, ValidationFailed,
                  lambda: records.create(SYSTEM, "booking", {"ref": "r1"}))
    assert err.fields == {"show": ["is required"]}
    show = records.create(SYSTEM, "exhibition", {"title": "Expo"})
    records.delete(SYSTEM, "exhibition", show["id"])
    refused(tenant, ValidationFailed,
            lambda: records.create(SYSTEM, "booking", {"ref": "r1", "show": show["id"]}))


# -- delete, restore, purge -------------------------------------------------------------------


def test_delete_and_restore(records: RecordService, tenant: Tenant) -> None:
    """A deleted record disappears from reads, shows in the recycle bin and comes back
    unchanged."""
    rec = booth(records, "A-1", area=5, hall="h1")
    other = booth(records, "A-2")
    records.delete(SYSTEM, "booth", rec["id"])
    with pytest.raises(NotFound):
        records.get(SYSTEM, "booth", rec["id"])
    assert ids(records, "booth") == [other["id"]]
    assert ls(records, "booth", total="true")["total"] == 1
    [entry] = records.recycle_bin(SYSTEM)
    assert (entry["object"], entry["id"], entry["title"]) == ("booth", rec["id"], "A-1")
    refused(tenant, NotFound, lambda: records.delete(SYSTEM, "booth", rec["id"]))
    refused(tenant, NotFound,
            lambda: records.update(SYSTEM, "booth", rec["id"], {"area": 1, "version": 1}))
    refused(tenant, NotFound, lambda: records.restore(SYSTEM, "booth", other["id"]))
    assert records.restore(SYSTEM, "booth", rec["id"]) == rec
    assert records.recycle_bin(SYSTEM) == []
    assert ids(records, "booth") == [rec["id"], other["id"]]


def test_master_detail_cascade(records: RecordService, tenant: Tenant) -> None:
    """Deleting a master deletes its details (two levels); a detail cannot be restored or
    purged alone while its master is in the bin; restoring the master brings all back."""
    show = records.create(SYSTEM, "exhibition", {"title": "Expo"})
    other_show = records.create(SYSTEM, "exhibition", {"title": "Other"})
    b1 = records.create(SYSTEM, "booking", {"ref": "r1", "show": show["id"]})
    b2 = records.create(SYSTEM, "booking", {"ref": "r2", "show": show["id"]})
    b3 = records.create(SYSTEM, "booking", {"ref": "r3", "show": other_show["id"]})
    p1 = records.create(SYSTEM, "payment", {"amount": 10, "booking": b1["id"]})
    records.delete(SYSTEM, "exhibition", show["id"])
    assert ids(records, "booking") == [b3["id"]]
    assert ids(records, "payment") == []
    assert [(e["object"], e["id"]) for e in records.recycle_bin(SYSTEM)] == [
        ("exhibition", show["id"])]
    refused(tenant, Conflict, lambda: records.restore(SYSTEM, "booking", b1["id"]))
    refused(tenant, Conflict, lambda: records.restore(SYSTEM, "payment", p1["id"]))
    refused(tenant, Conflict, lambda: records.purge(SYSTEM, "booking", b1["id"]))
    records.restore(SYSTEM, "exhibition", show["id"])
    assert ids(records, "booking") == [b1["id"], b2["id"], b3["id"]]
    assert records.get(SYSTEM, "payment", p1["id"]) == p1
    assert records.recycle_bin(SYSTEM) == []


def test_detail_deleted_before_its_master(records: RecordService, tenant: Tenant) -> None:
    """A detail deleted on its own stays in the bin when its master comes back, and can
    only be restored once the master is alive."""
    show = records.create(SYSTEM, "exhibition", {"title": "Expo"})
    b1 = records.create(SYSTEM, "booking", {"ref": "r1", "show": show["id"]})
    b2 = records.create(SYSTEM, "booking", {"ref": "r2", "show": show["id"]})
    records.delete(SYSTEM, "booking", b1["id"])
    records.delete(SYSTEM, "exhibition", show["id"])
    refused(tenant, Conflict, lambda: records.restore(SYSTEM, "booking", b1["id"]))
    records.restore(SYSTEM, "exhibition", show["id"])
    assert ids(records, "booking") == [b2["id"]]
    assert records.restore(SYSTEM, "booking", b1["id"]) == b1


def test_purge(records: RecordService, tenant: Tenant) -> None:
    """Purging removes the master and everything deleted with it for good."""
    show = records.create(SYSTEM, "exhibition", {"title": "Expo"})
    b1 = records.create(SYSTEM, "booking", {"ref": "r1", "show": show["id"]})
    records.create(SYSTEM, "payment", {"amount": 10, "booking": b1["id"]})
    keep = records.create(SYSTEM, "exhibition", {"title": "Keep"})
    refused(tenant, NotFound, lambda: records.purge(SYSTEM, "exhibition", keep["id"]))
    records.delete(SYSTEM, "exhibition", show["id"])
    records.purge(SYSTEM, "exhibition", show["id"])
    state = dump(tenant)
    assert len(state["obj_exhibition"]) == 1
    assert state["obj_booking"] == [] and state["obj_payment"] == []
    assert state["sys_recycle_bin"] == []
    refused(tenant, NotFound, lambda: records.restore(SYSTEM, "exhibition", show["id"]))
    with pytest.raises(NotFound):
        records.history(SYSTEM, "exhibition", show["id"])


# -- history ------------------------------------------------------------------------------------


def test_history(records: RecordService) -> None:
    """Create, update, delete and restore leave field-level history with who and when."""
    rec = booth(records, "A-1", area="5")
    records.update(SYSTEM, "booth", rec["id"], {"area": "7.5", "hall": "h2", "version": 1})
    records.delete(SYSTEM, "booth", rec["id"])
    records.restore(SYSTEM, "booth", rec["id"])
    entries = records.history(SYSTEM, "booth", rec["id"])
    shape = [(e["action"], e["field"], e["old"], e["new"], e["version"]) for e in entries]
    assert shape == [
        ("create", "number", None, "A-1", 1),
        ("create", "area", None, "5.00", 1),
        ("create", "status", None, "available", 1),
        ("create", "vip", None, False, 1),
        ("create", "code", None, "B-0001", 1),
        ("update", "area", "5.00", "7.50", 2),
        ("update", "hall", None, "h2", 2),
        ("delete", None, None, None, 2),
        ("restore", None, None, None, 2),
    ]
    assert all(e["by"] == "system" for e in entries)
    assert all(e["at"].endswith("Z") for e in entries)


def test_refused_update_leaves_no_history(records: RecordService, tenant: Tenant) -> None:
    """A refused update writes no history entries."""
    rec = booth(records, "A-1")
    before = records.history(SYSTEM, "booth", rec["id"])
    refused(tenant, ValidationFailed, lambda: records.update(
        SYSTEM, "booth", rec["id"], {"area": "7.5", "floor": "x", "version": 1}))
    assert records.history(SYSTEM, "booth", rec["id"]) == before


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture
def stock(records: RecordService) -> dict[str, int]:
    """Six booths with varied values, NULLs included; returns ids by number."""
    ex = records.create(SYSTEM, "exhibitor", {"company": "Acme"})
    rows = [
        ("b1", {"hall": "ha", "area": "10", "floor": 1, "status": "available", "vip": True,
                "tags": ["corner"], "opened": "2024-01-01", "seen_at": "2024-01-01T10:00:00Z",
                "notes": "Near the ENTRANCE", "exhibitor": ex["id"]}),
        ("b2", {"hall": "ha", "area": "20.5", "floor": 2, "status": "reserved", "vip": False,
                "tags": ["corner", "power"], "opened": "2024-02-01",
                "seen_at": "2024-02-01T10:00:00Z", "notes": "50% off"}),
        ("b3", {"hall": "hb", "area": "30", "floor": 2, "status": "contracted",
                "tags": ["island"], "opened": "2024-03-01", "seen_at": "2024-03-01T10:00:00Z",
                "notes": "under_score"}),
        ("b4", {"hall": "hb", "floor": 3, "status": "available"}),
        ("b5", {"area": "0", "floor": 0, "status": "reserved", "tags": ["power"]}),
        ("x6", {"hall": "hc", "area": "99.99", "status": None}),
    ]
    return {n: booth(records, n, **v)["id"] for n, v in rows}


def by_number(stock: dict[str, int], *numbers: str) -> list[int]:
    return [stock[n] for n in numbers]


@pytest.mark.parametrize(("params", "expected"), [
    ({"hall": "ha"}, ["b1", "b2"]),
    ({"hall__eq": "hb"}, ["b3", "b4"]),
    ({"hall__ne": "ha"}, ["b3", "b4", "b5", "x6"]),  # NULL is "not equal" too
    ({"hall__in": "ha,hc"}, ["b1", "b2", "x6"]),
    ({"hall__isnull": "true"}, ["b5"]),
    ({"hall__isnull": "false"}, ["b1", "b2", "b3", "b4", "x6"]),
    ({"hall__contains": "B"}, ["b3", "b4"]),  # case-insensitive
    ({"hall__startswith": "H"}, ["b1", "b2", "b3", "b4", "x6"]),  # case-insensitive
    ({"number__startswith": "B"}, ["b1", "b2", "b3", "b4", "b5"]),
    ({"hall__gt": "ha"}, ["b3", "b4", "x6"]),
    ({"area": "20.5"}, ["b2"]),
    ({"area": "20.50"}, ["b2"]),
    ({"area__ne": "10"}, ["b2", "b3", "b4", "b5", "x6"]),
    ({"area__lt": "20.5"}, ["b1", "b5"]),
    ({"area__lte": "20.5"}, ["b1", "b2", "b5"]),
    ({"area__gt": "20.5"}, ["b3", "x6"]),
    ({"area__gte": "20.5"}, ["b2", "b3", "x6"]),
    ({"area__between": "10,30"}, ["b1", "b2", "b3"]),  # inclusive
    ({"area__in": "0,30"}, ["b3", "b5"]),
    ({"area__isnull": "1"}, ["b4"]),
    ({"floor__gte": "2", "floor__lt": "3"}, ["b2", "b3"]),
    ({"floor": "0"}, ["b5"]),
    ({"status": "reserved"}, ["b2", "b5"]),
    ({"status__in": "available,contracted"}, ["b1", "b3", "b4"]),
    ({"status__ne": "available"}, ["b2", "b3", "b5", "x6"]),
    ({"status": "sold"}, []),  # not a choice: matches nothing
    ({"vip": "true"}, ["b1"]),
    ({"vip": "false"}, ["b2", "b3", "b4", "b5", "x6"]),
    ({"vip__ne": "true"}, ["b2", "b3", "b4", "b5", "x6"]),
    ({"tags__contains": "power"}, ["b2", "b5"]),
    ({"tags": "corner,power"}, ["b2"]),
    ({"tags": "power,corner"}, ["b2"]),
    ({"tags__isnull": "true"}, ["b4", "x6"]),
    ({"tags__ne": "corner"}, ["b2", "b3", "b4", "b5", "x6"]),
    ({"opened__gte": "2024-02-01"}, ["b2", "b3"]),
    ({"opened__between": "2024-01-15,2024-02-15"}, ["b2"]),
    ({"opened__lt": "2024-02-01"}, ["b1"]),
    ({"seen_at__gt": "2024-02-01T10:00:00Z"}, ["b3"]),
    ({"seen_at__gte": "2024-02-01T12:00:00+02:00"}, ["b2", "b3"]),
    ({"seen_at": "2024-01-01T10:00:00.000Z"}, ["b1"]),
    ({"notes__contains": "entrance"}, ["b1"]),
    ({"notes__contains": "%"}, ["b2"]),  # LIKE wildcards are literal
    ({"notes__contains": "_"}, ["b3"]),
    ({"notes__startswith": "near"}, ["b1"]),
    ({"code__startswith": "B-000"}, ["b1", "b2", "b3", "b4", "b5", "x6"]),
    ({"code__gt": "B-0004"}, ["b5", "x6"]),
    ({"exhibitor__isnull": "false"}, ["b1"]),
    ({"hall": "ha", "area__gt": "15"}, ["b2"]),
])
def test_filter_operators(records: RecordService, stock: dict[str, int],
                          params: dict[str, str], expected: list[str]) -> None:
    """Every operator on every kind of field selects exactly the expected rows."""
    assert ids(records, "booth", **params) == by_number(stock, *expected)


def test_filter_on_references_and_system_fields(records: RecordService,
                                                stock: dict[str, int]) -> None:
    """References, ids and system fields filter like any field."""
    ex_id = records.get(SYSTEM, "booth", stock["b1"])["exhibitor"]
    assert ids(records, "booth", exhibitor=ex_id) == [stock["b1"]]
    assert ids(records, "booth", exhibitor__in=f"{ex_id},999") == [stock["b1"]]
    assert ids(records, "booth", id__in=f"{stock['b2']},{stock['b4']}") == \
        by_number(stock, "b2", "b4")
    assert ids(records, "booth", id__gt=stock["b4"]) == by_number(stock, "b5", "x6")
    assert ids(records, "booth", created_at__gte="2000-01-01T00:00:00Z") == list(stock.values())
    assert ids(records, "booth", version=1) == list(stock.values())


@pytest.mark.parametrize("params", [
    {"ghost": "1"},
    {"area__contains": "1"},  # no such operator for numbers
    {"vip__gt": "true"},
    {"tags__in": "power"},
    {"notes__gt": "a"},
    {"area": "abc"},
    {"floor__in": "1,x"},
    {"opened": "2024-02-30"},
    {"seen_at__gt": "tomorrow"},
    {"vip": "maybe"},
    {"hall__isnull": "maybe"},
    {"total__eq": "5"},  # a computed field cannot be filtered in SQL
    {"deleted_batch": "x"},
])
def test_bad_filters(records: RecordService, stock: dict[str, int],
                     params: dict[str, str]) -> None:
    """Unknown fields, unsupported operators and bad values are a 400."""
    with pytest.raises(BadRequest):
        ls(records, "booth", **params)


def test_deleted_records_are_never_listed(records: RecordService, stock: dict[str, int]) -> None:
    """Filters, search and counts never see deleted records."""
    records.delete(SYSTEM, "booth", stock["b1"])
    assert stock["b1"] not in ids(records, "booth", hall="ha")
    assert stock["b1"] not in ids(records, "booth", q="b1")
    assert ls(records, "booth", total="true")["total"] == 5


# -- sorting and pagination ----------------------------------------------------------------------


def test_multi_field_sort_with_nulls(records: RecordService, stock: dict[str, int]) -> None:
    """NULL sorts as the largest value: last ascending, first descending; ties fall back
    to the next key and finally to id."""
    assert ids(records, "booth", sort="hall,-area") == by_number(
        stock, "b2", "b1", "b4", "b3", "x6", "b5")
    assert ids(records, "booth", sort="-hall,area") == by_number(
        stock, "b5", "x6", "b3", "b4", "b1", "b2")
    assert ids(records, "booth", sort="-area") == by_number(stock, "b4", "x6", "b3", "b2", "b1",
                                                            "b5")
    assert ids(records, "booth", sort="area") == by_number(stock, "b5", "b1", "b2", "b3", "x6",
                                                           "b4")
    assert ids(records, "booth", sort="floor,-id") == by_number(stock, "b5", "b1", "b3", "b2",
                                                                "b4", "x6")
    assert ids(records, "booth", sort="-opened,number") == by_number(
        stock, "b4", "b5", "x6", "b3", "b2", "b1")
    assert ids(records, "booth", sort="vip,-number") == by_number(
        stock, "x6", "b5", "b4", "b3", "b2", "b1")


@pytest.mark.parametrize("sort", ["tags", "notes", "total", "ghost"])
def test_unsortable_fields(records: RecordService, stock: dict[str, int], sort: str) -> None:
    """Multipicklists, long text, computed and unknown fields cannot be sorted."""
    with pytest.raises(BadRequest):
        ls(records, "booth", sort=sort)


@pytest.fixture
def many(records: RecordService) -> list[int]:
    """57 booths with repeated values and NULLs in every sortable column."""
    halls = ["ha", "hb", None, "hc"]
    rows = []
    for i in range(57):
        rows.append({
            "number": f"n{i:03d}",
            "hall": halls[i % 4],
            "area": None if i % 5 == 0 else str((i * 7) % 11),
            "floor": None if i % 6 == 0 else i % 3,
            "vip": None if i % 7 == 0 else i % 2 == 0,
            "opened": None if i % 4 == 1 else f"2024-0{1 + i % 3}-01",
            "seen_at": None if i % 3 == 0 else f"2024-01-01T00:00:0{i % 4}.{i % 2}Z",
            "status": [None, "available", "reserved"][i % 3],
        })
    return records.create_many(SYSTEM, "booth", rows)


@pytest.mark.parametrize("sort", [None, "hall", "-hall", "hall,-area", "-area,floor", "area",
                                  "-floor,-hall", "vip,opened", "-seen_at", "seen_at,-vip",
                                  "status,-number", "-id", "created_at"])
@pytest.mark.parametrize("limit", [1, 7, 56])
def test_cursor_pagination_walks_the_whole_list(records: RecordService, many: list[int],
                                                sort: str | None, limit: int) -> None:
    """Following next_cursor yields exactly the full sorted list: no gaps, no repeats."""
    params = {"sort": sort} if sort else {}
    full = ids(records, "booth", **params)
    assert sorted(full) == sorted(many)
    walked = [r["id"] for r in walk(records, "booth", limit, **params)]
    assert walked == full


def test_cursor_pagination_with_a_filter(records: RecordService, many: list[int]) -> None:
    """Pagination walks filtered lists completely too."""
    params = {"sort": "-area,hall", "floor__isnull": "false", "vip__ne": "true"}
    full = ids(records, "booth", **params)
    assert 0 < len(full) < len(many)
    assert [r["id"] for r in walk(records, "booth", 4, **params)] == full


def test_cursor_survives_writes_between_pages(records: RecordService, many: list[int]) -> None:
    """Keyset pagination: rows inserted before the cursor position do not shift later pages;
    rows inserted after it show up."""
    first = ls(records, "booth", sort="number", limit=10)
    booth(records, "a000")  # sorts before every page already seen
    last = booth(records, "z999")
    cursor = first["next_cursor"]
    seen = [r["id"] for r in first["items"]]
    while cursor:
        page = ls(records, "booth", sort="number", limit=10, cursor=cursor)
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [*many, last["id"]]


@pytest.mark.parametrize("cursor", ["garbage", "WzFd", "e30", "WyJ4IiwieSJd", "!!!"])
def test_bad_cursor(records: RecordService, many: list[int], cursor: str) -> None:
    """A malformed or foreign cursor is a 400."""
    with pytest.raises(BadRequest):
        ls(records, "booth", sort="hall", cursor=cursor)


def test_last_page_has_no_cursor(records: RecordService, many: list[int]) -> None:
    """next_cursor is given exactly when more rows follow."""
    page = ls(records, "booth", limit=57)
    assert len(page["items"]) == 57 and page["next_cursor"] is None
    page = ls(records, "booth", limit=56)
    assert len(page["items"]) == 56 and page["next_cursor"] is not None


def test_total(records: RecordService, many: list[int]) -> None:
    """``total`` counts every match, not the page, and is only given when asked."""
    assert "total" not in ls(records, "booth", limit=5)
    assert ls(records, "booth", limit=5, total="true")["total"] == 57
    expected = len(ids(records, "booth", hall="ha"))
    page = ls(records, "booth", hall="ha", limit=2, total="true")
    assert page["total"] == expected and len(page["items"]) == 2
    assert ls(records, "booth", hall="none", total="true") == {"items": [], "next_cursor": None,
                                                                "total": 0}


# -- field selection and search -------------------------------------------------------------------


def test_fields_selection(records: RecordService, stock: dict[str, int]) -> None:
    """Only the named fields come back, with id and version always present."""
    items = ls(records, "booth", fields="number,area", sort="number")["items"]
    assert items[0] == {"id": stock["b1"], "version": 1, "number": "b1", "area": "10.00"}
    assert all(set(i) == {"id", "version", "number", "area"} for i in items)
    assert records.get(SYSTEM, "booth", stock["b1"], fields=["hall", "created_at"]) == {
        "id": stock["b1"], "version": 1, "hall": "ha",
        "created_at": records.get(SYSTEM, "booth", stock["b1"])["created_at"]}
    with pytest.raises(BadRequest):
        ls(records, "booth", fields="number,ghost")


def test_text_search(records: RecordService, stock: dict[str, int]) -> None:
    """``q`` matches any searchable field, case-insensitively, and nothing else."""
    assert ids(records, "booth", q="entrance") == [stock["b1"]]
    assert ids(records, "booth", q="B") == by_number(stock, "b1", "b2", "b3", "b4", "b5")
    assert ids(records, "booth", q="50%") == [stock["b2"]]
    assert ids(records, "booth", q="%") == [stock["b2"]]
    assert ids(records, "booth", q="ha") == []  # hall is not searchable
    assert ids(records, "booth", q="b", hall="hb") == by_number(stock, "b3", "b4")


def test_search_needs_searchable_fields(records: RecordService) -> None:
    """Searching an object without searchable fields is a 400."""
    records.create(SYSTEM, "exhibition", {"title": "Expo"})
    with pytest.raises(BadRequest):
        ls(records, "exhibition", q="expo")


def test_reads_of_many_values_round_trip(records: RecordService) -> None:
    """Extreme but valid values come back exactly."""
    rec = booth(records, "Z" * 20, area="9999999999999.99", price="-0.01", floor=200,
                seen_at="9999-12-31T23:59:59.999Z", opened="0001-01-01",
                notes="多语言 text ✓ \n with 'quotes' and \"double\" ; -- and \\ backslash")
    assert records.get(SYSTEM, "booth", rec["id"]) == rec
    assert rec["area"] == "9999999999999.99" and rec["price"] == "-0.01"
    assert rec["seen_at"] == "9999-12-31T23:59:59.999Z" and rec["opened"] == "0001-01-01"


def test_create_many_numbers_in_order(records: RecordService) -> None:
    """Bulk creates keep the order of the rows, autonumbers included."""
    made = records.create_many(SYSTEM, "booth", [{"number": f"m{i}"} for i in range(3)])
    got = [records.get(SYSTEM, "booth", i) for i in made]
    assert [g["number"] for g in got] == ["m0", "m1", "m2"]
    assert [g["code"] for g in got] == ["B-0001", "B-0002", "B-0003"]


def test_concurrent_first_autonumbers_never_collide(records: RecordService) -> None:
    """Writers racing for a field's first number each get their own (on PostgreSQL
    they run concurrently under READ COMMITTED; the counter is one atomic upsert)."""
    import threading

    barrier = threading.Barrier(6)
    codes: list[str] = []
    failures: list[BaseException] = []

    def create(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            codes.append(booth(records, f"R-{i}")["code"])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    assert sorted(codes) == [f"B-{n:04d}" for n in range(1, 7)]


def test_a_unique_value_written_twice_at_once_is_refused_on_the_field(
        records: RecordService, tenant: Tenant) -> None:
    """Both writers pass the unique check before either inserts (on PostgreSQL); the
    second meets the unique index and gets the field's 422, never a server error."""
    import threading

    barrier = threading.Barrier(4)
    made: list[int] = []
    refusals: list[ValidationFailed] = []
    failures: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait(timeout=10)
            made.append(booth(records, "SAME")["id"])
        except ValidationFailed as exc:
            refusals.append(exc)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    assert len(made) == 1 and len(refusals) == 3
    assert all(r.fields == {"number": ["must be unique; another record has this value"]}
               for r in refusals)
    assert ids(records, "booth", number="SAME") == made
