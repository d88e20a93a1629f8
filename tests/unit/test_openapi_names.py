"""The names the OpenAPI document gives each object's schemas and operations (decision
0023): functions of the API name alone, and never the same for two objects, checked over
every API name of up to four characters from a small alphabet that has what makes names
run together (a letter, a second letter, a digit and the underscore)."""

from __future__ import annotations

import itertools
import re

from crmforge.core.names import NAME_PATTERN
from crmforge.web.openapi_records import (
    choice_schema,
    operation_ids,
    pascal,
    record_schema,
    record_tag,
)

PARTS = ("", "Input", "Patch", "List")


def _names(alphabet: str = "ab1_", longest: int = 4) -> list[str]:
    out = []
    for n in range(1, longest + 1):
        for chars in itertools.product(alphabet, repeat=n):
            name = "".join(chars)
            if NAME_PATTERN.fullmatch(name) and "__" not in name:
                out.append(name)
    return out


NAMES = _names()


def test_pascal_case_keeps_names_apart() -> None:
    assert pascal("sales_order") == "SalesOrder"
    assert pascal("item_2") == "Item_2" and pascal("item2") == "Item2"
    assert pascal("deal_") == "Deal_"
    shown = [pascal(n) for n in NAMES]
    assert len(set(shown)) == len(NAMES)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", s) for s in shown)


def test_record_schema_names_never_collide() -> None:
    names = [record_schema(n, part) for n in NAMES for part in PARTS]
    assert len(set(names)) == len(names)
    # ... nor with a picklist's values, of any object's any field.
    choices = [choice_schema(o, f) for o in NAMES[:60] for f in NAMES]
    assert len(set(choices)) == len(choices)
    assert not set(choices) & set(names)


def test_operation_ids_never_collide() -> None:
    ids = [op for n in NAMES for op in operation_ids(n).values()]
    assert len(set(ids)) == len(ids)
    assert len({record_tag(n) for n in NAMES}) == len(NAMES)


def test_names_follow_the_documented_templates() -> None:
    assert record_schema("deal") == "DealRecord"
    assert record_schema("deal", "Input") == "DealRecordInput"
    assert choice_schema("deal", "stage") == "DealRecord_StageChoice"
    assert operation_ids("deal") == {
        "list": "list_deal_records", "create": "create_deal_record", "get": "get_deal_record",
        "update": "update_deal_record", "delete": "delete_deal_record",
        "restore": "restore_deal_record", "history": "get_deal_record_history",
        "export": "export_deal_records", "export_job": "export_deal_records_job",
        "bulk": "bulk_write_deal_records"}
