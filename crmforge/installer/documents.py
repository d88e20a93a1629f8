"""Pack documents prepared for the designer: rules merged into their objects, objects and
roles in an order the platform's validators accept, and the comparable form of documents.

Objects are created in two passes. The first creates every object with its plain fields,
in an order where a lookup's target already exists (references that would close a cycle
wait). The second sets each object's full document: formulas, roll-ups, the waiting
references, field conditions and rules, which may read fields of any object of the pack.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

REFERENCE_TYPES = frozenset({"lookup", "master_detail"})
#: Field options that are expressions and may read other fields (second pass).
CONDITIONS = ("default", "visible_if", "required_if", "readonly_if")
#: Object keys that hold logic over fields (second pass).
LOGIC_KEYS = ("validation_rules", "status_rules", "triggers")


def with_rules(objects: Mapping[str, Mapping[str, Any]],
               rules: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Object documents with the logic of ``rules/`` files merged in."""
    out = {name: copy.deepcopy(dict(doc)) for name, doc in objects.items()}
    for name, extra in rules.items():
        for key in LOGIC_KEYS:
            if key in extra:
                out[name][key] = copy.deepcopy(extra[key])
    return out


def targets(doc: Mapping[str, Any]) -> set[str]:
    return {f["target"] for f in doc.get("fields", []) if isinstance(f, Mapping)
            and f.get("type") in REFERENCE_TYPES and isinstance(f.get("target"), str)}


def creation_order(objects: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Objects ordered so that referenced objects come first where possible (a cycle is
    broken at the first object of it in file order; its waiting fields come later)."""
    order: list[str] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in placed or name in visiting:
            return
        visiting.add(name)
        for t in sorted(targets(objects[name])):
            if t in objects and t != name:
                visit(t)
        visiting.discard(name)
        placed.add(name)
        order.append(name)

    for name in objects:
        visit(name)
    return order


def first_pass(doc: Mapping[str, Any], existing: Iterable[str]) -> dict[str, Any]:
    """The object with only the fields that can exist before the rest of the pack: no
    formulas, roll-ups, conditions, rules, or references to objects not created yet."""
    ready = set(existing) | {doc["name"]}
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k not in LOGIC_KEYS}
    fields = []
    for f in doc.get("fields", []):
        if f.get("type") in ("formula", "rollup"):
            continue
        if f.get("type") in REFERENCE_TYPES and f.get("target") not in ready:
            continue
        fields.append({k: copy.deepcopy(v) for k, v in f.items() if k not in CONDITIONS})
    out["fields"] = fields
    return out


def role_order(roles: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Roles ordered so that a role's superior (``reports_to``) comes first."""
    order: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in order or name in seen:
            return
        parent = roles[name].get("reports_to")
        if isinstance(parent, str) and parent in roles:
            visit(parent, seen | {name})
        order.append(name)

    for name in roles:
        visit(name, frozenset())
    return order


def comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document without what the platform assigns (ids, versions), so a tenant's
    current document can be compared with the one the install produced."""
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("id", "version")}
    if isinstance(out.get("fields"), list):  # an object's fields; a rule's are names
        out["fields"] = [{k: v for k, v in f.items() if k != "id"} if isinstance(f, Mapping)
                         else f for f in out["fields"]]
    return out
