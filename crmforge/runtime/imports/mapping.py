"""Which column goes to which field: the proposal from the headers, and the check of a
mapping before anything is stored.

A column maps to a field by its API name, or by the field's label in Chinese or English
(compared without case, width or surrounding blanks; a trailing ``*`` or colon is
ignored). A lookup or master-detail column names the parent by its title by default, or by
one of the parent's unique fields with ``<field>.<parent field>`` (``account.code``), or
by its id (``account.id``). A mapping may only name fields the importing user may edit:
a hidden field is refused like a field that does not exist, a read-only or computed one
with its reason, and all of it before the file is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...core.errors import BadRequest, ValidationFailed
from ...metadata.model import FieldDef, ObjectDef
from ..context import Ctx
from ..fields import SYSTEM_FIELD_DEFS

MODES = ("create", "update", "upsert")
REFERENCES = frozenset({"lookup", "master_detail"})
#: Field types a column cannot fill: computed, or files (attached through their endpoint).
NOT_IMPORTABLE = frozenset({"formula", "rollup", "autonumber", "file"})


@dataclass(frozen=True)
class Target:
    """One mapped column."""

    column: int
    header: str
    name: str  # as mapped: "account" or "account.code"
    field: FieldDef | None  # None for the record id (update by id)
    parent: ObjectDef | None = None  # the lookup's target object
    via: str | None = None  # the parent's field matched on ("id"; None: its title)


@dataclass(frozen=True)
class Plan:
    obj: ObjectDef
    mode: str
    key: str | None
    headers: tuple[str, ...]
    targets: tuple[Target, ...]

    @property
    def key_target(self) -> Target | None:
        for t in self.targets:
            if self.key is not None and t.name == self.key:
                return t
        return None

    def as_json(self) -> list[list[Any]]:
        return [[t.column, t.header, t.name] for t in self.targets]


def norm(text: str) -> str:
    """A header or label as compared: NFKC (full width to half), no case, single blanks,
    no trailing required marker or colon."""
    s = unicodedata.normalize("NFKC", str(text)).casefold().strip()
    s = re.sub(r"\s+", " ", s)
    return s.rstrip("*:").strip()


def importable(ctx: Ctx) -> list[FieldDef]:
    """The fields the user may fill from a file: editable for them, not computed."""
    writable = ctx.access.writable(ctx.obj)
    return [f for f in ctx.obj.fields
            if f.name in writable and f.kind.writable and f.type not in NOT_IMPORTABLE]


def check_mode(ctx: Ctx, mode: Any, key: Any) -> tuple[str, str | None]:
    """The mode and key, checked against what the user may do (``import`` and the writes
    the mode makes), before anything else."""
    if mode not in MODES:
        raise BadRequest("mode is create, update or upsert", {"mode": ["not a mode"]})
    ctx.access.check(ctx.obj, "import")
    if mode in ("create", "upsert"):
        ctx.access.check(ctx.obj, "create")
    if mode in ("update", "upsert"):
        ctx.access.check(ctx.obj, "update")
    if mode == "create":
        return mode, None
    if not isinstance(key, str) or not key:
        raise BadRequest(f"an {mode} needs \"key\": a unique field", {"key": ["required"]})
    if key == "id" and mode == "update":
        return mode, key
    f = ctx.obj.field(key)
    readable = ctx.access.readable(ctx.obj)
    if f is None or key not in readable or not f.unique:
        raise ValidationFailed(f"key: '{key[:40]}' is not a unique field you may read",
                               {"key": ["not a unique field you may read"]})
    if mode == "upsert" and f not in importable(ctx):
        raise ValidationFailed(f"key: {key} is read-only for you; an upsert creates records "
                               "with it", {"key": ["is read-only for you"]})
    return mode, key


def propose(ctx: Ctx, headers: list[str], mode: str, key: str | None) -> dict[str, str | None]:
    """Header -> field (or None) as proposed for the wizard and used when no mapping is sent."""
    names: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for f in importable(ctx):
        names[norm(f.name)] = f.name
        for lang in ("zh", "en"):
            label = (f.options.get("label") or {}).get(lang)
            if label:
                labels.setdefault(norm(str(label)), set()).add(f.name)
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for header in headers:
        if header in out:
            continue
        n = norm(header)
        choice: str | None = names.get(n)
        if choice is None and len(labels.get(n, ())) == 1:
            choice = next(iter(labels[n]))
        if choice is None and "." in n:
            base, _, via = n.partition(".")
            lookup = ctx.obj.field(names.get(base, ""))
            if lookup is not None and lookup.type in REFERENCES:
                choice = f"{lookup.name}.{via}"
        if choice is None and n == "id" and mode == "update" and key == "id":
            choice = "id"
        if choice is not None and choice not in taken:
            taken.add(choice)
            out[header] = choice
        else:
            out[header] = None
    return out


def plan(ctx: Ctx, headers: list[str], mapping: Mapping[str, Any] | None, mode: str,
         key: str | None) -> Plan:
    """The checked mapping; every problem is reported at once, keyed by column header."""
    if mapping is None:
        mapping = propose(ctx, headers, mode, key)
    if not isinstance(mapping, Mapping):
        raise BadRequest("mapping is a JSON object {\"<column header>\": \"<field>\"}",
                         {"mapping": ["not an object"]})
    problems: dict[str, list[str]] = {}
    targets: list[Target] = []
    used: dict[str, str] = {}
    for header, name in mapping.items():
        if name is None or name == "":
            continue
        if not isinstance(name, str):
            problems.setdefault(str(header)[:200], []).append("names a field as text")
            continue
        if header not in headers:
            problems.setdefault(str(header)[:200], []).append("is not a column of the file")
            continue
        try:
            target = _target(ctx, headers.index(header), header, name, mode, key)
        except ValidationFailed as exc:
            problems.setdefault(header, []).append(exc.message)
            continue
        field_name = name.partition(".")[0]
        if field_name in used:
            problems.setdefault(header, []).append(
                f"maps to {field_name}, like the column '{used[field_name][:40]}'")
            continue
        used[field_name] = header
        targets.append(target)
    if key is not None and not problems and key not in used:
        problems.setdefault("key", []).append(f"no column maps to the key {key}")
    if not targets and not problems:
        problems["mapping"] = ["no column maps to a field"]
    if problems:
        first = next(iter(problems))
        raise ValidationFailed(f"column '{first[:40]}': {problems[first][0]}", problems)
    return Plan(ctx.obj, mode, key, tuple(headers), tuple(targets))


def _target(ctx: Ctx, column: int, header: str, name: str, mode: str,
            key: str | None) -> Target:
    base, dot, via = name.partition(".")
    if name == "id":
        if mode == "update" and key == "id":
            return Target(column, header, name, None)
        raise ValidationFailed("id is given by the system; it can only find the records of an "
                               "update by id (mode update, key id)")
    f = ctx.obj.field(base)
    readable = ctx.access.readable(ctx.obj)
    if f is None or base not in readable:
        if base in SYSTEM_FIELD_DEFS or base == "deleted_at":
            raise ValidationFailed(f"{base} is set by the system")
        raise ValidationFailed(f"'{base[:40]}' is not a field of {ctx.obj.name} you may import into")
    if f.type in NOT_IMPORTABLE:
        reason = "files are attached one by one, not imported" if f.type == "file" \
            else f"is a {f.type} field and computed"
        raise ValidationFailed(f"{base}: {reason}")
    if f.name not in ctx.access.writable(ctx.obj) and not (mode == "update" and f.name == key):
        raise ValidationFailed(f"{base} is read-only for you")
    if not dot:
        parent = ctx.snapshot.object(f.target or "") if f.type in REFERENCES else None
        if f.type in REFERENCES:
            if parent is None or not ctx.access.allowed(parent, "read"):
                raise ValidationFailed(f"{base}: you may not read {f.target} records")
            title = parent.title_field
            if title != "id" and title not in ctx.access.readable(parent):
                raise ValidationFailed(f"{base}: you may not read the titles of {parent.name} "
                                       f"records; map {base}.<unique field> instead")
            return Target(column, header, name, f, parent, "id" if title == "id" else None)
        return Target(column, header, name, f)
    if f.type not in REFERENCES:
        raise ValidationFailed(f"{base} is not a lookup; '{name[:60]}' names nothing")
    parent = ctx.snapshot.object(f.target or "")
    if parent is None or not ctx.access.allowed(parent, "read"):
        raise ValidationFailed(f"{base}: you may not read {f.target} records")
    if via == "id":
        return Target(column, header, name, f, parent, "id")
    pf = parent.field(via)
    if pf is None or via not in ctx.access.readable(parent) or \
            not (pf.unique or via == parent.title_field):
        raise ValidationFailed(f"{base}: '{via[:40]}' is not a unique field of {parent.name}")
    return Target(column, header, name, f, parent, None if via == parent.title_field else via)


__all__ = ["MODES", "NOT_IMPORTABLE", "Plan", "Target", "check_mode", "importable", "norm",
           "plan", "propose"]
