"""Edits of metadata documents that the designer's operations share: field patches, a
replacement field list keeping ids, a renamed field's validation, and every reference to a
renamed object or field following it. Plain data in, plain data out: the designer runs
them inside its change, which validates and publishes the result."""

from __future__ import annotations

import copy
import re
from typing import Any

from ..core.errors import Conflict
from ..metadata.apps import rename_object
from ..metadata.fieldtypes import COMMON_OPTIONS, FIELD_TYPES
from ..metadata.model import Snapshot
from ..metadata.refactor import rename_name
from ..metadata.validation import SEARCHABLE, UNIQUE_CAPABLE, prepare_object
from .designer_documents import Data


def apply_field_patch(f: Data, patch: Data) -> None:
    """Apply a field patch; a type change drops options the new type does not take."""

    new_type = patch.get("type", f.get("type"))
    if new_type != f.get("type") and new_type in FIELD_TYPES:
        allowed = COMMON_OPTIONS | FIELD_TYPES[new_type].options
        for key in list(f):
            if key not in allowed and key not in patch:
                f.pop(key)
        if new_type not in SEARCHABLE and "searchable" not in patch:
            f.pop("searchable", None)
        if new_type not in UNIQUE_CAPABLE and "unique" not in patch:
            f.pop("unique", None)
    for key, value in patch.items():
        if key in ("id", "version"):
            continue
        if value is None:
            f.pop(key, None)
        else:
            f[key] = copy.deepcopy(value)


def carry_ids(doc: Data, old: Data) -> None:
    """Fields in a replacement list keep their ids when they keep their names."""
    by_name = {f["name"]: f["id"] for f in old["fields"]}
    by_id = {f["id"] for f in old["fields"]}
    for f in doc["fields"]:
        if isinstance(f, dict) and not f.get("id") and f.get("name") in by_name:
            f["id"] = by_name[f["name"]]
        elif isinstance(f, dict) and f.get("id") and f["id"] not in by_id:
            f.pop("id")


def validate_renamed(doc: Data, data: Data, base: Snapshot, object_name: str,
                     field_name: str, f: Data) -> Data:
    """Validate an object whose field may have been renamed (matching by id, not name)."""
    if f["name"] != field_name and any(g["name"] == f["name"] for g in doc["fields"] if g is not f):
        raise Conflict(f"'{object_name}' already has a field named '{f['name']}'",
                       {"name": ["already exists"]})
    if f["name"] != field_name and doc.get("indexes"):  # composite indexes follow a rename
        doc["indexes"] = [[f["name"] if n == field_name else n for n in spec]
                          for spec in doc["indexes"]]
    existing = base.object(object_name)
    assert existing is not None
    others = {**data, "objects": [e for e in data["objects"] if e["doc"]["id"] != existing.id]}
    context = Snapshot.from_data(base.version, others, owned=True)  # thrown away after
    prepared = prepare_object(doc, context, existing=None)
    # prepare_object keeps ids that are present and unknown elsewhere; restore the originals.
    for new_f, old_f in zip(prepared["fields"], doc["fields"], strict=True):
        if old_f.get("id"):
            new_f["id"] = old_f["id"]
    prepared["id"] = existing.id
    if doc.get("title_field") == field_name and f["name"] != field_name:
        prepared["title_field"] = f["name"]
    return prepared


def retarget(data: Data, old: str, new: str) -> None:
    """Every reference to object ``old`` by name now names ``new``: role permissions,
    lookups, roll-ups, approval processes, dashboard charts, apps and automation rules."""
    rename_object(data, old, new)
    for role in data.get("roles", []):
        perms = role.get("permissions", {})
        if old in perms:
            perms[new] = perms.pop(old)
    for process in data.get("processes", []):
        if process.get("object") == old:
            process["object"] = new
    for dashboard in data.get("dashboards", []):
        for chart in dashboard.get("charts", []):
            if chart.get("object") == old:
                chart["object"] = new
    for e in data["objects"]:
        for f in e["doc"]["fields"]:
            if f.get("target") == old:
                f["target"] = new
            if f.get("type") == "rollup" and f.get("child") == old:
                f["child"] = new
    for rule in data.get("automations", []):  # a rule's object and the objects it creates
        if rule.get("object") == old:
            rule["object"] = new
        for action in rule.get("actions", []):
            if isinstance(action, dict) and action.get("object") == old:
                action["object"] = new


def retarget_field(data: Data, object_name: str, old: str, new: str) -> None:
    for role in data.get("roles", []):
        fields = role.get("permissions", {}).get(object_name, {}).get("fields", {})
        if old in fields:
            fields[new] = fields.pop(old)
    for e in data["objects"]:
        for f in e["doc"]["fields"]:
            if f.get("type") == "rollup" and f.get("child") == object_name and f.get("field") == old:
                f["field"] = new
    for rule in data.get("automations", []):
        _rename_in_rule(rule, object_name, old, new)


def _rename_in_rule(rule: Data, object_name: str, old: str, new: str) -> None:
    """A renamed field followed through an automation rule: on the rule's own object its
    watched fields, date field, condition, merge fields, recipients and updates; on an
    object the rule creates, the keys of the values it sets."""
    def merge(text: Any) -> Any:
        if isinstance(text, dict):
            return {k: merge(v) for k, v in text.items()}
        if isinstance(text, str):
            return re.sub(r"\{\{\s*" + re.escape(old) + r"\s*\}\}", "{{ " + new + " }}", text)
        return text

    def expr(text: Any) -> Any:
        return rename_name(text, old, new) if isinstance(text, str) else text

    own = rule.get("object") == object_name
    if own:
        rule["fields"] = [new if n == old else n for n in rule.get("fields", [])]
        if rule.get("date_field") == old:
            rule["date_field"] = new
        if "condition" in rule:
            rule["condition"] = expr(rule["condition"])
    for action in rule.get("actions", []):
        if not isinstance(action, dict):
            continue
        if own:
            for key in ("message", "subject", "body"):
                if key in action:
                    action[key] = merge(action[key])
            to = action.get("to")
            if isinstance(to, dict) and to.get("field") == old:
                to["field"] = new
            for key in ("set", "values"):
                if isinstance(action.get(key), dict):
                    action[key] = {k: expr(v) for k, v in action[key].items()}
            if "owner" in action:
                action["owner"] = expr(action["owner"])
        if action.get("type") == "update" and own and isinstance(action.get("set"), dict):
            action["set"] = {new if k == old else k: v for k, v in action["set"].items()}
        if action.get("type") == "create" and action.get("object") == object_name \
                and isinstance(action.get("values"), dict):
            action["values"] = {new if k == old else k: v for k, v in action["values"].items()}


__all__ = ["apply_field_patch", "carry_ids", "retarget", "retarget_field",
           "validate_renamed"]
