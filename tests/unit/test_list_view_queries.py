"""A saved view's query after a field rename: only that field's keys and names change."""

from __future__ import annotations

from crmforge.runtime.list_views import renamed_query


def test_renamed_query_touches_only_the_renamed_field() -> None:
    got = renamed_query("amount__gt=5&amounts=1&sort=-amount,amounts&fields=amounts,amount"
                        "&q=amount", "amount", "value")
    assert got == ("value__gt=5&amounts=1&sort=-value%2Camounts&fields=amounts%2Cvalue"
                   "&q=amount")
