"""Online migrations (DESIGN §3): metadata changes become DDL in the same transaction, on a
populated table. Add and rename are instant, removal keeps the data in a recycle bin until
purged, type changes convert every value or refuse with a report, rollback republishes an old
version, and a failed change leaves metadata version, schema and data exactly as they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core import (
    Conflict,
    ConversionRefused,
    CRMError,
    NotFound,
    ValidationFailed,
    parse_list_query,
)
from crmforge.runtime import Designer, RecordService, Tenant, jobs
from crmforge.security import SYSTEM

ROWS = 200
COLORS = ["red", "green", "blue"]


def row_values(i: int) -> dict[str, Any]:
    """Row ``i`` of the populated table: varied values, NULLs included. Rows whose number
    is a multiple of 37 carry the values that block the "refused" conversions."""
    odd = i % 37 == 0
    return {
        "label": f"item {i:03d}",
        "qty": None if i % 10 == 0 else i * 3 - 100,
        "amount": None if i % 9 == 0 else (f"{i}.25" if odd else f"{i * 2}.00"),
        "whole": None if i % 8 == 0 else f"{i * 5}.00",
        "code": None if i % 7 == 0 else str(i * 11 - 500),
        "mixed": None if i % 7 == 0 else (f"x{i}" if odd else str(i)),
        "color": None if i % 6 == 0 else COLORS[i % 3],
        "shade": COLORS[i % 3] if not odd else "purple",
        "day": None if i % 5 == 0 else (dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat(),
        "moment": None if i % 4 == 0 else f"2024-02-{1 + i % 28:02d}T{13 if odd else 0:02d}:00Z",
        "midnight": None if i % 3 == 0 else f"2024-03-{1 + i % 28:02d}T00:00:00Z",
        "note": None if i % 11 == 0 else ("n" * (20 + i % 7) if odd else f"note {i}"),
    }


ITEM = {"name": "item", "fields": [
    {"name": "label", "type": "text", "required": True, "searchable": True},
    {"name": "qty", "type": "integer"},
    {"name": "amount", "type": "decimal", "scale": 2},
    {"name": "whole", "type": "decimal", "scale": 2},
    {"name": "code", "type": "text", "max_length": 40},
    {"name": "mixed", "type": "text"},
    {"name": "color", "type": "text"},
    {"name": "shade", "type": "text"},
    {"name": "day", "type": "date"},
    {"name": "moment", "type": "datetime"},
    {"name": "midnight", "type": "datetime"},
    {"name": "note", "type": "text", "max_length": 100},
]}


@pytest.fixture
def designer(tenant: Tenant) -> Designer:
    return Designer(tenant)


@pytest.fixture
def records(tenant: Tenant) -> RecordService:
    return RecordService(tenant)


@pytest.fixture
def items(designer: Designer, records: RecordService) -> dict[int, dict[str, Any]]:
    """The populated ``item`` table: record id -> the record as first read back."""
    designer.create_object(SYSTEM, ITEM)
    ids = records.create_many(SYSTEM, "item", [row_values(i) for i in range(ROWS)])
    assert len(ids) == ROWS
    return {r["id"]: r for r in all_records(records, "item")}


# -- helpers --------------------------------------------------------------------------------


def all_records(records: RecordService, obj: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = [("limit", "500")] + ([("cursor", cursor)] if cursor else [])
        page = records.list(SYSTEM, obj, parse_list_query(params))
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def values_of(records: RecordService, obj: str, field: str) -> dict[int, Any]:
    return {r["id"]: r.get(field, "<absent>") for r in all_records(records, obj)}


def columns(tenant: Tenant, table: str) -> dict[str, sa.types.TypeEngine[Any]]:
    with tenant.engine.connect() as conn:
        return {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table)}


def indexes(tenant: Tenant, table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    with tenant.engine.connect() as conn:
        return {ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in sa.inspect(conn).get_indexes(table)}


def tables(tenant: Tenant) -> set[str]:
    with tenant.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def schema_state(tenant: Tenant) -> dict[str, Any]:
    """Every table's columns (name, type, nullability) and indexes."""
    with tenant.engine.connect() as conn:
        insp = sa.inspect(conn)
        return {t: ([(c["name"], repr(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
                    sorted((ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                           for ix in insp.get_indexes(t)))
                for t in sorted(insp.get_table_names())}


def data_state(tenant: Tenant) -> dict[str, list[tuple[str, ...]]]:
    md = sa.MetaData()
    with tenant.engine.connect() as conn:
        md.reflect(conn)
        return {name: sorted(tuple(map(repr, r)) for r in conn.execute(sa.select(t)).all())
                for name, t in sorted(md.tables.items())}


def refused(tenant: Tenant, error: type[CRMError], action: Callable[[], Any]) -> CRMError:
    """A refused change leaves the metadata version, the schema and every row untouched.
    Background jobs of earlier changes finish first: their rows are not this change's."""
    assert jobs.wait_local(60)
    designer = Designer(tenant)
    version, schema, data = designer.snapshot().version, schema_state(tenant), data_state(tenant)
    with pytest.raises(error) as exc:
        action()
    assert designer.snapshot().version == version
    assert schema_state(tenant) == schema
    assert data_state(tenant) == data
    return exc.value


def field_id(designer: Designer, obj: str, field: str) -> str:
    o = designer.snapshot().object(obj)
    assert o is not None and o.field(field) is not None
    return o.field(field).id  # type: ignore[union-attr]


def odd_ids(items: dict[int, dict[str, Any]], field: str, pred: Callable[[Any], bool]) -> list[int]:
    return sorted(i for i, r in items.items() if r[field] is not None and pred(r[field]))


# -- add, rename, relabel ---------------------------------------------------------------------


def test_populated_table_reads_back(items: dict[int, dict[str, Any]]) -> None:
    """The fixture table holds the expected 200 rows."""
    assert len(items) == ROWS
    first = items[min(items)]
    assert first["label"] == "item 000" and first["amount"] is None and first["day"] is None


def test_add_field(designer: Designer, records: RecordService, tenant: Tenant,
                   items: dict[int, dict[str, Any]]) -> None:
    """A new field is a new empty column; existing rows read it as null and can set it."""
    version = designer.snapshot().version
    added = designer.add_field(SYSTEM, "item", {"name": "rating", "type": "integer",
                                                "min": 1, "max": 5})
    assert added["version"] == version + 1 and added["id"].startswith("fld_")
    assert isinstance(columns(tenant, "obj_item")["rating"], sa.Integer)
    assert set(values_of(records, "item", "rating").values()) == {None}
    rid = min(items)
    updated = records.update(SYSTEM, "item", rid, {"rating": 4, "version": 1})
    assert updated["rating"] == 4
    assert {k: v for k, v in updated.items() if k not in ("rating", "version", "updated_at")} \
        == {k: v for k, v in items[rid].items() if k not in ("version", "updated_at")}
    history = designer.history()[0]
    assert history["version"] == version + 1
    assert [d["kind"] for d in history["diff"]] == ["add_column"]


def test_add_field_that_exists(designer: Designer, tenant: Tenant,
                               items: dict[int, dict[str, Any]]) -> None:
    """Adding a field with a taken or invalid name changes nothing."""
    refused(tenant, Conflict, lambda: designer.add_field(SYSTEM, "item",
                                                         {"name": "qty", "type": "integer"}))
    refused(tenant, ValidationFailed, lambda: designer.add_field(
        SYSTEM, "item", {"name": "select", "type": "integer"}))


def test_rename_field(designer: Designer, records: RecordService, tenant: Tenant,
                      items: dict[int, dict[str, Any]]) -> None:
    """A rename keeps the field id, the column's data and its type; the old name is gone."""
    fid = field_id(designer, "item", "qty")
    before = values_of(records, "item", "qty")
    renamed = designer.update_field(SYSTEM, "item", "qty", {"name": "quantity"})
    assert (renamed["name"], renamed["id"]) == ("quantity", fid)
    cols = columns(tenant, "obj_item")
    assert "qty" not in cols and isinstance(cols["quantity"], sa.Integer)
    assert values_of(records, "item", "quantity") == before
    assert values_of(records, "item", "qty") == dict.fromkeys(before, "<absent>")
    err = refused(tenant, ValidationFailed,
                  lambda: records.create(SYSTEM, "item", {"label": "x", "qty": 1}))
    assert err.fields == {"qty": ["no such field"]}
    positive = records.list(SYSTEM, "item", parse_list_query([("quantity__gt", "0"),
                                                              ("limit", "500")]))["items"]
    assert {r["id"] for r in positive} == {i for i, v in before.items() if v is not None and v > 0}


def test_rename_to_a_taken_or_bad_name(designer: Designer, tenant: Tenant,
                                       items: dict[int, dict[str, Any]]) -> None:
    """Renaming onto another field, a bad name or a missing field changes nothing."""
    refused(tenant, Conflict, lambda: designer.update_field(SYSTEM, "item", "qty",
                                                            {"name": "amount"}))
    refused(tenant, ValidationFailed, lambda: designer.update_field(SYSTEM, "item", "qty",
                                                                    {"name": "Qty"}))
    refused(tenant, NotFound, lambda: designer.update_field(SYSTEM, "item", "ghost",
                                                            {"name": "x"}))


def test_relabel_changes_no_schema(designer: Designer, records: RecordService, tenant: Tenant,
                                   items: dict[int, dict[str, Any]]) -> None:
    """A label change is a new version with no DDL and no data change."""
    schema, data = schema_state(tenant), all_records(records, "item")
    version = designer.snapshot().version
    out = designer.update_field(SYSTEM, "item", "qty", {"label": {"en": "Quantity",
                                                                  "zh": "数量"}})
    assert out["label"] == {"en": "Quantity", "zh": "数量"} and out["version"] == version + 1
    assert schema_state(tenant) == schema
    assert all_records(records, "item") == data
    assert designer.history()[0]["diff"] == []


# -- remove, restore, purge ---------------------------------------------------------------------


def test_remove_and_restore_field(designer: Designer, records: RecordService, tenant: Tenant,
                                  items: dict[int, dict[str, Any]]) -> None:
    """A removed field disappears from records but its column (and data) is kept under a
    recycle-bin name; restoring it brings every value back."""
    fid = field_id(designer, "item", "amount")
    before = values_of(records, "item", "amount")
    designer.remove_field(SYSTEM, "item", "amount")
    cols = columns(tenant, "obj_item")
    assert "amount" not in cols and "rb_" + fid in cols
    assert all("amount" not in r for r in all_records(records, "item"))
    err = refused(tenant, ValidationFailed,
                  lambda: records.create(SYSTEM, "item", {"label": "x", "amount": "1"}))
    assert err.fields == {"amount": ["no such field"]}
    bin_fields = designer.recycle_bin()["fields"]
    assert [(f["object"], f["name"], f["id"]) for f in bin_fields] == [("item", "amount", fid)]
    restored = designer.restore_field(SYSTEM, "item", "amount")
    assert restored["id"] == fid
    assert values_of(records, "item", "amount") == before
    assert "rb_" + fid not in columns(tenant, "obj_item")
    assert designer.recycle_bin()["fields"] == []


def test_removed_field_name_can_be_reused(designer: Designer, records: RecordService,
                                          tenant: Tenant,
                                          items: dict[int, dict[str, Any]]) -> None:
    """A removed field's name is free; its data comes back once the name is free again."""
    before = values_of(records, "item", "qty")
    designer.remove_field(SYSTEM, "item", "qty")
    designer.add_field(SYSTEM, "item", {"name": "qty", "type": "text"})
    assert set(values_of(records, "item", "qty").values()) == {None}
    refused(tenant, Conflict, lambda: designer.restore_field(SYSTEM, "item", "qty"))
    designer.update_field(SYSTEM, "item", "qty", {"name": "qty_text"})
    designer.restore_field(SYSTEM, "item", "qty")
    assert values_of(records, "item", "qty") == before


def test_purge_field(designer: Designer, tenant: Tenant,
                     items: dict[int, dict[str, Any]]) -> None:
    """Purging drops the kept column for good."""
    fid = field_id(designer, "item", "note")
    designer.remove_field(SYSTEM, "item", "note")
    designer.purge_field(SYSTEM, "item", "note")
    assert "rb_" + fid not in columns(tenant, "obj_item")
    assert "note" not in columns(tenant, "obj_item")
    refused(tenant, NotFound, lambda: designer.restore_field(SYSTEM, "item", "note"))
    refused(tenant, NotFound, lambda: designer.purge_field(SYSTEM, "item", "note"))


def test_remove_and_restore_object(designer: Designer, records: RecordService, tenant: Tenant,
                                   items: dict[int, dict[str, Any]]) -> None:
    """A removed object's table moves to the recycle bin with its rows; restore brings it
    back as it was."""
    before = all_records(records, "item")
    obj_id = designer.snapshot().object("item").id  # type: ignore[union-attr]
    designer.remove_object(SYSTEM, "item")
    assert "obj_item" not in tables(tenant) and "rb_" + obj_id in tables(tenant)
    with pytest.raises(NotFound):
        records.get(SYSTEM, "item", min(items))
    refused(tenant, NotFound, lambda: records.create(SYSTEM, "item", {"label": "x"}))
    assert [o["name"] for o in designer.recycle_bin()["objects"]] == ["item"]
    designer.restore_object(SYSTEM, "item")
    assert "obj_item" in tables(tenant) and "rb_" + obj_id not in tables(tenant)
    assert all_records(records, "item") == before


def test_object_referenced_by_a_lookup_cannot_be_removed(designer: Designer, tenant: Tenant,
                                                         items: dict[int, dict[str, Any]]
                                                         ) -> None:
    """An object other objects point at cannot be removed."""
    designer.create_object(SYSTEM, {"name": "box", "fields": [
        {"name": "title", "type": "text"},
        {"name": "item", "type": "lookup", "target": "item"}]})
    err = refused(tenant, Conflict, lambda: designer.remove_object(SYSTEM, "item"))
    assert "box.item" in err.message


def test_purge_object(designer: Designer, tenant: Tenant,
                      items: dict[int, dict[str, Any]]) -> None:
    """Purging drops the kept table and frees the name."""
    obj_id = designer.snapshot().object("item").id  # type: ignore[union-attr]
    designer.remove_object(SYSTEM, "item")
    designer.purge_object(SYSTEM, "item")
    assert not {"obj_item", "rb_" + obj_id} & tables(tenant)
    refused(tenant, NotFound, lambda: designer.restore_object(SYSTEM, "item"))
    designer.create_object(SYSTEM, ITEM)  # the name is free again
    assert columns(tenant, "obj_item")


# -- type changes --------------------------------------------------------------------------------


def case_id(case: tuple[Any, ...]) -> str:
    field, patch = case[0], case[1]
    return field + "-" + "-".join(f"{k}={v}" for k, v in patch.items() if k != "choices")


def _whole(v: str) -> bool:
    return Decimal(v) == Decimal(v).to_integral_value()


CONVERSIONS = [
    # (field, patch, expected new JSON value from the old JSON value)
    ("qty", {"type": "decimal", "scale": 2}, lambda v: f"{v}.00"),
    ("qty", {"type": "text"}, str),
    ("qty", {"type": "currency"}, lambda v: f"{v}.00"),
    ("code", {"type": "integer"}, int),
    ("whole", {"type": "integer"}, lambda v: int(Decimal(v))),
    ("amount", {"scale": 4}, lambda v: f"{Decimal(v):.4f}"),
    ("color", {"type": "picklist", "choices": [{"value": c} for c in COLORS]}, str),
    ("day", {"type": "datetime"}, lambda v: v + "T00:00:00.000Z"),
    ("midnight", {"type": "date"}, lambda v: v[:10]),
    ("note", {"max_length": 200}, str),
    ("note", {"max_length": 26}, str),  # every value fits
    ("note", {"type": "textarea"}, str),
]


@pytest.mark.parametrize(("field", "patch", "convert"), CONVERSIONS,
                         ids=[case_id(c) for c in CONVERSIONS])
def test_safe_type_changes_keep_every_value(designer: Designer, records: RecordService,
                                            tenant: Tenant, items: dict[int, dict[str, Any]],
                                            field: str, patch: dict[str, Any],
                                            convert: Callable[[Any], Any]) -> None:
    """Each value converts exactly; NULLs stay NULL; the field keeps its id and indexes."""
    fid = field_id(designer, "item", field)
    before = values_of(records, "item", field)
    dry = designer.update_field(SYSTEM, "item", field, patch, dry_run=True)
    assert dry["convertible"] is True and dry["failures"] == []
    changed = designer.update_field(SYSTEM, "item", field, patch)
    assert changed["id"] == fid
    after = values_of(records, "item", field)
    assert after == {i: None if v is None else convert(v) for i, v in before.items()}
    others = [f["name"] for f in ITEM["fields"] if f["name"] != field]
    for r in all_records(records, "item"):
        assert {k: r[k] for k in others} == {k: items[r["id"]][k] for k in others}
    assert not any(c.startswith("cv_") for c in columns(tenant, "obj_item"))


def test_changed_type_is_enforced_on_writes(designer: Designer, records: RecordService,
                                            items: dict[int, dict[str, Any]]) -> None:
    """After a type change the new column type and conversion apply."""
    designer.update_field(SYSTEM, "item", "code", {"type": "integer"})
    assert isinstance(columns(records.tenant, "obj_item")["code"], sa.Integer)
    assert records.create(SYSTEM, "item", {"label": "x", "code": 7})["code"] == 7
    refused(records.tenant, ValidationFailed,
            lambda: records.create(SYSTEM, "item", {"label": "x", "code": "7"}))


REFUSED = [
    # (field, patch, predicate on the old JSON value that marks the rows that cannot convert)
    ("mixed", {"type": "integer"}, lambda v: not v.lstrip("-").isdigit()),
    ("amount", {"type": "integer"}, lambda v: not _whole(v)),
    ("amount", {"scale": 0}, lambda v: not _whole(v)),
    ("amount", {"scale": 1}, lambda v: Decimal(v) != round(Decimal(v), 1)),
    ("shade", {"type": "picklist", "choices": [{"value": c} for c in COLORS]},
     lambda v: v not in COLORS),
    ("moment", {"type": "date"}, lambda v: not v.endswith("T00:00:00.000Z")),
    ("note", {"max_length": 20}, lambda v: len(v) > 20),
    ("label", {"type": "integer"}, lambda v: True),
    ("qty", {"type": "boolean"}, lambda v: True),
    ("day", {"type": "integer"}, lambda v: True),
]


@pytest.mark.parametrize(("field", "patch", "fails"), REFUSED,
                         ids=[case_id(c) for c in REFUSED])
def test_lossy_type_changes_are_refused_with_a_report(
        designer: Designer, records: RecordService, tenant: Tenant,
        items: dict[int, dict[str, Any]], field: str, patch: dict[str, Any],
        fails: Callable[[Any], bool]) -> None:
    """A change that would lose any value changes nothing and reports the failing rows
    (ids and values); the dry run reports the same without trying."""
    failing = odd_ids(items, field, fails)
    assert failing, "the fixture must hold values that cannot convert"
    dry = designer.update_field(SYSTEM, "item", field, patch, dry_run=True)
    assert dry["convertible"] is False
    assert dry["failure_count"] == len(failing)
    assert dry["rows"] == sum(1 for r in items.values() if r[field] is not None)
    assert sorted(f["id"] for f in dry["failures"]) == failing[:100]
    assert all(f["value"] == items[f["id"]][field] and f["error"] for f in dry["failures"])
    err = refused(tenant, ConversionRefused,
                  lambda: designer.update_field(SYSTEM, "item", field, patch))
    assert err.details["failure_count"] == len(failing)
    assert sorted(f["id"] for f in err.details["failures"]) == failing[:100]
    assert field in err.fields and f"{len(failing)} of" in err.message


def test_conversion_to_a_non_scalar_type_is_refused(designer: Designer, tenant: Tenant,
                                                    items: dict[int, dict[str, Any]]) -> None:
    """Scalars do not become references."""
    err = refused(tenant, ConversionRefused, lambda: designer.update_field(
        SYSTEM, "item", "qty", {"type": "user"}))
    assert "cannot become" in err.message


def test_dry_run_changes_nothing(designer: Designer, tenant: Tenant,
                                 items: dict[int, dict[str, Any]]) -> None:
    """A dry run validates and reports but never writes: no version, no DDL, no data."""
    version, schema, data = designer.snapshot().version, schema_state(tenant), data_state(tenant)
    ok = designer.update_field(SYSTEM, "item", "qty", {"type": "text", "name": "qty_text"},
                               dry_run=True)
    assert ok == {"dry_run": True, "convertible": True, "failures": [], "failure_count": 0,
                  "rows": sum(1 for r in items.values() if r["qty"] is not None)}
    bad = designer.update_field(SYSTEM, "item", "note", {"max_length": 20}, dry_run=True)
    assert bad["convertible"] is False
    label = designer.update_field(SYSTEM, "item", "note", {"label": {"en": "N"}}, dry_run=True)
    assert label["convertible"] is True
    assert designer.snapshot().version == version
    assert schema_state(tenant) == schema and data_state(tenant) == data
    refused(tenant, ValidationFailed, lambda: designer.update_field(
        SYSTEM, "item", "note", {"max_length": 0}, dry_run=True))


# -- failing changes leave everything unchanged ----------------------------------------------------


@pytest.mark.parametrize(("change", "error"), [
    (lambda d: d.update_field(SYSTEM, "item", "qty", {"type": "bogus"}), ValidationFailed),
    (lambda d: d.update_field(SYSTEM, "item", "qty", {"min": 5, "max": 1}), ValidationFailed),
    (lambda d: d.add_field(SYSTEM, "item", {"name": "x", "type": "lookup", "target": "no"}),
     ValidationFailed),
    (lambda d: d.update_object(SYSTEM, "item", {"name": "Item"}), ValidationFailed),
    (lambda d: d.update_object(SYSTEM, "item", {"fields": []}), ValidationFailed),
    (lambda d: d.remove_field(SYSTEM, "item", "ghost"), NotFound),
    (lambda d: d.remove_field(SYSTEM, "ghost", "qty"), NotFound),
    (lambda d: d.restore_object(SYSTEM, "item"), NotFound),
    (lambda d: d.create_object(SYSTEM, ITEM), Conflict),
    (lambda d: d.update_field(SYSTEM, "item", "mixed", {"type": "integer", "name": "mixed_no"}),
     ConversionRefused),
    (lambda d: d.update_field(SYSTEM, "item", "color", {"unique": True, "name": "colour"}),
     ConversionRefused),
])
def test_failing_change_leaves_version_schema_and_data(designer: Designer, tenant: Tenant,
                                                       items: dict[int, dict[str, Any]],
                                                       change: Callable[[Designer], Any],
                                                       error: type[CRMError]) -> None:
    """Every kind of refused change leaves version, schema and data untouched."""
    refused(tenant, error, lambda: change(designer))


def test_failure_after_earlier_ddl_rolls_all_of_it_back(designer: Designer, tenant: Tenant,
                                                        items: dict[int, dict[str, Any]]) -> None:
    """One change that renames, converts one field fine and then fails on another field
    leaves not even the successful parts behind."""
    doc = designer.object_doc(designer.snapshot(), "item")
    for f in doc["fields"]:
        if f["name"] == "qty":
            f["type"] = "decimal"  # converts
        if f["name"] == "mixed":
            f["type"] = "integer"  # does not
    doc["fields"].append({"name": "extra", "type": "text"})
    doc["name"] = "thing"
    refused(tenant, ConversionRefused, lambda: designer.update_object(SYSTEM, "item", doc))
    assert "obj_thing" not in tables(tenant)


# -- rollback ----------------------------------------------------------------------------------


def test_rollback_to_an_earlier_version(designer: Designer, records: RecordService,
                                        tenant: Tenant, items: dict[int, dict[str, Any]]) -> None:
    """Rolling back publishes the old metadata as a new version; fields the old version
    lacks go to the recycle bin with their data, renames are undone, data is kept."""
    base = designer.snapshot().version
    qty = values_of(records, "item", "qty")
    designer.add_field(SYSTEM, "item", {"name": "rating", "type": "integer"})
    records.update(SYSTEM, "item", min(items), {"rating": 5, "version": 1})
    designer.update_field(SYSTEM, "item", "qty", {"name": "quantity"})
    designer.update_field(SYSTEM, "item", "code", {"type": "integer"})
    designer.remove_field(SYSTEM, "item", "note")
    designer.create_object(SYSTEM, {"name": "extra", "fields": [{"name": "t", "type": "text"}]})
    records.create(SYSTEM, "extra", {"t": "kept"})

    rolled = designer.rollback(SYSTEM, base)
    assert rolled.version == base + 6
    now = designer.snapshot()
    assert [f.name for f in now.object("item").fields] == [  # type: ignore[union-attr]
        f["name"] for f in ITEM["fields"]]
    assert now.object("extra") is None
    assert values_of(records, "item", "qty") == qty
    assert values_of(records, "item", "code") == {i: r["code"] for i, r in items.items()}
    assert values_of(records, "item", "note") == {i: r["note"] for i, r in items.items()}
    assert isinstance(columns(tenant, "obj_item")["code"], sa.String)
    bin_ = designer.recycle_bin()
    assert [f["name"] for f in bin_["fields"]] == ["rating"]
    assert [o["name"] for o in bin_["objects"]] == ["extra"]
    designer.restore_field(SYSTEM, "item", "rating")
    assert records.get(SYSTEM, "item", min(items))["rating"] == 5
    designer.restore_object(SYSTEM, "extra")
    assert [r["t"] for r in all_records(records, "extra")] == ["kept"]
    assert [h["version"] for h in designer.history()][:3] == [base + 8, base + 7, base + 6]


def test_rollback_refused_when_data_would_not_convert(designer: Designer,
                                                      records: RecordService, tenant: Tenant,
                                                      items: dict[int, dict[str, Any]]) -> None:
    """Rollback converts like any change: values that would not fit refuse it."""
    base = designer.snapshot().version
    designer.update_field(SYSTEM, "item", "note", {"type": "textarea", "max_length": None})
    records.update(SYSTEM, "item", min(items), {"note": "x" * 150, "version": 1})
    refused(tenant, ConversionRefused, lambda: designer.rollback(SYSTEM, base))


def test_rollback_to_a_missing_version(designer: Designer, tenant: Tenant,
                                       items: dict[int, dict[str, Any]]) -> None:
    """Rolling back to a version that never existed is a 404."""
    refused(tenant, NotFound, lambda: designer.rollback(SYSTEM, 999))


SCOPE = ("id", "owner_id", "department_id")

# -- indexes -------------------------------------------------------------------------------------


def test_indexes_come_from_field_options(designer: Designer, tenant: Tenant) -> None:
    """unique -> a unique index, indexed and references -> an index, named by field id so
    renames never touch them; non-unique ones end with the scope columns."""
    designer.create_object(SYSTEM, {"name": "other", "fields": [{"name": "t", "type": "text"}]})
    designer.create_object(SYSTEM, {"name": "thing", "fields": [
        {"name": "code", "type": "text", "unique": True},
        {"name": "region", "type": "text", "indexed": True},
        {"name": "plain", "type": "text"},
        {"name": "other", "type": "lookup", "target": "other"},
        {"name": "boss", "type": "user"}]})
    ids = {n: field_id(designer, "thing", n) for n in ("code", "region", "other", "boss",
                                                        "plain")}
    ix = indexes(tenant, "obj_thing")
    assert ix["uq_" + ids["code"]] == (("code",), True)
    assert ix["ix_" + ids["region"]] == (("region", *SCOPE), False)
    assert ix["ix_" + ids["other"]] == (("other", *SCOPE), False)
    assert ix["ix_" + ids["boss"]] == (("boss", *SCOPE), False)
    assert not any(ids["plain"] in name for name in ix)

    designer.update_field(SYSTEM, "thing", "code", {"name": "ref"})
    assert indexes(tenant, "obj_thing")["uq_" + ids["code"]] == (("ref",), True)
    designer.update_field(SYSTEM, "thing", "ref", {"unique": None, "indexed": True})
    ix = indexes(tenant, "obj_thing")
    assert "uq_" + ids["code"] not in ix and ix["ix_" + ids["code"]] == (("ref", *SCOPE), False)
    designer.update_field(SYSTEM, "thing", "plain", {"unique": True})
    assert indexes(tenant, "obj_thing")["uq_" + ids["plain"]] == (("plain",), True)
    designer.remove_field(SYSTEM, "thing", "region")
    assert "ix_" + ids["region"] not in indexes(tenant, "obj_thing")
    designer.restore_field(SYSTEM, "thing", "region")
    assert indexes(tenant, "obj_thing")["ix_" + ids["region"]] == (("region", *SCOPE), False)


def test_unique_index_survives_a_type_change(designer: Designer, tenant: Tenant,
                                             items: dict[int, dict[str, Any]]) -> None:
    """A converted unique field keeps its unique index."""
    designer.update_field(SYSTEM, "item", "label", {"unique": True})
    designer.update_field(SYSTEM, "item", "label", {"max_length": 50})
    fid = field_id(designer, "item", "label")
    assert indexes(tenant, "obj_item")["uq_" + fid] == (("label",), True)


def test_unique_is_enforced_by_the_database(designer: Designer, tenant: Tenant) -> None:
    """The unique index holds even for writes that bypass the service."""
    designer.create_object(SYSTEM, {"name": "thing", "fields": [
        {"name": "code", "type": "text", "unique": True}]})
    RecordService(tenant).create(SYSTEM, "thing", {"code": "a"})
    now = dt.datetime(2024, 1, 1)
    with pytest.raises(sa.exc.IntegrityError), tenant.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO obj_thing (code, created_at, updated_at, version) "
                             "VALUES (:c, :n, :n, 1)"), {"c": "a", "n": now})


def test_making_a_field_unique_with_repeated_values_is_refused(
        designer: Designer, tenant: Tenant, items: dict[int, dict[str, Any]]) -> None:
    """Turning on ``unique`` over repeated values is a validation refusal that names the
    repeated values, never a raw database error; nothing changes."""
    err = refused(tenant, ConversionRefused,
                  lambda: designer.update_field(SYSTEM, "item", "color", {"unique": True}))
    assert "color" in err.fields
    repeated = {f["value"] for f in err.details["failures"]}
    assert repeated == set(COLORS)
    designer.update_field(SYSTEM, "item", "label", {"unique": True})  # all labels differ


def test_type_change_that_creates_repeats_in_a_unique_field_is_refused(
        designer: Designer, records: RecordService, tenant: Tenant) -> None:
    """A conversion that makes unique values collide ("1" and "01") is refused."""
    designer.create_object(SYSTEM, {"name": "thing", "fields": [
        {"name": "code", "type": "text", "unique": True}]})
    records.create_many(SYSTEM, "thing", [{"code": "1"}, {"code": "01"}, {"code": "2"}])
    refused(tenant, ConversionRefused,
            lambda: designer.update_field(SYSTEM, "thing", "code", {"type": "integer"}))


# -- object renames ----------------------------------------------------------------------------


def test_rename_object_updates_lookups(designer: Designer, records: RecordService,
                                       tenant: Tenant) -> None:
    """Lookups, master-details and roll-ups that name an object follow its rename; the
    records and the references between them stay intact."""
    designer.create_object(SYSTEM, {"name": "account", "fields": [
        {"name": "title", "type": "text"},
        {"name": "parent", "type": "lookup", "target": "account"}]})
    designer.create_object(SYSTEM, {"name": "contact", "fields": [
        {"name": "title", "type": "text"},
        {"name": "account", "type": "lookup", "target": "account"}]})
    designer.create_object(SYSTEM, {"name": "visit", "fields": [
        {"name": "title", "type": "text"},
        {"name": "hours", "type": "integer"},
        {"name": "account", "type": "master_detail", "target": "account"}]})
    designer.add_field(SYSTEM, "account", {"name": "visits", "type": "rollup",
                                           "function": "sum", "child": "visit",
                                           "field": "hours"})
    acme = records.create(SYSTEM, "account", {"title": "Acme"})
    sub = records.create(SYSTEM, "account", {"title": "Sub", "parent": acme["id"]})
    ann = records.create(SYSTEM, "contact", {"title": "Ann", "account": acme["id"]})

    designer.update_object(SYSTEM, "account", {"name": "company"})
    snap = designer.snapshot()
    assert snap.object("account") is None
    assert snap.object("company").field("parent").target == "company"  # type: ignore[union-attr]
    assert snap.object("contact").field("account").target == "company"  # type: ignore[union-attr]
    assert snap.object("visit").field("account").target == "company"  # type: ignore[union-attr]
    assert "obj_company" in tables(tenant) and "obj_account" not in tables(tenant)
    assert records.get(SYSTEM, "company", sub["id"])["parent"] == acme["id"]
    assert records.get(SYSTEM, "contact", ann["id"])["account"] == acme["id"]
    with pytest.raises(NotFound):
        records.get(SYSTEM, "account", acme["id"])
    bob = records.create(SYSTEM, "contact", {"title": "Bob", "account": sub["id"]})
    assert bob["account"] == sub["id"]
    refused(tenant, ValidationFailed,
            lambda: records.create(SYSTEM, "contact", {"title": "C", "account": 999}))
    records.create(SYSTEM, "visit", {"title": "v", "hours": 2, "account": acme["id"]})
    records.delete(SYSTEM, "company", acme["id"])  # master-detail cascade follows the rename
    assert all_records(records, "visit") == []


def test_rename_object_to_a_taken_name(designer: Designer, tenant: Tenant,
                                       items: dict[int, dict[str, Any]]) -> None:
    """An object cannot be renamed onto another object."""
    designer.create_object(SYSTEM, {"name": "other", "fields": [{"name": "t", "type": "text"}]})
    refused(tenant, ValidationFailed, lambda: designer.update_object(SYSTEM, "item",
                                                                     {"name": "other"}))


# -- option changes and reads --------------------------------------------------------------------


def test_tighter_options_do_not_break_pagination(designer: Designer, records: RecordService,
                                                 items: dict[int, dict[str, Any]]) -> None:
    """Raising a minimum or adding a pattern constrains new writes; existing values still
    sort and page (cursors hold stored values)."""
    designer.update_field(SYSTEM, "item", "qty", {"min": 0})
    designer.update_field(SYSTEM, "item", "label", {"pattern": "[A-Z]+"})
    for sort in ("qty", "-qty", "label"):
        seen, cursor = [], None
        while True:
            params = [("sort", sort), ("limit", "13")] + ([("cursor", cursor)] if cursor else [])
            page = records.list(SYSTEM, "item", parse_list_query(params))
            seen += [r["id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(items) and len(seen) == len(set(seen))
