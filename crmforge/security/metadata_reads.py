"""Metadata as one reader may see it (decision 0015).

Administrators manage metadata and read every document whole. Anyone else reads the
documents of the objects they may read or create, and in them only what describes the
fields they may read: an object document would otherwise name hidden fields, and its
expressions (formulas, defaults, conditions, validation rules, roll-up filters) and
trigger scripts would tell how hidden values are computed and which values they hold.
The server evaluates every expression (DESIGN §6), so no client needs them: the pages
compute field states and formulas on the server, and a refused write says why.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..metadata.model import ObjectDef
from .engine import Access

#: Object keys a reader gets (``fields`` is filtered separately). Left out: validation
#: rules, status rules and triggers (conditions and scripts over any field).
OBJECT_KEYS = frozenset({"id", "name", "label", "plural_label", "description", "title_field",
                         "pack", "actions"})
#: Field keys a reader gets: what the field is and what a value must look like. Left out:
#: ``default``, ``visible_if``, ``required_if``, ``readonly_if``, ``expression`` and a
#: roll-up's ``filter`` and child ``field`` (expressions and names beyond this field).
FIELD_KEYS = frozenset({
    "id", "name", "type", "label", "help", "description", "required", "unique", "indexed",
    "searchable", "max_length", "pattern", "scale", "min", "max", "choices",
    "controlling_field", "restricted", "target", "format", "start", "result_type", "stored",
    "function", "child", "max_size", "accept",
})


def offered(access: Access, obj: ObjectDef) -> bool:
    """Whether the reader sees the object's document: they may read or create its records
    (a create-only role still needs its fields to write one)."""
    return access.allowed(obj, "read") or access.allowed(obj, "create")


def object_doc(access: Access, obj: ObjectDef) -> dict[str, Any]:
    """The object's document for this reader (the whole one for administrators)."""
    doc = obj.doc()
    if access.unrestricted:
        return doc
    readable = access.readable(obj)
    snapshot = access.snapshot
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k in OBJECT_KEYS}
    if out.get("title_field") not in readable:
        out.pop("title_field", None)
    out["fields"] = [_field(access, f, readable, snapshot.objects)
                     for f in doc.get("fields", []) if f.get("name") in readable]
    return out


def _field(access: Access, f: Mapping[str, Any], readable: frozenset[str],
           objects: Mapping[str, ObjectDef]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in f.items() if k in FIELD_KEYS}
    if out.get("controlling_field") is not None and out["controlling_field"] not in readable:
        # The choices' dependencies would name the hidden field's values.
        out.pop("controlling_field")
        for choice in out.get("choices") or []:
            if isinstance(choice, dict):
                choice.pop("depends_on", None)
    for key in ("target", "child"):  # objects the reader may not see stay unnamed
        other = objects.get(str(out.get(key)))
        if key in out and (other is None or not offered(access, other)):
            out.pop(key)
    return out
