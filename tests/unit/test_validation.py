"""Object document validation (DESIGN §3): JSON Schema, then semantic checks. Every problem
names its JSON path, all problems come at once, and new objects and fields get ids."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from crmforge.core.errors import ValidationFailed
from crmforge.metadata import Snapshot, prepare_object

EMPTY = Snapshot.empty()
OBJ_ID = re.compile(r"^obj_[0-9a-z]{10}$")
FLD_ID = re.compile(r"^fld_[0-9a-z]{10}$")


def snapshot_with(*docs: dict[str, Any]) -> Snapshot:
    """A snapshot holding ``docs``, each validated against the ones before it."""
    snap = EMPTY
    entries: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        prepared = prepare_object(doc, snap)
        entries.append({"doc": prepared, "removed_fields": []})
        snap = Snapshot.from_data(i + 1, {"objects": copy.deepcopy(entries),
                                          "removed_objects": []})
    return snap


def errors(doc: Any, snap: Snapshot = EMPTY) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as exc:
        prepare_object(doc, snap)
    assert exc.value.fields, "a refused document names the problems"
    return exc.value.fields


def obj(*fields: dict[str, Any], name: str = "booth", **extra: Any) -> dict[str, Any]:
    return {"name": name, "fields": list(fields), **extra}


def text(name: str, **opts: Any) -> dict[str, Any]:
    return {"name": name, "type": "text", **opts}


ACCOUNT = obj(text("title"), name="account")
CHOICES = [{"value": "open"}, {"value": "won"}, {"value": "lost"}]


# -- ids and normalization ------------------------------------------------------------------


def test_ids_are_assigned_and_the_input_is_untouched() -> None:
    """New objects and fields get ids; the caller's document is not mutated."""
    doc = obj(text("number"), {"name": "area", "type": "decimal"}, version=7)
    before = copy.deepcopy(doc)
    out = prepare_object(doc, EMPTY)
    assert doc == before
    assert OBJ_ID.match(out["id"])
    assert all(FLD_ID.match(f["id"]) for f in out["fields"])
    assert len({f["id"] for f in out["fields"]}) == 2
    assert "version" not in out
    assert [f["name"] for f in out["fields"]] == ["number", "area"]


def test_ids_are_fresh_for_each_document() -> None:
    """Two documents never share generated ids."""
    a = prepare_object(obj(text("number")), EMPTY)
    b = prepare_object(obj(text("number")), EMPTY)
    assert a["id"] != b["id"]
    assert a["fields"][0]["id"] != b["fields"][0]["id"]


def test_existing_object_keeps_its_ids() -> None:
    """Fields that keep their name keep their id; new fields get new ids."""
    snap = snapshot_with(ACCOUNT)
    existing = snap.object("account")
    assert existing is not None
    old_id = existing.field("title").id  # type: ignore[union-attr]
    others = Snapshot.empty()
    out = prepare_object(obj(text("title"), text("city"), name="account"), others,
                         existing=existing)
    assert out["id"] == existing.id
    assert out["fields"][0]["id"] == old_id
    assert FLD_ID.match(out["fields"][1]["id"]) and out["fields"][1]["id"] != old_id


def test_copied_document_gets_fresh_ids() -> None:
    """A document copied from another object (a "clone") must not reuse that object's ids:
    index names derive from field ids and would collide in the database."""
    snap = snapshot_with(ACCOUNT)
    account = snap.object("account")
    assert account is not None
    clone = account.doc()
    clone["name"] = "company"
    out = prepare_object(clone, snap)
    assert out["id"] != account.id
    assert out["fields"][0]["id"] != account.fields[0].id


# -- JSON Schema errors ---------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "path"), [
    ({"fields": [text("a")]}, "$"),  # name missing
    (obj(text("a"), surprise=1), "$"),
    (obj(text("a"), {"name": "b", "type": "bogus"}), "$.fields[1].type"),
    (obj(text("a"), {"name": "b"}), "$.fields[1]"),  # type missing
    (obj(text("a", label={"fr": "x"})), "$.fields[0].label"),
    (obj(text("a", max_length="5")), "$.fields[0].max_length"),
    (obj(text("a", required="yes")), "$.fields[0].required"),
    (obj(text("a", extra=True)), "$.fields[0]"),
    (obj({"name": "s", "type": "picklist"}), "$.fields[0]"),  # choices missing
    (obj({"name": "s", "type": "lookup"}), "$.fields[0]"),  # target missing
    (obj({"name": "s", "type": "formula", "expression": "1"}), "$.fields[0]"),
    (obj({"name": "s", "type": "rollup", "function": "avg", "child": "c"}),
     "$.fields[0].function"),
    (obj(text("a"), label="Booth"), "$.label"),
    (obj(text("a"), validation_rules=[{"name": "r", "condition": "a"}]),
     "$.validation_rules[0]"),  # message missing
    (obj(text("a", default="")), "$.fields[0].default"),
    ({"name": "booth", "fields": "all"}, "$.fields"),
])
def test_schema_errors_name_the_path(doc: dict[str, Any], path: str) -> None:
    """JSON Schema problems are reported at their JSON path."""
    assert path in errors(doc)


def test_not_an_object() -> None:
    """A document that is not an object is refused at ``$``."""
    assert "$" in errors(["not", "a", "document"])


def test_schema_errors_are_all_reported() -> None:
    """Every schema problem is reported, not just the first."""
    found = errors(obj(text("a", max_length="x"), {"name": "b", "type": "bogus"}, zzz=1))
    assert {"$", "$.fields[0].max_length", "$.fields[1].type"} <= set(found)


# -- semantic errors ------------------------------------------------------------------------


def test_all_semantic_errors_at_once_sorted_by_path() -> None:
    """One refusal lists every problem, so a designer can mark them all."""
    doc = obj(
        text("Bad"),
        {"name": "n", "type": "integer", "max_length": 3},
        {"name": "d", "type": "decimal", "scale": 12},
        {"name": "acct", "type": "lookup", "target": "nowhere"},
        text("n"),
        name="select",
        title_field="missing",
    )
    with pytest.raises(ValidationFailed) as exc:
        prepare_object(doc, EMPTY)
    found = exc.value.fields
    assert set(found) == {"$.name", "$.fields[0].name", "$.fields[1].max_length",
                          "$.fields[2].scale", "$.fields[3].target", "$.fields[4].name",
                          "$.title_field"}
    assert list(found) == sorted(found)
    assert "$.fields[0].name" in exc.value.message


@pytest.mark.parametrize(("doc", "path", "words"), [
    (obj(text("a"), name="Booth"), "$.name", "lowercase"),
    (obj(text("a"), name="order"), "$.name", "reserved"),
    (obj(text("a"), name="x__y"), "$.name", "__"),
    (obj(), "$.fields", "at least one field"),
    (obj(text("a"), text("id")), "$.fields[1].name", "system field"),
    (obj(text("a"), text("sort")), "$.fields[1].name", "reserved list parameter"),
    (obj(text("a"), text("a_")), "$.fields[1].name", "end with"),
    (obj(text("a"), text("b"), text("a")), "$.fields[2].name", "duplicate field name"),
    (obj(text("a"), title_field="b"), "$.title_field", "no field"),
])
def test_name_errors(doc: dict[str, Any], path: str, words: str) -> None:
    """Object, field and title names are checked with a reason at the right path."""
    found = errors(doc)
    assert path in found
    assert any(words in m for m in found[path])


@pytest.mark.parametrize(("field", "option"), [
    ({"name": "n", "type": "integer", "max_length": 10}, "max_length"),
    ({"name": "n", "type": "integer", "scale": 2}, "scale"),
    ({"name": "n", "type": "text", "choices": CHOICES}, "choices"),
    ({"name": "n", "type": "text", "scale": 2}, "scale"),
    ({"name": "n", "type": "text", "min": 1}, "min"),
    ({"name": "n", "type": "email", "max_length": 10}, "max_length"),
    ({"name": "n", "type": "boolean", "target": "booth"}, "target"),
    ({"name": "n", "type": "date", "format": "{0}"}, "format"),
    ({"name": "n", "type": "textarea", "pattern": "x"}, "pattern"),
    ({"name": "n", "type": "picklist", "choices": CHOICES, "max_length": 3}, "max_length"),
])
def test_options_that_do_not_apply(field: dict[str, Any], option: str) -> None:
    """An option another type takes is refused at that option's path."""
    found = errors(obj(text("a"), field))
    assert any("does not apply" in m for m in found[f"$.fields[1].{option}"])


@pytest.mark.parametrize(("field", "path"), [
    ({"name": "n", "type": "text", "max_length": 0}, "max_length"),
    ({"name": "n", "type": "text", "pattern": "(["}, "pattern"),
    ({"name": "n", "type": "text", "pattern": r"(a)\1"}, "pattern"),  # not in RE2's dialect
    ({"name": "n", "type": "formula", "result_type": "boolean",
      "expression": r"regex_match(a, '(?=x)x')"}, "expression"),
    ({"name": "n", "type": "decimal", "scale": 9}, "scale"),
    ({"name": "n", "type": "picklist", "choices": []}, "choices"),
    ({"name": "n", "type": "picklist", "choices": [{"value": "a"}, {"value": "a"}]}, "choices"),
    ({"name": "n", "type": "autonumber", "format": "no counter"}, "format"),
    ({"name": "n", "type": "formula", "expression": "1", "result_type": "file"}, "result_type"),
    ({"name": "n", "type": "integer", "min": 5, "max": 1}, "min"),
    ({"name": "n", "type": "textarea", "unique": True}, "unique"),
    ({"name": "n", "type": "boolean", "unique": True}, "unique"),
    ({"name": "n", "type": "integer", "searchable": True}, "searchable"),
    ({"name": "n", "type": "autonumber", "required": True}, "required"),
    ({"name": "n", "type": "formula", "expression": "1", "result_type": "text",
      "required": True}, "required"),
    ({"name": "n", "type": "text", "default": "'a"}, "default"),
    ({"name": "n", "type": "text", "visible_if": "a ==="}, "visible_if"),
    ({"name": "n", "type": "formula", "expression": "a +", "result_type": "text"},
     "expression"),
    ({"name": "n", "type": "picklist", "choices": CHOICES, "controlling_field": "a"},
     "controlling_field"),
    ({"name": "n", "type": "picklist", "choices": CHOICES, "controlling_field": "zz"},
     "controlling_field"),
])
def test_field_option_errors(field: dict[str, Any], path: str) -> None:
    """Type-specific option problems point at the option of the field."""
    assert f"$.fields[1].{path}" in errors(obj(text("a"), field))


def test_expression_errors_give_line_and_column() -> None:
    """Expression syntax errors say where."""
    found = errors(obj(text("a"), {"name": "n", "type": "text", "default": "'a' +"}))
    assert re.search(r"line 1, column \d+", found["$.fields[1].default"][0])


def test_valid_dependent_picklist() -> None:
    """A picklist may depend on another picklist of the object."""
    doc = obj({"name": "stage", "type": "picklist", "choices": CHOICES},
              {"name": "reason", "type": "picklist", "controlling_field": "stage",
               "choices": [{"value": "price", "depends_on": ["lost"]}]})
    prepare_object(doc, EMPTY)


# -- references -----------------------------------------------------------------------------


def test_lookup_to_missing_object() -> None:
    """A lookup must name an existing object."""
    found = errors(obj(text("a"), {"name": "acct", "type": "lookup", "target": "account"}))
    assert "no object named 'account'" in found["$.fields[1].target"][0]


def test_lookup_to_existing_object_and_to_itself() -> None:
    """Lookups to other objects and to the object itself are fine."""
    snap = snapshot_with(ACCOUNT)
    prepare_object(obj(text("a"), {"name": "acct", "type": "lookup", "target": "account"}), snap)
    prepare_object(obj(text("a"), {"name": "parent", "type": "lookup", "target": "booth"}), EMPTY)


def test_master_detail_cannot_point_at_its_own_object() -> None:
    """A record cannot be its own kind's master."""
    found = errors(obj(text("a"), {"name": "m", "type": "master_detail", "target": "booth"}))
    assert "$.fields[1].target" in found


def test_object_name_taken_by_another_object() -> None:
    """Object names are unique in a tenant."""
    found = errors(obj(text("a"), name="account"), snapshot_with(ACCOUNT))
    assert "already exists" in found["$.name"][0]


# -- roll-ups ---------------------------------------------------------------------------------

ORDER = obj(text("number"), name="order_head")
LINE = obj(text("sku"), {"name": "qty", "type": "integer"}, {"name": "shipped", "type": "date"},
           {"name": "head", "type": "master_detail", "target": "order_head"}, name="order_line")


def rollup(**opts: Any) -> dict[str, Any]:
    return {"name": "r", "type": "rollup", "child": "order_line", **opts}


@pytest.mark.parametrize("opts", [
    {"function": "count"},
    {"function": "count", "filter": "qty > 1"},
    {"function": "sum", "field": "qty"},
    {"function": "min", "field": "shipped"},
    {"function": "max", "field": "qty"},
])
def test_valid_rollups(opts: dict[str, Any]) -> None:
    """count, sum, min and max over a master-detail child are accepted."""
    snap = snapshot_with(ORDER, LINE)
    prepare_object(obj(text("number"), rollup(**opts), name="order_head"), snap,
                   existing=snap.object("order_head"))


@pytest.mark.parametrize(("opts", "path", "words"), [
    ({"function": "count", "child": "nothing"}, "child", "no object named 'nothing'"),
    ({"function": "sum", "field": "missing"}, "field", "has no field 'missing'"),
    ({"function": "sum"}, "field", "has no field"),
    ({"function": "sum", "field": "sku"}, "field", "sum needs a number"),
    ({"function": "sum", "field": "shipped"}, "field", "sum needs a number"),
    ({"function": "max", "field": "sku"}, "field", "number or date"),
    ({"function": "count", "filter": "qty >"}, "filter", "syntax error"),
])
def test_rollup_errors(opts: dict[str, Any], path: str, words: str) -> None:
    """Roll-up child, field and filter problems point at the option."""
    snap = snapshot_with(ORDER, LINE)
    with pytest.raises(ValidationFailed) as exc:
        prepare_object(obj(text("number"), rollup(**opts), name="order_head"), snap,
                       existing=snap.object("order_head"))
    found = exc.value.fields
    assert any(words in m for m in found[f"$.fields[1].{path}"])


def test_rollup_child_without_master_detail_to_this_object() -> None:
    """A roll-up child must be a detail of this object."""
    snap = snapshot_with(ORDER, LINE)
    found = errors(obj(text("t"), rollup(function="count"), name="other"), snap)
    assert "no master-detail field" in found["$.fields[1].child"][0]


# -- formulas ---------------------------------------------------------------------------------


def formula(name: str, expression: str) -> dict[str, Any]:
    return {"name": name, "type": "formula", "result_type": "decimal", "expression": expression}


def test_formula_cycle() -> None:
    """Formulas referring to each other in a cycle are refused, naming the cycle."""
    found = errors(obj({"name": "qty", "type": "integer"}, formula("a", "b + qty"),
                       formula("b", "c * 2"), formula("c", "a - 1")))
    paths = [p for p in found if p.endswith(".expression")]
    assert paths
    assert all(p in {"$.fields[1].expression", "$.fields[2].expression",
                     "$.fields[3].expression"} for p in paths)
    message = " ".join(m for p in paths for m in found[p])
    assert "cycle" in message and "a" in message and "b" in message and "c" in message


def test_formula_referring_to_itself() -> None:
    """A formula cannot read itself."""
    found = errors(obj(text("t"), formula("a", "a + 1")))
    assert "cycle" in found["$.fields[1].expression"][0]


def test_formula_chain_without_cycle_is_fine() -> None:
    """Formulas may build on other formulas without a cycle."""
    prepare_object(obj({"name": "qty", "type": "integer"}, formula("a", "qty * 2"),
                       formula("b", "a + qty"), formula("c", "a + b")), EMPTY)


# -- status and validation rules ----------------------------------------------------------------

STATUS = {"name": "status", "type": "picklist", "choices": CHOICES}


def test_valid_status_rules() -> None:
    """Status rules over a picklist with known operations and fields are accepted."""
    prepare_object(obj(STATUS, text("notes"), actions=[{"name": "escalate"}], status_rules={
        "field": "status",
        "states": {"won": {"operations": ["read", "export", "escalate"],
                           "editable_fields": ["notes"]}}}), EMPTY)


@pytest.mark.parametrize(("rules", "path"), [
    ({"field": "notes", "states": {}}, "$.status_rules.field"),
    ({"field": "nothing", "states": {}}, "$.status_rules.field"),
    ({"field": "status", "states": {"archived": {}}}, "$.status_rules.states.archived"),
    ({"field": "status", "states": {"won": {"operations": ["read", "fly"]}}},
     "$.status_rules.states.won.operations"),
    ({"field": "status", "states": {"won": {"editable_fields": ["ghost"]}}},
     "$.status_rules.states.won.editable_fields"),
    ({"field": "status"}, "$.status_rules"),  # schema: states missing
    ({"field": "status", "states": {"won": {"operation": ["read"]}}},
     "$.status_rules.states.won"),  # schema: unknown key
])
def test_status_rule_errors(rules: dict[str, Any], path: str) -> None:
    """Status rule problems point at the field, state, operation or field list."""
    assert path in errors(obj(STATUS, text("notes"), status_rules=rules))


def rule(**overrides: Any) -> dict[str, Any]:
    return {"name": "area_positive", "condition": "area > 0",
            "message": {"en": "Area must be positive", "zh": "面积必须为正"}, "field": "area",
            **overrides}


def test_valid_validation_rules() -> None:
    """Rule names are lowercase identifiers; they never reach SQL, so SQL words are fine."""
    prepare_object(obj({"name": "area", "type": "decimal"}, validation_rules=[
        rule(), {"name": "select", "condition": "True", "message": {"en": "x"}}]), EMPTY)


@pytest.mark.parametrize(("rules", "path"), [
    ([rule(field="ghost")], "$.validation_rules[0].field"),
    ([rule(condition="area >")], "$.validation_rules[0].condition"),
    ([rule(condition=r"regex_match(text(area), '(1)\\1')")], "$.validation_rules[0].condition"),
    ([rule(), rule()], "$.validation_rules"),
    ([rule(), rule(name="Bad Name")], "$.validation_rules[1].name"),
    ([rule(name="Upper")], "$.validation_rules[0].name"),
    ([rule(name="")], "$.validation_rules[0].name"),
    ([rule(message="text")], "$.validation_rules[0].message"),
    ([rule(extra=1)], "$.validation_rules[0]"),
])
def test_validation_rule_errors(rules: list[dict[str, Any]], path: str) -> None:
    """Validation rule problems point at the rule's condition, field or name."""
    assert path in errors(obj({"name": "area", "type": "decimal"}, validation_rules=rules))
