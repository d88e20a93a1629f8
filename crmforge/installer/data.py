"""Sample records of a pack (``data/<object>.csv``) written through the record service.

A CSV cell is text; the field's type decides how it becomes a value (numbers, true/false,
``;``-separated multi-picklists). A row may carry a ``_key``; a lookup or master-detail cell
names the key of a row of the target object's file (``account`` = ``acme``), so sample data
needs no ids. Rows go through ``RecordService.create_many``: the same validation, rules,
history and permissions as any other write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import ValidationFailed
from ..metadata.model import ObjectDef, Snapshot
from ..runtime.records import RecordService
from ..security.principal import Principal
from .documents import REFERENCE_TYPES

#: Record keys of a pack: key -> (object, id); saved with the pack for later upgrades.
Keys = dict[str, list[Any]]


def payload(obj: ObjectDef, row: Mapping[str, str], keys: Keys, file: str,
            line: int) -> tuple[dict[str, Any], set[str]]:
    """The record payload of one CSV row, and the keys of this file it refers to."""
    out: dict[str, Any] = {}
    pending: set[str] = set()
    errors: dict[str, list[str]] = {}
    for column, text in row.items():
        if column == "_key" or text is None or text == "":
            continue
        f = obj.field(column)
        if f is None:
            errors.setdefault(f"{file}: line {line}", []).append(
                f"'{obj.name}' has no field '{column}'")
            continue
        if f.type in REFERENCE_TYPES:
            ref = keys.get(_key(f.target or "", text))
            if ref is None:
                if f.target == obj.name:
                    pending.add(text)
                    out[column] = text
                else:
                    errors.setdefault(f"{file}: line {line}", []).append(
                        f"{column}: no {f.target} with the key '{text}'")
                continue
            out[column] = ref[1]
        elif f.type == "multipicklist":
            out[column] = [v.strip() for v in text.split(";") if v.strip()]
        elif f.type == "integer":
            out[column] = _integer(text)
        elif f.type == "boolean":
            out[column] = {"true": True, "false": False, "1": True, "0": False,
                           "yes": True, "no": False}.get(text.strip().lower(), text)
        else:
            out[column] = text
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
    return out, pending


def _integer(text: str) -> Any:
    try:
        return int(text.strip())
    except ValueError:
        return text  # the record service names the problem


def _key(object_name: str, key: str) -> str:
    return f"{object_name}:{key}"


def load_rows(records: RecordService, principal: Principal, snapshot: Snapshot,
              object_name: str, rows: list[dict[str, str]], keys: Keys,
              known: Keys | None = None) -> int:
    """Create the rows of one file in order; a row that refers to a key of the same file
    waits until that row exists. ``known`` are the keys of the packs this one depends on
    (an exhibitor's ``account`` may name a core sample account). Returns the number of
    records created."""
    obj = snapshot.object(object_name)
    if obj is None:
        raise ValidationFailed(f"data/{object_name}.csv: no object '{object_name}'")
    file = f"data/{object_name}.csv"
    batch: list[tuple[str, dict[str, Any]]] = []
    created = 0

    def flush() -> None:
        nonlocal created
        if not batch:
            return
        try:
            ids = records.create_many(principal, object_name, [p for _, p in batch])
        except ValidationFailed as exc:
            raise ValidationFailed(f"{file}: {exc.message}", exc.fields) from None
        for (key, _), rid in zip(batch, ids, strict=True):
            if key:
                keys[_key(object_name, key)] = [object_name, rid]
        created += len(ids)
        batch.clear()

    in_batch: set[str] = set()
    for line, row in enumerate(rows, start=2):
        values, pending = payload(obj, row, {**(known or {}), **keys}, file, line)
        if pending & in_batch:
            flush()
            in_batch.clear()
            values, pending = payload(obj, row, {**(known or {}), **keys}, file, line)
        if pending:
            missing = ", ".join(sorted(pending))
            raise ValidationFailed(f"{file}: line {line}: refers to '{missing}', which is not a "
                                   "key of an earlier row", {f"{file}: line {line}": [missing]})
        key = row.get("_key", "")
        if key and _key(object_name, key) in keys:
            continue  # installed before (an upgrade adds only new rows)
        batch.append((key, values))
        if key:
            in_batch.add(key)
    flush()
    return created
