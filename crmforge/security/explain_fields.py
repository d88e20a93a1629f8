"""Explanations at the field level: may this user see this field, and if not, why?

Field rules (level 6) decide directly; a computed field is hidden as well when it is
derived from a field the user may not see (``derived``). The answer comes from the same
plan that reads and writes use, so it cannot drift from what the user is shown.
"""

from __future__ import annotations

from ..metadata.model import ObjectDef
from .engine import Access, Decision


def explain_field(access: Access, obj: ObjectDef, field: str, *, masked_by_row: bool = False
                  ) -> Decision:
    """Whether the principal sees ``field`` of ``obj``; ``masked_by_row``: the field is
    read through related records the user does not all see (masked on those rows)."""
    p = access.principal
    if obj.field(field) is None:
        return Decision(False, "field", f"{obj.name} has no field '{field[:40]}'")
    if access.unrestricted:
        return Decision(True, "role", f"'{p.label}' is an administrator")
    roles = ", ".join(sorted(p.roles)) or "no roles"
    grant = access.grant(obj)
    source = grant.derived.get(field) if grant is not None else None
    if source is not None:
        return Decision(False, "field", f"'{field}' is computed from {source}, "
                                        "which the user may not see")
    level = access.field_access(obj, field)
    if level == "hidden":
        return Decision(False, "field", f"'{field}' is hidden from the user's roles ({roles})")
    if masked_by_row:
        return Decision(True, "field", f"'{field}' is {level} for the user's roles ({roles}); "
                                       "it is empty on records whose related records the user "
                                       "cannot see")
    return Decision(True, "field", f"'{field}' is {level} for the user's roles ({roles})")


__all__ = ["explain_field"]
