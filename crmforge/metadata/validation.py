"""Validation of object documents: JSON Schema first, then semantic checks.

Every problem is reported with its JSON path (``$.fields[2].name``) and all problems of a
document are returned at once, sorted by path, so a designer can mark them all.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..core.errors import ValidationFailed
from ..core.ids import new_meta_id
from ..core.names import NAME_PATTERN, name_problem
from .fieldtypes import COMMON_OPTIONS, FIELD_TYPES
from .jsonschemas import document_schema
from .model import ObjectDef, Snapshot

OPERATIONS = (
    "create", "read", "update", "delete", "export", "import", "transfer", "share",
    "submit", "approve", "print",
)
UNIQUE_CAPABLE = frozenset(
    {"text", "integer", "decimal", "currency", "percent", "date", "datetime", "email", "phone",
     "url", "picklist", "lookup", "user", "department", "autonumber"}
)
SEARCHABLE = frozenset({"text", "textarea", "email", "phone", "url", "autonumber", "picklist"})
NUMERIC = frozenset({"integer", "decimal", "currency", "percent"})


#: Save-time checks that layers above metadata plug in. Metadata may not import them
#: (DESIGN §1), so ``crmforge.rules`` registers its expression checker here on import.
ObjectChecker = Callable[[Mapping[str, Any], Snapshot], list[tuple[str, str]]]
_object_checkers: list[ObjectChecker] = []


def register_object_checker(checker: ObjectChecker) -> None:
    """Run ``checker(doc, snapshot) -> [(json_path, message)]`` in ``check_object``."""
    if checker not in _object_checkers:
        _object_checkers.append(checker)



class Problems:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.items.setdefault(path, []).append(message)

    def raise_if_any(self, what: str) -> None:
        if self.items:
            ordered = dict(sorted(self.items.items()))
            first_path, first = next(iter(ordered.items()))
            raise ValidationFailed(f"{what} is not valid: {first_path}: {first[0]}", ordered)


def object_document(doc: Any, schema: str, what: str, plural: str,
                    known: Mapping[str, Any], existing: str | None, snapshot: Snapshot
                    ) -> tuple[dict[str, Any], Problems, ObjectDef]:
    """The checks every named document about one object starts with (an approval process,
    an automation rule): an object, its JSON Schema, a free name that never changes, an
    object that exists. Returns a copy without its version, the problems so far, and the
    object; refuses at once what later checks could not read. ``what`` names one ("an
    automation rule"), ``plural`` many ("rules")."""
    if not isinstance(doc, Mapping):
        raise ValidationFailed(f"{what} must be a JSON object", {"$": ["not an object"]})
    problems = Problems()
    for error in document_schema(schema).iter_errors(doc):
        problems.add(error.json_path, error.message)
    problems.raise_if_any(f"the {what.split(' ', 1)[1]}")
    out = copy.deepcopy(dict(doc))
    out.pop("version", None)
    name = out["name"]
    noun = what.split(" ", 1)[1]
    if not NAME_PATTERN.fullmatch(name) or "__" in name:
        problems.add("$.name", f"a {noun.split()[-1]} name has lowercase ASCII letters, "
                               "digits and '_'")
    if existing is None and name in known:
        problems.add("$.name", f"{what} named '{name}' already exists")
    if existing is not None and name != existing:
        problems.add("$.name", f"{plural} cannot be renamed; create a new "
                               f"{noun.split()[-1]} instead")
    obj = snapshot.object(out["object"])
    if obj is None:
        problems.add("$.object", f"no object named '{out['object'][:40]}'")
        problems.raise_if_any(f"the {noun}")
    assert obj is not None
    return out, problems, obj


def expression_names(expression: str) -> set[str]:
    """Bare names an expression reads (the first part of ``account.region``)."""
    tree = ast.parse(expression, mode="eval")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _check_expression(problems: Problems, path: str, expression: Any) -> None:
    if not isinstance(expression, str):
        return
    try:
        ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        problems.add(path, f"syntax error at line {exc.lineno}, column {exc.offset}: {exc.msg}")


def prepare_object(
    doc: Any, snapshot: Snapshot, *, existing: ObjectDef | None = None
) -> dict[str, Any]:
    """Validate an object document against the tenant's metadata and return it normalized.

    New objects and fields get immutable ids; when ``existing`` is given, fields that keep
    their name keep their id (a rename goes through the field endpoint, which keeps the id).
    """
    if not isinstance(doc, Mapping):
        raise ValidationFailed("an object document must be a JSON object", {"$": ["not an object"]})
    problems = Problems()
    for error in document_schema("object").iter_errors(doc):
        problems.add(error.json_path, error.message)
    problems.raise_if_any("the object document")

    out = copy.deepcopy(dict(doc))
    out.pop("version", None)
    if existing is not None:
        out["id"] = existing.id
    elif "id" not in out or snapshot.object_by_id(out["id"]) is not None \
            or out["id"] in snapshot.removed_objects:
        out["id"] = new_meta_id("obj")
    # Ids another object uses (index and recycle-bin names derive from them): a copied
    # document must not take them over.
    taken = _field_ids_in_use(snapshot, existing.id if existing else None)
    for i, f in enumerate(out["fields"]):
        old = existing.field(f["name"]) if existing else None
        if old is not None:
            f["id"] = old.id
        elif "id" not in f or f["id"] in taken:
            f["id"] = new_meta_id("fld")
        out["fields"][i] = f
    check_object(out, snapshot, problems)
    problems.raise_if_any("the object document")
    return out


def _field_ids_in_use(snapshot: Snapshot, except_object: str | None) -> set[str]:
    objs = [o for o in snapshot.objects.values() if o.id != except_object]
    objs += [r.obj for r in snapshot.removed_objects.values() if r.obj.id != except_object]
    return {g.id for o in objs for g in o.fields} | {
        r.field.id for o in objs for r in o.removed_fields}


def check_object(doc: dict[str, Any], snapshot: Snapshot, problems: Problems) -> None:
    """Semantic checks on a schema-valid document (names, references, options, cycles)."""
    name = doc["name"]
    msg = name_problem(name, kind="object name")
    if msg:
        problems.add("$.name", msg)
    other = snapshot.object(name)
    if other is not None and other.id != doc["id"]:
        problems.add("$.name", f"an object named '{name}' already exists")
    fields = doc["fields"]
    if not fields:
        problems.add("$.fields", "an object needs at least one field")
    seen: dict[str, int] = {}
    seen_ids: set[str] = set()
    by_name = {f["name"]: f for f in fields}
    for i, f in enumerate(fields):
        _check_field(doc, f, f"$.fields[{i}]", snapshot, by_name, problems)
        if f["name"] in seen:
            problems.add(f"$.fields[{i}].name", f"duplicate field name '{f['name']}'")
        seen[f["name"]] = i
        if f["id"] in seen_ids:
            problems.add(f"$.fields[{i}].id", "duplicate field id")
        seen_ids.add(f["id"])
    title = doc.get("title_field")
    if title is not None and title not in by_name:
        problems.add("$.title_field", f"no field named '{title}'")
    _check_indexes(doc, by_name, problems)
    _check_formula_cycles(fields, problems)
    for i, rule in enumerate(doc.get("validation_rules", [])):
        path = f"$.validation_rules[{i}]"
        _check_expression(problems, path + ".condition", rule.get("condition"))
        if rule.get("field") and rule["field"] not in by_name:
            problems.add(path + ".field", f"no field named '{rule['field']}'")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", str(rule.get("name", ""))):
            problems.add(path + ".name", "must be a lowercase identifier")
    names = [r.get("name") for r in doc.get("validation_rules", [])]
    if len(set(names)) != len(names):
        problems.add("$.validation_rules", "rule names must be unique")
    _check_status_rules(doc, by_name, problems)
    reported = set(problems.items)  # a path already marked above is not marked twice
    for checker in _object_checkers:
        for path, message in checker(doc, snapshot):
            if path not in reported:
                problems.add(path, message)


#: Types a composite index may hold: the ones a unique index takes, and booleans.
INDEXABLE = UNIQUE_CAPABLE | {"boolean"}


def _check_indexes(doc: dict[str, Any], by_name: dict[str, Any], problems: Problems) -> None:
    """Composite indexes name stored fields of indexable types, each once, and no two
    indexes are the same (the JSON schema bounds their number and length)."""
    from .model import FieldDef  # local: FieldDef only wraps the document here

    seen: set[tuple[str, ...]] = set()
    for i, spec in enumerate(doc.get("indexes") or []):
        path = f"$.indexes[{i}]"
        for j, name in enumerate(spec):
            f = by_name.get(name)
            if f is None:
                problems.add(f"{path}[{j}]", f"no field named '{name[:40]}'")
            elif f["type"] not in INDEXABLE or not FieldDef.from_doc(f).stored:
                problems.add(f"{path}[{j}]", f"a {f['type']} field cannot be indexed")
        if len(set(spec)) != len(spec):
            problems.add(path, "names a field twice")
        if tuple(spec) in seen:
            problems.add(path, "repeats an earlier index")
        seen.add(tuple(spec))


def _check_field(
    obj: dict[str, Any],
    f: dict[str, Any],
    path: str,
    snapshot: Snapshot,
    by_name: dict[str, dict[str, Any]],
    problems: Problems,
) -> None:
    msg = name_problem(f["name"], kind="field name")
    if msg:
        problems.add(path + ".name", msg)
    kind = FIELD_TYPES[f["type"]]
    allowed = COMMON_OPTIONS | kind.options
    for key in f:
        if key not in allowed:
            problems.add(f"{path}.{key}", f"'{key}' does not apply to a {f['type']} field")
    from .model import FieldDef  # local: FieldDef only wraps the document here

    for option, message in kind.option_problems(FieldDef.from_doc(f)):
        problems.add(f"{path}.{option}", message)
    if f.get("unique") and f["type"] not in UNIQUE_CAPABLE:
        problems.add(path + ".unique", f"a {f['type']} field cannot be unique")
    if f.get("searchable") and f["type"] not in SEARCHABLE:
        problems.add(path + ".searchable", f"a {f['type']} field cannot be searched as text")
    if f.get("required") and not kind.writable:
        problems.add(path + ".required", f"a {f['type']} field is computed and cannot be required")
    for key in ("default", "visible_if", "required_if", "readonly_if", "expression", "filter"):
        _check_expression(problems, f"{path}.{key}", f.get(key))
    lo, hi = f.get("min"), f.get("max")
    if lo is not None and hi is not None and lo > hi:
        problems.add(path + ".min", "is greater than max")
    if f["type"] in ("lookup", "master_detail"):
        target = f.get("target")
        if target != obj["name"] and snapshot.object(str(target)) is None:
            problems.add(path + ".target", f"no object named '{target}'")
        if f["type"] == "master_detail" and target == obj["name"]:
            problems.add(path + ".target", "a master-detail field cannot point at its own object")
    if f["type"] in ("picklist", "multipicklist") and f.get("controlling_field"):
        ctrl = by_name.get(f["controlling_field"])
        if ctrl is None or ctrl["type"] not in ("picklist", "boolean") or ctrl is f:
            problems.add(path + ".controlling_field", "must name a picklist or boolean field")
        else:
            _check_depends_on(f, ctrl, path, problems)
    elif f["type"] in ("picklist", "multipicklist"):
        for i, choice in enumerate(f.get("choices") or []):
            if isinstance(choice, dict) and "depends_on" in choice:
                problems.add(f"{path}.choices[{i}].depends_on", "needs a controlling_field")
    if f["type"] == "rollup":
        _check_rollup(obj, f, path, snapshot, problems)
    if f["type"] == "formula" and f.get("stored") is None:
        pass  # computed on read unless stored


def _check_depends_on(f: dict[str, Any], ctrl: dict[str, Any], path: str,
                      problems: Problems) -> None:
    """A dependent choice may only name values its controlling field can take."""
    if ctrl["type"] == "boolean":
        known = {"true", "false"}
    else:
        known = {str(c.get("value")) for c in ctrl.get("choices") or [] if isinstance(c, dict)}
    for i, choice in enumerate(f.get("choices") or []):
        for value in choice.get("depends_on") or [] if isinstance(choice, dict) else []:
            if value not in known:
                problems.add(f"{path}.choices[{i}].depends_on",
                             f"'{str(value)[:40]}' is not a value of {ctrl['name']}")


def _check_rollup(
    obj: dict[str, Any], f: dict[str, Any], path: str, snapshot: Snapshot, problems: Problems
) -> None:
    child = snapshot.object(str(f.get("child")))
    if child is None:
        problems.add(path + ".child", f"no object named '{f.get('child')}'")
        return
    if not any(g.type == "master_detail" and g.target == obj["name"] for g in child.fields):
        problems.add(path + ".child", f"'{child.name}' has no master-detail field to '{obj['name']}'")
    target = child.field(str(f.get("field")))
    # min/max of dates are dates: the roll-up's column and JSON follow its child field.
    if f["function"] in ("min", "max") and target is not None \
            and target.type in ("date", "datetime"):
        f["result_type"] = target.type
    else:
        f.pop("result_type", None)
    if f["function"] == "count":
        return
    if target is None:
        problems.add(path + ".field", f"'{child.name}' has no field '{f.get('field')}'")
    elif f["function"] == "sum" and not _numeric(target):
        problems.add(path + ".field", "sum needs a number field (or a stored number formula)")
    elif not _numeric(target) and target.type not in ("date", "datetime"):
        problems.add(path + ".field", f"{f['function']} needs a number or date field")


def _numeric(f: Any) -> bool:
    """A roll-up can add up number fields, stored formulas with a number result, and other
    roll-ups (their children's changes reach grandparents in the same transaction)."""
    if f.type == "rollup":
        return f.options.get("result_type") not in ("date", "datetime")
    return f.type in NUMERIC or (f.type == "formula" and f.stored
                                 and f.options.get("result_type") in NUMERIC)


def _check_formula_cycles(fields: list[dict[str, Any]], problems: Problems) -> None:
    deps: dict[str, set[str]] = {}
    index = {f["name"]: i for i, f in enumerate(fields)}
    for f in fields:
        if f["type"] == "formula" and isinstance(f.get("expression"), str):
            try:
                deps[f["name"]] = expression_names(f["expression"]) & set(index)
            except SyntaxError:
                continue
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        state[n] = 1
        for d in sorted(deps.get(n, ())):
            if state.get(d) == 1:
                cycle = [*trail[trail.index(d):], d] if d in trail else [n, d]
                message = "formulas refer to each other in a cycle: " + " -> ".join(cycle)
                for member in dict.fromkeys(cycle):  # every formula of the cycle is marked
                    problems.add(f"$.fields[{index[member]}].expression", message)
            elif d not in state:
                visit(d, [*trail, d])
        state[n] = 2

    for n in deps:
        if n not in state:
            visit(n, [n])


def _check_status_rules(doc: dict[str, Any], by_name: dict[str, Any], problems: Problems) -> None:
    rules = doc.get("status_rules")
    if not rules:
        return
    f = by_name.get(rules["field"])
    if f is None or f["type"] != "picklist":
        problems.add("$.status_rules.field", "must name a picklist field")
        return
    values = {c["value"] for c in f.get("choices", [])}
    custom = {a["name"] for a in doc.get("actions", [])}
    for state, rule in rules["states"].items():
        path = f"$.status_rules.states.{state}"
        if state not in values:
            problems.add(path, f"'{state}' is not a choice of '{f['name']}'")
        for op in rule.get("operations", []):
            if op not in OPERATIONS and op not in custom:
                problems.add(path + ".operations", f"unknown operation '{op}'")
        for name in rule.get("editable_fields", []):
            if name not in by_name:
                problems.add(path + ".editable_fields", f"no field named '{name}'")
