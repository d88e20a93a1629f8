"""Objects that once made the OpenAPI document break generated clients, added to a tenant
by the OpenAPI tests: two objects with one label ("Pharmacy", like a pack's picklist
choice), names that end in the words record schemas append (``deal`` and ``deal_input``),
names of the API's own schemas and operations (``approval``, ``job``, ``role``), picklists
named like schema parts (``input``, ``list``) and picklists whose names run together
(``deal`` + ``a_b`` and ``deal_a`` + ``b``)."""

from __future__ import annotations

from typing import Any


def _picklist(name: str, *values: str) -> dict[str, Any]:
    return {"name": name, "type": "picklist", "label": {"en": "Status", "zh": "状态"},
            "choices": [{"value": v, "label": {"en": v.title()}} for v in values]}


PHARMACY = {"en": "Pharmacy", "zh": "药房"}

OBJECTS: list[dict[str, Any]] = [
    {"name": "deal", "label": PHARMACY, "fields": [
        {"name": "title", "type": "text", "required": True, "label": {"en": "Title"}},
        _picklist("status", "open", "won"), _picklist("input", "a", "b"),
        _picklist("list", "x"), _picklist("a_b", "p"),
        {"name": "tags", "type": "multipicklist", "label": {"en": "Status"},
         "choices": [{"value": "hot"}, {"value": "cold"}]},
        {"name": "contract", "type": "file", "label": {"en": "Pharmacy"}}]},
    {"name": "deal_input", "label": PHARMACY, "fields": [
        _picklist("status", "new", "old", "lost")]},
    {"name": "deal_a", "label": {"en": "Deal A"}, "fields": [_picklist("b", "q", "r")]},
    {"name": "approval", "label": {"en": "Approval"}, "fields": [_picklist("state", "y", "z")]},
    {"name": "job", "label": {"en": "Job"}, "fields": [{"name": "ref", "type": "text"}]},
    {"name": "role", "label": {"en": "Role"}, "fields": [{"name": "ref", "type": "text"}]},
]
