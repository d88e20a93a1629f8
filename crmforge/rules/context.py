"""What an expression can see: the fields of one object, their types, and the fields of
objects reachable through its lookup and master-detail fields (at most three hops).

A context is built once per object and metadata snapshot. Its ``signature`` digests every
type it can expose, so a compiled expression can be cached by (source, signature) and a
cache hit is always correct, whichever tenant or version produced the context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..metadata.model import FieldDef, ObjectDef, Snapshot
from .types import T, field_type

#: How many relations a path may cross: ``account.parent.owner_region`` crosses two.
MAX_RELATION_DEPTH = 3
RELATION_TYPES = frozenset({"lookup", "master_detail"})

#: System fields every record has (DESIGN §3) and their expression types.
SYSTEM_FIELD_TYPES: Mapping[str, T] = MappingProxyType({
    "id": T.REFERENCE, "version": T.NUMBER, "owner_id": T.REFERENCE,
    "department_id": T.REFERENCE, "created_at": T.DATETIME, "created_by": T.REFERENCE,
    "updated_at": T.DATETIME, "updated_by": T.REFERENCE,
})


@dataclass(frozen=True)
class FieldInfo:
    """A name an expression may read: its type, and the target object if it is a relation."""

    name: str
    type: T
    definition: FieldDef | None = None
    target: str | None = None

    @property
    def is_relation(self) -> bool:
        return self.target is not None


def _infos(obj: ObjectDef) -> dict[str, FieldInfo]:
    out = {name: FieldInfo(name, t) for name, t in SYSTEM_FIELD_TYPES.items()}
    for f in obj.fields:
        target = f.target if f.type in RELATION_TYPES else None
        out[f.name] = FieldInfo(f.name, field_type(f), f, target)
    return out


@dataclass(frozen=True, eq=False)
class ExpressionContext:
    """The names visible to expressions of one object. Hash and equality follow the
    signature, so contexts built twice from the same metadata share cached compilations."""

    object_name: str
    fields: Mapping[str, FieldInfo]
    #: Every object reachable within MAX_RELATION_DEPTH hops, by name (the own one too).
    objects: Mapping[str, Mapping[str, FieldInfo]] = field(repr=False)
    signature: str = field(repr=False)

    @classmethod
    def for_object(cls, obj: ObjectDef, snapshot: Snapshot) -> ExpressionContext:
        """The context of ``obj``; relation targets come from ``snapshot`` (``obj`` itself
        may be a document not yet saved, and may point at itself)."""
        objects: dict[str, Mapping[str, FieldInfo]] = {obj.name: _infos(obj)}
        frontier = [obj.name]
        for _ in range(MAX_RELATION_DEPTH):
            nxt = []
            for name in frontier:
                for info in objects[name].values():
                    t = info.target
                    if t is None or t in objects:
                        continue
                    target = snapshot.object(t)
                    if target is not None:
                        objects[t] = _infos(target)
                        nxt.append(t)
            frontier = nxt
        return cls(obj.name, MappingProxyType(objects[obj.name]),
                   MappingProxyType(objects), _signature(obj.name, objects))

    @classmethod
    def empty(cls) -> ExpressionContext:
        """No fields at all: constant expressions such as defaults without a record."""
        return cls("", MappingProxyType({}), MappingProxyType({"": {}}), _signature("", {}))

    @classmethod
    def from_types(cls, types: Mapping[str, T], name: str = "adhoc") -> ExpressionContext:
        """A context of plain typed names (tests, workflow variables)."""
        infos = {n: FieldInfo(n, t) for n, t in types.items()}
        return cls(name, MappingProxyType(infos), MappingProxyType({name: infos}),
                   _signature(name, {name: infos}))

    def target_fields(self, object_name: str) -> Mapping[str, FieldInfo] | None:
        return self.objects.get(object_name)

    def __hash__(self) -> int:
        return hash(self.signature)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExpressionContext) and other.signature == self.signature


def _signature(own: str, objects: Mapping[str, Mapping[str, FieldInfo]]) -> str:
    parts = [own]
    for name in sorted(objects):
        parts.append(name + ":" + ",".join(
            f"{i.name}/{i.type.value}/{i.target or ''}" for i in objects[name].values()))
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()
