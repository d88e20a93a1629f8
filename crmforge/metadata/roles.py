"""Role documents: a permission matrix per role, stored as metadata so packs can ship roles.

A role names, per object, the operations it grants, a data scope and field access; roles
form a reporting hierarchy through ``reports_to``, and each grant says whether the role's
holders reach their subordinates' records of that object through it (``hierarchy``,
bounded by the holder's department tree: decision 0013). Role documents live in the
snapshot's ``roles`` list and are versioned with the rest of the metadata.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..core.errors import ValidationFailed
from ..core.names import NAME_PATTERN
from .jsonschemas import document_schema
from .model import Snapshot
from .validation import OPERATIONS, Problems

SCOPES = ("none", "own", "department", "department_tree", "all")
FIELD_ACCESS = ("hidden", "read", "edit")
#: A grant without ``hierarchy`` reaches subordinates' records: roles stored before the key
#: existed keep their meaning, now bounded by the superior's department tree (decision 0013).
HIERARCHY_DEFAULT = True



def role_docs(snapshot: Snapshot) -> dict[str, Mapping[str, Any]]:
    return {r["name"]: r for r in snapshot.data.get("roles", [])}


def prepare_role(doc: Any, snapshot: Snapshot, *, existing: str | None = None) -> dict[str, Any]:
    """Validate a role document against the tenant's objects and roles; all errors at once."""
    if not isinstance(doc, Mapping):
        raise ValidationFailed("a role must be a JSON object", {"$": ["not an object"]})
    problems = Problems()
    for error in document_schema("role").iter_errors(doc):
        problems.add(error.json_path, error.message)
    problems.raise_if_any("the role")
    out = copy.deepcopy(dict(doc))
    name = out["name"]
    roles = role_docs(snapshot)
    if not NAME_PATTERN.fullmatch(name) or "__" in name:
        problems.add("$.name", "a role name has lowercase ASCII letters, digits and '_'")
    if existing is None and name in roles:
        problems.add("$.name", f"a role named '{name}' already exists")
    if existing is not None and name != existing:
        problems.add("$.name", "roles cannot be renamed; create a new role instead")
    parent = out.get("reports_to")
    if parent is not None:
        if parent not in roles or parent == name:
            problems.add("$.reports_to", f"no other role named '{parent}'")
        else:
            seen = {name}
            cur: Any = parent
            while cur is not None:
                if cur in seen:
                    problems.add("$.reports_to", "roles would report to each other in a cycle")
                    break
                seen.add(cur)
                cur = roles.get(cur, {}).get("reports_to")
    for obj_name, grant in out.get("permissions", {}).items():
        path = f"$.permissions.{obj_name}"
        obj = snapshot.object(obj_name)
        if obj is None:
            problems.add(path, f"no object named '{obj_name}'")
            continue
        custom = {a.get("name") for a in obj.options.get("actions", []) or []}
        for op in grant.get("operations", []):
            if op not in OPERATIONS and op not in custom:
                problems.add(path + ".operations", f"unknown operation '{op}'")
        for field in grant.get("fields", {}):
            if obj.field(field) is None:
                problems.add(f"{path}.fields.{field}", f"'{obj_name}' has no field '{field}'")
        if grant.get("hierarchy") is True and grant.get("scope", "none") == "none":
            # Said explicitly, it would promise a reach that scope "none" never gives.
            problems.add(path + ".hierarchy", "scope 'none' reaches no records, subordinates' "
                                              "included; choose a scope or leave hierarchy out")
    hours = out.get("login_hours")
    if hours:
        if hours["start"] == hours["end"]:
            problems.add("$.login_hours", "start and end are the same time")
        if hours["end"].startswith("24") and hours["end"] != "24:00":
            problems.add("$.login_hours.end", "the day ends at 24:00")
        zone = hours.get("timezone")
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.add("$.login_hours.timezone", f"unknown time zone '{zone}'")
    for i, cidr in enumerate(out.get("ip_ranges", [])):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.add(f"$.ip_ranges[{i}]", f"'{cidr}' is not an IP address or range")
    problems.raise_if_any("the role")
    return out
