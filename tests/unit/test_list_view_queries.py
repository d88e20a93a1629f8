"""A saved view's query after a field rename (only that field's keys and names change), and
as a reader who cannot read every field gets it (only those fields' terms go)."""

from __future__ import annotations

from crmforge.metadata.model import ObjectDef
from crmforge.runtime.list_views import readable_query, renamed_query


def test_renamed_query_touches_only_the_renamed_field() -> None:
    got = renamed_query("amount__gt=5&amounts=1&sort=-amount,amounts&fields=amounts,amount"
                        "&q=amount", "amount", "value")
    assert got == ("value__gt=5&amounts=1&sort=-value%2Camounts&fields=amounts%2Cvalue"
                   "&q=amount")


def _obj() -> ObjectDef:
    return ObjectDef.from_entry({"doc": {"id": "obj_0000000000", "name": "deal", "fields": [
        {"id": f"fld_{n:0>10}", "name": n, "type": "text"} for n in ("amount", "secret")]}})


def test_readable_query_leaves_out_what_the_reader_cannot_read() -> None:
    query = ("secret=x&secret__in=a,b&amount__gt=5&owner_id=3&gone=1&total=true&limit=20"
             "&sort=-secret,amount,-created_at&fields=secret,amount&q=secret")
    got = readable_query(_obj(), frozenset({"amount"}), query)
    assert got == ("amount__gt=5&owner_id=3&total=true&limit=20"
                   "&sort=amount%2C-created_at&fields=amount&q=secret")
    # Nothing left of a list of names: the parameter goes too.
    assert readable_query(_obj(), frozenset(), "sort=-secret&fields=secret&amount=1") == ""
    # A reader of every field gets the query as stored (removed fields aside).
    everything = frozenset({"amount", "secret"})
    assert readable_query(_obj(), everything, "secret=x&amount=1") == "secret=x&amount=1"
