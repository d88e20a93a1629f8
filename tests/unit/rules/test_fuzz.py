"""Random expressions built from the whole grammar and library: checking and evaluating
them may refuse, but only with an ExpressionError, never any other exception (which
the web layer would turn into a 500)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmforge.rules import LIBRARY, ExpressionContext, ExpressionError, T, compile_expression

CTX = ExpressionContext.from_types({"n": T.NUMBER, "m": T.NUMBER, "s": T.TEXT,
                                    "b": T.BOOLEAN, "d": T.DATE, "ts": T.DATETIME,
                                    "tags": T.LIST})
ATOMS = st.sampled_from([
    "n", "m", "s", "b", "d", "ts", "tags", "0", "1", "-3", "2.5", "1e3", "10**6", "''", "'a'",
    "'2024-02-30'", "None", "True", "False", "['a', 'b']", "today()", "now()", "9999",
    "0.001", "'(a+)+'", "'0.00'", "'YYYY'",
])
BINARY = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=",
                          "and", "or", "in"])


def expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        call = st.tuples(st.sampled_from(sorted(LIBRARY)),
                         st.lists(inner, max_size=4)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})")
        binop = st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        cond = st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})")
        unary = st.tuples(st.sampled_from(["not ", "-"]), inner).map(lambda t: t[0] + t[1])
        return call | binop | cond | unary

    return st.recursive(ATOMS, extend, max_leaves=12)


VALUES = st.fixed_dictionaries({
    "n": st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                 min_value=-10**6, max_value=10**6),
    "m": st.none() | st.integers(-10, 10).map(Decimal),
    "s": st.none() | st.text(max_size=20),
    "b": st.none() | st.booleans(),
    "d": st.none() | st.dates(),
    "ts": st.none() | st.datetimes(),
    "tags": st.none() | st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions(), values=VALUES)
def test_random_expressions_fail_only_with_expression_errors(source: str,
                                                             values: dict[str, Any]) -> None:
    try:
        compiled = compile_expression(source, CTX)
    except ExpressionError:
        return
    try:
        result = compiled.evaluate(values)
    except ExpressionError:
        return
    assert result is None or isinstance(result, (Decimal, str, bool, dt.date, list, int))
    assert not isinstance(result, float)
