"""System fields as typed field definitions, so filters, sorting and output treat them like
any other field."""

from __future__ import annotations

from types import MappingProxyType

from ..metadata.model import FieldDef, ObjectDef


def _sys(name: str, type_: str) -> FieldDef:
    return FieldDef("sys_" + name, name, type_, MappingProxyType({"name": name, "type": type_}))


SYSTEM_FIELD_DEFS: dict[str, FieldDef] = {
    f.name: f
    for f in (
        _sys("id", "integer"),
        _sys("version", "integer"),
        _sys("owner_id", "user"),
        _sys("department_id", "department"),
        _sys("created_at", "datetime"),
        _sys("created_by", "user"),
        _sys("updated_at", "datetime"),
        _sys("updated_by", "user"),
    )
}
SYSTEM_OUTPUT = ("owner_id", "department_id", "created_at", "created_by", "updated_at", "updated_by")


def lookup_field(obj: ObjectDef, name: str) -> FieldDef | None:
    """A field of the object, or a system field, by API name."""
    return obj.field(name) or SYSTEM_FIELD_DEFS.get(name)
