"""Dependent picklists: a picklist (or multi-select picklist) whose ``controlling_field``
names another picklist or a checkbox offers, for each controlling value, only the choices
whose ``depends_on`` lists that value (a checkbox's values are ``"true"`` and
``"false"``). A choice without ``depends_on`` goes with every controlling value, so an
existing picklist keeps working when a controlling field is added
(docs/decisions/0012-dependent-picklists.md).

The write pipeline enforces it whenever either field is written; the record form uses
``allowed_choices`` to offer only what would be accepted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..metadata.model import FieldDef, ObjectDef

Errors = dict[str, list[str]]


def controlling_value(value: Any) -> str | None:
    """A controlling field's value as ``depends_on`` spells it (None when empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def allowed_choices(f: FieldDef, controller: str | None) -> list[str]:
    """The choices of dependent field ``f`` that go with the controlling value."""
    out = []
    for choice in f.options.get("choices") or []:
        depends = choice.get("depends_on")
        if depends is None or (controller is not None and controller in depends):
            out.append(str(choice["value"]))
    return out


def dependents(obj: ObjectDef) -> list[tuple[FieldDef, str]]:
    """The object's dependent picklists with the name of their controlling field."""
    return [(f, str(f.options["controlling_field"])) for f in obj.fields
            if f.type in ("picklist", "multipicklist") and f.options.get("controlling_field")]


def _chosen(f: FieldDef, stored: Any) -> list[str]:
    if stored is None or stored == "":
        return []
    if f.type == "multipicklist":
        return [v for v in str(stored).split(";") if v]
    return [str(stored)]


def check(obj: ObjectDef, values: Mapping[str, Any], before: Mapping[str, Any],
          errors: Errors) -> None:
    """Refuse a dependent value that does not go with its controlling value, when the
    write sets either of them (an untouched pair stays as it is)."""
    for f, ctrl in dependents(obj):
        if f.name not in values and ctrl not in values:
            continue
        if f.name in errors or ctrl in errors:
            continue  # the value did not convert; that message says enough
        stored = values[f.name] if f.name in values else before.get(f.name)
        controller = controlling_value(values[ctrl] if ctrl in values else before.get(ctrl))
        allowed = allowed_choices(f, controller)
        bad = [v for v in _chosen(f, stored) if v not in allowed]
        if bad:
            shown = controller if controller is not None else "empty"
            errors.setdefault(f.name, []).append(
                f"'{bad[0][:40]}' is not allowed when {ctrl} is {shown[:40]}")
