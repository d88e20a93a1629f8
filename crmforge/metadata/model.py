"""Immutable views of metadata documents.

A ``Snapshot`` is one version of a tenant's metadata. Everything derived from metadata
(tables, schemas, OpenAPI) is built from a snapshot and cached by (tenant, version), so
these objects are never mutated: a change builds a new document and a new snapshot.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import orjson

from .fieldtypes import FIELD_TYPES, FieldType


def _copy(value: Any) -> Any:
    """A deep copy of JSON data. Metadata is JSON (it is stored as JSON), and a round trip
    through orjson is about ten times faster than ``copy.deepcopy`` (three times faster
    than the standard library's encoder), which matters because every metadata change
    copies the whole snapshot. Data orjson refuses (a dict key that is not a string) takes
    the standard library's round trip, which is what storing it would do anyway."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return json.loads(json.dumps(value))


def _freeze(doc: Mapping[str, Any], *, owned: bool = False) -> Mapping[str, Any]:
    """A read-only view; ``owned`` when ``doc`` is already a private copy."""
    return MappingProxyType(dict(doc) if owned else _copy(dict(doc)))


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    type: str
    options: Mapping[str, Any]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], *, owned: bool = False) -> FieldDef:
        return cls(str(doc["id"]), str(doc["name"]), str(doc["type"]), _freeze(doc, owned=owned))

    @cached_property
    def kind(self) -> FieldType:
        """The field's type (the registry's entry): looked up once per definition, since
        every value written or shown asks for it."""
        return FIELD_TYPES[self.type]

    @cached_property
    def choice_values(self) -> tuple[str, ...]:
        """The values of a picklist's choices, in order; worked out once per field
        definition (it is immutable), not on every value checked (an import checks
        a picklist cell per row)."""
        return tuple(str(c.get("value")) for c in self.options.get("choices") or []
                     if isinstance(c, dict))

    @cached_property
    def choice_set(self) -> frozenset[str]:
        return frozenset(self.choice_values)

    @property
    def required(self) -> bool:
        return bool(self.options.get("required"))

    @property
    def unique(self) -> bool:
        return bool(self.options.get("unique"))

    @property
    def indexed(self) -> bool:
        return bool(self.options.get("indexed"))

    @property
    def searchable(self) -> bool:
        return bool(self.options.get("searchable"))

    @property
    def target(self) -> str | None:
        t = self.options.get("target")
        return str(t) if t else None

    @cached_property
    def stored(self) -> bool:
        """Whether the field has a column (non-stored formulas are computed on read).

        Cached: building the column type costs microseconds and reads ask per row."""
        return self.kind.column_type(self) is not None

    def label(self, lang: str = "en") -> str:
        labels = self.options.get("label") or {}
        return str(labels.get(lang) or labels.get("en") or labels.get("zh") or self.name)

    def choice_label(self, value: Any, lang: str = "en") -> str:
        """A picklist value's label in ``lang`` (the value itself when it has none): what
        forms, lists, charts and exports all show."""
        for c in self.options.get("choices") or []:
            if str(c.get("value")) == str(value):
                labels = c.get("label") or {}
                return str(labels.get(lang) or labels.get("en") or labels.get("zh") or value)
        return str(value)

    def doc(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.options))


@dataclass(frozen=True)
class RemovedField:
    field: FieldDef
    removed_at: str
    removed_by: str | None

    @property
    def column(self) -> str:
        return removed_column_name(self.field.id)


def composite_index_name(fields: tuple[FieldDef, ...]) -> str:
    """The database name of a composite index: from the field ids (immutable, unique across
    the tenant), so a rename never touches it and PostgreSQL's per-schema names never clash."""
    digest = hashlib.sha1("|".join(f.id for f in fields).encode(), usedforsecurity=False)
    return "cx_" + digest.hexdigest()[:20]


def removed_column_name(field_id: str) -> str:
    return "rb_" + field_id


def table_name(object_name: str) -> str:
    return "obj_" + object_name


def removed_table_name(object_id: str) -> str:
    return "rb_" + object_id


@dataclass(frozen=True)
class ObjectDef:
    id: str
    name: str
    fields: tuple[FieldDef, ...]
    options: Mapping[str, Any]
    removed_fields: tuple[RemovedField, ...] = ()
    _by_name: Mapping[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], *, owned: bool = False) -> ObjectDef:
        """An object from its stored entry; ``owned`` when the entry is a private copy
        that the definition may keep (Snapshot.from_data copies the whole data once)."""
        if not owned:
            entry = _copy(dict(entry))
        doc = entry["doc"]
        fields = tuple(FieldDef.from_doc(f, owned=True) for f in doc.get("fields", []))
        removed = tuple(
            RemovedField(FieldDef.from_doc(r["field"], owned=True), r["removed_at"],
                         r.get("removed_by"))
            for r in entry.get("removed_fields", [])
        )
        opts = {k: v for k, v in doc.items() if k != "fields"}
        return cls(
            str(doc["id"]), str(doc["name"]), fields, _freeze(opts, owned=True), removed,
            MappingProxyType({f.name: f for f in fields}),
        )

    @property
    def table(self) -> str:
        return table_name(self.name)

    def field(self, name: str) -> FieldDef | None:
        return self._by_name.get(name)

    def field_by_id(self, field_id: str) -> FieldDef | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def stored_fields(self) -> Iterator[FieldDef]:
        return (f for f in self.fields if f.stored)

    @cached_property
    def composite_indexes(self) -> tuple[tuple[FieldDef, ...], ...]:
        """The document's ``indexes`` as fields. The document names fields (renames rewrite
        it, as they do ``title_field``; removing a field drops the entries that name it). An
        entry naming a field that is gone or not stored is skipped rather than trusted."""
        out = []
        for spec in self.options.get("indexes") or ():
            fields = tuple(self._by_name.get(str(n)) for n in spec)
            if fields and all(f is not None and f.stored for f in fields):
                out.append(tuple(f for f in fields if f is not None))
        return tuple(out)

    @property
    def title_field(self) -> str:
        explicit = self.options.get("title_field")
        if explicit and explicit in self._by_name:
            return str(explicit)
        for f in self.fields:
            if f.required and f.type in ("text", "autonumber", "email", "phone"):
                return f.name
        for f in self.fields:
            if f.type in ("text", "autonumber"):
                return f.name
        return "id"

    def label(self, lang: str = "en") -> str:
        labels = self.options.get("label") or {}
        return str(labels.get(lang) or labels.get("en") or labels.get("zh") or self.name)

    def doc(self) -> dict[str, Any]:
        """The public document (what GET returns and the designer saves)."""
        out = copy.deepcopy(dict(self.options))
        out["fields"] = [f.doc() for f in self.fields]
        return out

    def children(self, snapshot: Snapshot) -> list[tuple[ObjectDef, FieldDef]]:
        """Objects with a master-detail field pointing at this one."""
        return [
            (o, f)
            for o in snapshot.objects.values()
            for f in o.fields
            if f.type == "master_detail" and f.target == self.name
        ]


@dataclass(frozen=True)
class RemovedObject:
    obj: ObjectDef
    removed_at: str
    removed_by: str | None

    @property
    def table(self) -> str:
        return removed_table_name(self.obj.id)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One version of a tenant's metadata. ``data`` is the stored JSON form.

    Compared and hashed by identity: caches of things derived from a snapshot (permission
    plans, compiled rules) key on the snapshot object itself.
    """

    version: int
    objects: Mapping[str, ObjectDef]
    removed_objects: Mapping[str, RemovedObject]
    data: Mapping[str, Any]

    @classmethod
    def from_data(cls, version: int, data: Mapping[str, Any], *,
                  owned: bool = False, like: Snapshot | None = None) -> Snapshot:
        """A snapshot of ``data``, which is copied first (nothing a caller holds can change
        a snapshot afterwards) unless ``owned``: the caller hands it over and never
        changes it again (the Designer's working copies, throwaway validation contexts).
        The data view and the definitions share one copy; both are read-only. ``like``,
        a snapshot this one was edited from, lends the definitions of entries that are
        equal in both (comparing is far cheaper than building)."""
        own = dict(data) if owned else _copy(dict(data))
        before = {e["doc"]["id"]: e for e in like.data.get("objects", [])} if like else {}
        objects = {}
        for entry in own.get("objects", []):
            prev = before.get(entry["doc"]["id"])
            reuse = like.object(entry["doc"]["name"]) if like is not None and prev == entry \
                else None
            o = reuse if reuse is not None else ObjectDef.from_entry(entry, owned=True)
            objects[o.name] = o
        removed = {}
        for entry in own.get("removed_objects", []):
            o = ObjectDef.from_entry(entry, owned=True)
            removed[o.id] = RemovedObject(o, entry["removed_at"], entry.get("removed_by"))
        return cls(version, MappingProxyType(objects), MappingProxyType(removed),
                   _freeze(own, owned=True))

    @classmethod
    def empty(cls) -> Snapshot:
        return cls.from_data(0, {"objects": [], "removed_objects": []})

    def object(self, name: str) -> ObjectDef | None:
        return self.objects.get(name)

    def object_by_id(self, object_id: str) -> ObjectDef | None:
        return next((o for o in self.objects.values() if o.id == object_id), None)

    def without_object(self, object_id: str) -> Snapshot:
        """This snapshot minus one active object, sharing everything else (no copy): the
        context an object is validated in."""
        data = {**self.data, "objects": [e for e in self.data.get("objects", [])
                                         if e["doc"]["id"] != object_id]}
        objects = {n: o for n, o in self.objects.items() if o.id != object_id}
        return Snapshot(self.version, MappingProxyType(objects), self.removed_objects,
                        MappingProxyType(data))

    def mutable_data(self) -> dict[str, Any]:
        """A deep copy of the stored form, for building the next version."""
        return _copy(dict(self.data))  # type: ignore[no-any-return]
