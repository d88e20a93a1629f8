"""Layout documents: how an object's record form (sections of fields in columns) and its
list (columns) are arranged, optionally per role.

A layout is metadata like a role: it lives in the snapshot (on the object's entry, so it
follows the object through renames, removal and restore) and is versioned with it. The
public document names fields; the stored form names them by their immutable ids, so a
field rename needs no rewrite and a removed field that comes back from the recycle bin
takes its old place again. Without a stored layout, ``default_layout`` derives one from
the fields.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import ValidationFailed
from ..core.filters import MAX_SORT_KEYS
from .jsonschemas import document_schema
from .model import ObjectDef, Snapshot
from .validation import Problems

#: System fields a list may show and sort by (they are not in the object's field list).
SYSTEM_COLUMNS = ("id", "owner_id", "department_id", "created_at", "created_by",
                  "updated_at", "updated_by")
#: Field types that make poor list columns (long text, lists); the default list skips them.
WIDE_TYPES = frozenset({"textarea", "multipicklist", "file"})
DEFAULT_LIST_COLUMNS = 6
DEFAULT_SECTION_LABEL = {"zh": "详细信息", "en": "Details"}



@dataclass(frozen=True)
class Section:
    label: Mapping[str, str]
    columns: int
    fields: tuple[str, ...]

    def title(self, lang: str) -> str:
        return str(self.label.get(lang) or self.label.get("en") or self.label.get("zh") or "")


@dataclass(frozen=True)
class Layout:
    """The layout one reader gets: field names only, in order."""

    sections: tuple[Section, ...]
    columns: tuple[str, ...]
    sort: str | None = None
    #: The record page's key fields and the picklist its stage path follows, when the
    #: layout names them (``record`` part); None leaves the page to choose.
    highlights: tuple[str, ...] | None = None
    stage: str | None = None

    @property
    def form_fields(self) -> tuple[str, ...]:
        return tuple(name for s in self.sections for name in s.fields)


def default_layout(obj: ObjectDef) -> dict[str, Any]:
    """One two-column section with every field; a list of the title field and the next
    few narrow fields."""
    names = [f.name for f in obj.fields]
    title = obj.title_field
    narrow = [f.name for f in obj.fields if f.type not in WIDE_TYPES and f.name != title]
    columns = ([title] if title != "id" else []) + narrow
    return {
        "form": {"sections": [{"label": dict(DEFAULT_SECTION_LABEL), "columns": 2,
                               "fields": names}]},
        "list": {"columns": columns[:DEFAULT_LIST_COLUMNS] or ["id"]},
    }


def stored_layout(snapshot: Snapshot, obj: ObjectDef) -> Mapping[str, Any] | None:
    for entry in snapshot.data.get("objects", []):
        if entry["doc"]["id"] == obj.id:
            found = entry.get("layout")
            return found if isinstance(found, Mapping) else None
    return None


def public_layout(snapshot: Snapshot, obj: ObjectDef) -> dict[str, Any]:
    """The object's layout document with field names (``generated`` when derived)."""
    stored = stored_layout(snapshot, obj)
    if stored is None:
        return {"object": obj.name, "generated": True, **default_layout(obj)}
    names = {f.id: f.name for f in obj.fields}
    out: dict[str, Any] = {"object": obj.name, "generated": False, **default_layout(obj)}
    out.update(_convert(stored, lambda ref: names.get(ref, ref if ref in SYSTEM_COLUMNS else None)))
    return out


def prepare_layout(doc: Any, obj: ObjectDef, roles: Iterable[str]) -> dict[str, Any]:
    """Validate a layout document against the object and the roles; return the stored form
    (field ids). All problems at once, each with its JSON path."""
    if not isinstance(doc, Mapping):
        raise ValidationFailed("a layout must be a JSON object", {"$": ["not an object"]})
    problems = Problems()
    for error in sorted(document_schema("layout").iter_errors(doc), key=lambda e: e.json_path):
        problems.add(error.json_path, error.message)
    problems.raise_if_any("the layout")
    if doc.get("object") not in (None, obj.name):
        problems.add("$.object", f"this is the layout of '{obj.name}'")
    known_roles = set(roles)
    parts: list[tuple[str, Mapping[str, Any]]] = [("$", doc)]
    for role, part in (doc.get("roles") or {}).items():
        if role not in known_roles:
            problems.add(f"$.roles.{role}", f"no role named '{role}'")
        parts.append((f"$.roles.{role}", part))
    for path, part in parts:
        _check_part(problems, path, part, obj)
    _check_record(problems, doc.get("record"), obj)
    problems.raise_if_any("the layout")
    ids = {f.name: f.id for f in obj.fields}
    stored = _convert(doc, lambda ref: ids.get(ref, ref if ref in SYSTEM_COLUMNS else None))
    return stored


def _check_record(problems: Problems, record: Any, obj: ObjectDef) -> None:
    """The record page's part: key fields that exist, each once; a stage that is a
    picklist (its choices are the path's steps)."""
    if not isinstance(record, Mapping):
        return
    seen: set[str] = set()
    for j, name in enumerate(record.get("highlights") or []):
        where = f"$.record.highlights[{j}]"
        if obj.field(name) is None:
            problems.add(where, f"'{obj.name}' has no field '{name}'")
        elif name in seen:
            problems.add(where, f"'{name}' is already a key field")
        seen.add(name)
    stage = record.get("stage")
    if stage:
        f = obj.field(stage)
        if f is None:
            problems.add("$.record.stage", f"'{obj.name}' has no field '{stage}'")
        elif f.type != "picklist":
            problems.add("$.record.stage", "a stage path follows a picklist field")


def _check_part(problems: Problems, path: str, part: Mapping[str, Any], obj: ObjectDef) -> None:
    form = part.get("form")
    if form is not None:
        seen: set[str] = set()
        for i, section in enumerate(form["sections"]):
            for j, name in enumerate(section["fields"]):
                where = f"{path}.form.sections[{i}].fields[{j}]"
                if obj.field(name) is None:
                    problems.add(where, f"'{obj.name}' has no field '{name}'")
                elif name in seen:
                    problems.add(where, f"'{name}' is already on the form")
                seen.add(name)
    listing = part.get("list")
    if listing is not None:
        for j, name in enumerate(listing["columns"]):
            if obj.field(name) is None and name not in SYSTEM_COLUMNS:
                problems.add(f"{path}.list.columns[{j}]", f"'{obj.name}' has no field '{name}'")
        keys = [k.strip() for k in str(listing.get("sort") or "").split(",") if k.strip()]
        if len(keys) > MAX_SORT_KEYS:  # a list request would refuse it
            problems.add(f"{path}.list.sort", f"sorts by at most {MAX_SORT_KEYS} fields")
        for key in keys:
            name = key.lstrip("+-")
            if name and obj.field(name) is None and name not in SYSTEM_COLUMNS:
                problems.add(f"{path}.list.sort", f"'{obj.name}' has no field '{name}'")


def _convert(doc: Mapping[str, Any], ref: Any) -> dict[str, Any]:
    """A copy of the form/list/roles parts with every field reference passed through
    ``ref`` (references it maps to None are left out)."""

    def part(p: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if p.get("form") is not None:
            out["form"] = {"sections": [
                {**copy.deepcopy(dict(s)),
                 "fields": [n for n in (ref(x) for x in s["fields"]) if n is not None]}
                for s in p["form"]["sections"]]}
        if p.get("list") is not None:
            listing = copy.deepcopy(dict(p["list"]))
            listing["columns"] = [n for n in (ref(x) for x in p["list"]["columns"]) if n is not None]
            if listing.get("sort"):
                keys = []
                for key in str(listing["sort"]).split(","):
                    sign = "-" if key.strip().startswith("-") else ""
                    name = ref(key.strip().lstrip("+-"))
                    if name is not None:
                        keys.append(sign + name)
                listing["sort"] = ",".join(keys)
                if not listing["sort"]:
                    listing.pop("sort")
            out["list"] = listing
        return out

    result = part(doc)
    record = doc.get("record")
    if isinstance(record, Mapping):
        kept: dict[str, Any] = {}
        if record.get("highlights") is not None:
            kept["highlights"] = [n for n in (ref(x) for x in record["highlights"]) if n is not None]
        if record.get("stage") and ref(record["stage"]) is not None:
            kept["stage"] = ref(record["stage"])
        if kept:
            result["record"] = kept
    if doc.get("roles"):
        result["roles"] = {name: part(p) for name, p in doc["roles"].items()}
    return result


def _parts_for(doc: Mapping[str, Any], roles: Iterable[str]
               ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The form and list a user with ``roles`` gets: the first of their roles (by name)
    with its own form or list wins for that part; else the object's layout."""
    form, listing = doc["form"], doc["list"]
    per_role = doc.get("roles") or {}
    for role in sorted(roles):
        own = per_role.get(role) or {}
        if own.get("form") is not None:
            form = own["form"]
            break
    for role in sorted(roles):
        own = per_role.get(role) or {}
        if own.get("list") is not None:
            listing = own["list"]
            break
    return form, listing


def reader_layout(snapshot: Snapshot, obj: ObjectDef, roles: Iterable[str],
                  readable: frozenset[str]) -> dict[str, Any]:
    """The layout document as a reader who is not an administrator gets it: the form and
    list their roles give them, naming only fields they may read (and system columns),
    without the other roles' layouts (decision 0015)."""
    doc = public_layout(snapshot, obj)
    form, listing = _parts_for(doc, roles)
    parts = _convert({"form": form, "list": listing},
                     lambda ref: ref if ref in readable or ref in SYSTEM_COLUMNS else None)
    return {"object": obj.name, "generated": doc["generated"], **parts}


def layout_for(snapshot: Snapshot, obj: ObjectDef, roles: Iterable[str]) -> Layout:
    """The layout a user with ``roles`` sees: the first of their roles (by name) with its
    own form or list wins for that part; else the object's layout; else the default."""
    public = public_layout(snapshot, obj)
    form, listing = _parts_for(public, roles)
    sections = tuple(Section(s.get("label") or {}, int(s.get("columns") or 1), tuple(s["fields"]))
                     for s in form["sections"])
    record = public.get("record") or {}
    highlights = record.get("highlights")
    return Layout(sections, tuple(listing["columns"]), listing.get("sort") or None,
                  tuple(highlights) if highlights is not None else None,
                  record.get("stage") or None)
