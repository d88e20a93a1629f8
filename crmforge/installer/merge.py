"""Three-way merge of a pack upgrade (DESIGN §8: tenant customizations are their own layer).

``base`` is what the installed version shipped, ``theirs`` what the new version ships,
``ours`` the tenant's document now, and ``ours_base`` the tenant's document as the install
left it. A key the pack changed takes the pack's value unless the tenant changed it too (to
something else): that is a conflict, reported, never decided silently. Fields of an object
merge one by one, by name.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()


@dataclass(frozen=True)
class Conflict:
    document: str
    path: str
    pack: Any
    tenant: Any

    def to_json(self) -> dict[str, Any]:
        return {"document": self.document, "path": self.path,
                "pack": None if self.pack is MISSING else self.pack,
                "tenant": None if self.tenant is MISSING else self.tenant,
                "message": f"{self.document} {self.path}: changed by the pack and by the tenant"}


@dataclass
class Merged:
    doc: dict[str, Any]
    conflicts: list[Conflict]
    changed: bool


def merge_keys(document: str, path: str, base: Mapping[str, Any], theirs: Mapping[str, Any],
               ours: dict[str, Any], ours_base: Mapping[str, Any], skip: frozenset[str],
               conflicts: list[Conflict], choose: str) -> bool:
    """Merge the top-level keys of one mapping into ``ours`` in place; True when changed.

    Every conflict is recorded; ``choose`` says which side it takes: ``"pack"``, or the
    tenant's (``"tenant"``, or ``"report"``, where the caller refuses the upgrade).
    """
    changed = False
    for key in sorted((set(base) | set(theirs)) - skip):
        b, t = base.get(key, MISSING), theirs.get(key, MISSING)
        if _same(b, t):
            continue  # the pack did not change it
        o, ob = ours.get(key, MISSING), ours_base.get(key, MISSING)
        if not _same(o, ob) and not _same(o, t):
            conflicts.append(Conflict(document, f"{path}{key}", t, o))
            if choose != "pack":
                continue
        if t is MISSING:
            changed |= ours.pop(key, MISSING) is not MISSING
        else:
            changed |= not _same(ours.get(key, MISSING), t)
            ours[key] = copy.deepcopy(t)
    return changed


def merge_object(name: str, base: Mapping[str, Any], theirs: Mapping[str, Any],
                 ours: Mapping[str, Any], ours_base: Mapping[str, Any],
                 choose: str = "report") -> Merged:
    """Merge an object document: its own keys, then each field by name."""
    conflicts: list[Conflict] = []
    doc = copy.deepcopy(dict(ours))
    changed = merge_keys(f"object {name}", "", base, theirs, doc, ours_base,
                         frozenset({"fields", "id", "version"}), conflicts, choose)
    fields = _by_name(doc.get("fields", []))
    b_fields, t_fields = _by_name(base.get("fields", [])), _by_name(theirs.get("fields", []))
    ob_fields = _by_name(ours_base.get("fields", []))
    order = [f["name"] for f in doc.get("fields", [])]
    for fname in list(dict.fromkeys([*b_fields, *t_fields])):
        b, t = b_fields.get(fname), t_fields.get(fname)
        mine, mine_base = fields.get(fname), ob_fields.get(fname)
        where = f"fields.{fname}"
        if b is None and t is not None:  # the pack adds a field
            if mine is None:
                fields[fname] = copy.deepcopy(t)
                order.append(fname)
                changed = True
            elif not _same(_strip(mine), t):
                conflicts.append(Conflict(f"object {name}", where, t, _strip(mine)))
                if choose == "pack":
                    fields[fname] = {**copy.deepcopy(t), **({"id": mine["id"]} if "id" in mine else {})}
                    changed = True
        elif b is not None and t is None:  # the pack drops a field
            if mine is None:
                continue
            unchanged = mine_base is not None and _same(_strip(mine), _strip(mine_base))
            if not unchanged:
                conflicts.append(Conflict(f"object {name}", where, MISSING, _strip(mine)))
            if unchanged or choose == "pack":
                del fields[fname]
                order.remove(fname)
                changed = True
        elif b is not None and t is not None and mine is not None:
            changed |= merge_keys(f"object {name}", f"{where}.", b, t, fields[fname],
                                  mine_base or {}, frozenset({"id"}), conflicts, choose)
    doc["fields"] = [fields[n] for n in order if n in fields]
    return Merged(doc, conflicts, changed)


def merge_document(kind: str, name: str, base: Mapping[str, Any], theirs: Mapping[str, Any],
                   ours: Mapping[str, Any], ours_base: Mapping[str, Any],
                   choose: str = "report") -> Merged:
    """Merge a role, layout, process or dashboard document key by key."""
    conflicts: list[Conflict] = []
    doc = copy.deepcopy(dict(ours))
    changed = merge_keys(f"{kind} {name}", "", base, theirs, doc, ours_base,
                         frozenset({"id", "version"}), conflicts, choose)
    return Merged(doc, conflicts, changed)


def _by_name(fields: Any) -> dict[str, Any]:
    return {f["name"]: f for f in fields if isinstance(f, Mapping) and "name" in f}


def _strip(field: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in field.items() if k != "id"}


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return bool(a == b)
