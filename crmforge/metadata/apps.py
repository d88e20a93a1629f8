"""App documents (decision 0034): named groups of objects for the top bar of the business
pages, as Salesforce apps or Frappe workspaces have them.

An app is metadata like a dashboard: ``{"name", "label": {"zh", "en"}, "objects": [...],
"icon"?}`` kept in ``snapshot.data["apps"]`` and published as a new version by the
designer. These functions only judge documents and answer questions about them; storing
them is the designer's job and showing them the pages'.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..core.errors import ValidationFailed
from ..core.names import NAME_PATTERN
from .jsonschemas import document_schema
from .model import ObjectDef, Snapshot
from .validation import Problems

#: Field types that only point at another record.
REFERENCE_TYPES = frozenset({"lookup", "master_detail"})
LANGS = ("zh", "en")


def app_docs(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    """The tenant's apps in their stored order."""
    return list(snapshot.data.get("apps", []))


def is_link_object(obj: ObjectDef) -> bool:
    """Whether ``obj`` only joins other objects: an explicit ``link: true`` option, or at
    least two fields that all point at records (nothing of its own to show). People reach
    such records from either side, never from a menu, so apps leave them out."""
    if obj.options.get("link") is True:
        return True
    return len(obj.fields) >= 2 and all(f.type in REFERENCE_TYPES for f in obj.fields)


def prepare_app(doc: Any, snapshot: Snapshot, *, existing: str | None = None) -> dict[str, Any]:
    """Validate an app against the snapshot's objects and apps; every problem at once,
    each under its JSON path (``$.objects[2]``). ``existing`` is the name of the app being
    replaced (apps keep their names)."""
    if not isinstance(doc, Mapping):
        raise ValidationFailed("an app must be a JSON object", {"$": ["not an object"]})
    problems = Problems()
    for error in document_schema("app").iter_errors(doc):
        problems.add(error.json_path, error.message)
    problems.raise_if_any("the app")
    out = copy.deepcopy(dict(doc))
    out.pop("version", None)
    name = str(out["name"])
    taken = {str(a["name"]) for a in app_docs(snapshot)}
    if not NAME_PATTERN.fullmatch(name) or "__" in name:
        problems.add("$.name", "an app name has lowercase ASCII letters, digits and '_'")
    if existing is None and name in taken:
        problems.add("$.name", f"an app named '{name}' already exists")
    if existing is not None and name != existing:
        problems.add("$.name", "apps cannot be renamed; create a new app instead")
    labels = out["label"]
    for lang in LANGS:
        if not str(labels.get(lang) or "").strip():
            problems.add(f"$.label.{lang}", "is required")
    objects = [str(n) for n in out["objects"]]
    if not objects:
        problems.add("$.objects", "an app lists at least one object")
    seen: set[str] = set()
    for i, obj_name in enumerate(objects):
        path = f"$.objects[{i}]"
        obj = snapshot.object(obj_name)
        if obj is None:
            problems.add(path, f"no object named '{obj_name}'")
        elif obj_name in seen:
            problems.add(path, f"'{obj_name}' is listed twice")
        elif is_link_object(obj):
            problems.add(path, f"'{obj_name}' only links other objects; it stays out of menus")
        seen.add(obj_name)
    board = out.get("dashboard")
    if board is not None and not any(d.get("name") == board
                                     for d in snapshot.data.get("dashboards", [])):
        problems.add("$.dashboard", f"no dashboard named '{str(board)[:40]}'")
    problems.raise_if_any("the app")
    out["label"] = {lang: str(labels[lang]).strip() for lang in LANGS}
    return out


def without_object(data: dict[str, Any], name: str) -> None:
    """Drop a removed object from every app (stored data, edited in place): an app never
    names an object that is not there."""
    for app in data.get("apps", []):
        app["objects"] = [n for n in app.get("objects", []) if n != name]


def rename_object(data: dict[str, Any], old: str, new: str) -> None:
    """A renamed object keeps its place in every app."""
    for app in data.get("apps", []):
        app["objects"] = [new if n == old else n for n in app.get("objects", [])]


__all__ = ["app_docs", "is_link_object", "prepare_app", "rename_object", "without_object"]
