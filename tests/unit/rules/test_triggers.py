"""Triggers: the script API, the host round trip and the per-run budgets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest

from crmforge.rules.triggers import (
    TriggerBudget,
    TriggerLimitExceeded,
    TriggerRefused,
    TriggerRunner,
    TriggerScriptError,
)

FIELDS = ["amount", "name", "vip", "due", "tags"]


class Host:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Mapping[str, Any]]] = []
        self.runner: TriggerRunner | None = None

    def query(self, object_name: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.calls.append(("query", object_name, dict(filters)))
        if object_name == "secret":
            raise PermissionError("you may not read secret")
        return [{"id": 1, "name": "ACME", "credit": Decimal("10.5")}]

    def create(self, object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", object_name, dict(values)))
        if self.runner is not None and object_name == "task":  # the record's own trigger
            self.runner.run("x = create('task', {'name': 'again'})", fields=["name"],
                            record=dict(values), host=self)
        return {"id": 99, **values}


@pytest.fixture(scope="module")
def runner() -> Iterator[TriggerRunner]:
    r = TriggerRunner(workers=2)
    yield r
    r.close()


def run(runner: TriggerRunner, source: str, record: dict[str, Any] | None = None,
        **kw: Any) -> Any:
    return runner.run(source, fields=FIELDS, record=record or {"amount": Decimal(5)}, **kw)


def test_record_old_and_set_field(runner: TriggerRunner) -> None:
    result = run(runner, """
if is_new:
    set_field('name', 'new')
elif record.amount != old.amount:
    set_field('name', 'changed from ' + str(old['amount']))
set_field('vip', record.amount > 1000)
set_field('due', add_days(date(2024, 1, 31), 30))
set_field('tags', ['a', 'b'])
set_field('amount', record.amount / 3 * 1.5)
""", {"amount": Decimal(3000)}, old={"amount": Decimal(2000)})
    assert result.changes == {"name": "changed from 2000", "vip": True,
                              "due": dt.date(2024, 3, 1), "tags": ["a", "b"],
                              "amount": Decimal("1500.0")}
    assert type(result.changes["amount"]) is Decimal
    assert run(runner, "set_field('name', 'x' if is_new else 'y')").changes == {"name": "x"}


def test_errors_and_output(runner: TriggerRunner) -> None:
    result = run(runner, """
if record.amount < 10:
    add_error('amount', 'too small')
    add_error('nowhere', 'general problem')
print('checked', record.amount)
""")
    assert result.errors == {"amount": ["too small"], "__all__": ["general problem"]}
    assert result.output == "checked 5\n"


def test_set_field_is_checked(runner: TriggerRunner) -> None:
    with pytest.raises(TriggerRefused, match="no field"):
        run(runner, "set_field('nope', 1)")
    with pytest.raises(TriggerRefused, match="only before-save"):
        run(runner, "set_field('name', 'x')", when="after")
    with pytest.raises(TriggerScriptError, match="cannot be a field value"):
        run(runner, "set_field('name', record)")


def test_query_and_create_go_through_the_host(runner: TriggerRunner) -> None:
    host = Host()
    result = run(runner, """
rows = query('account', name='ACME', credit__gt=10)
task = create('task', {'name': 'call ' + rows[0].name, 'credit': rows[0].credit * 2})
set_field('name', str(task.id))
""", host=host)
    assert result.changes == {"name": "99"} and (result.queries, result.writes) == (1, 1)
    assert host.calls == [
        ("query", "account", {"name": "ACME", "credit__gt": Decimal(10)}),
        ("create", "task", {"name": "call ACME", "credit": Decimal("21.0")}),
    ]


def test_host_refusals_reach_the_script(runner: TriggerRunner) -> None:
    host = Host()
    with pytest.raises(TriggerScriptError, match="may not read secret"):
        run(runner, "rows = query('secret')", host=host)
    result = run(runner, """
try:
    query('secret')
except ValueError as e:
    set_field('name', 'refused')
""", host=host)
    assert result.changes == {"name": "refused"}
    with pytest.raises(TriggerScriptError, match="cannot query or create"):
        run(runner, "query('account')")


def test_query_and_write_budgets(runner: TriggerRunner) -> None:
    budget = TriggerBudget(max_queries=2, max_writes=1)
    with pytest.raises(TriggerLimitExceeded) as info:
        run(runner, "for i in range(3):\n    query('account')", host=Host(), budget=budget)
    assert info.value.limit == "queries"
    with pytest.raises(TriggerLimitExceeded) as info:
        run(runner, "create('a', {})\ncreate('a', {})", host=Host(), budget=budget)
    assert info.value.limit == "writes"


def test_nested_triggers_are_bounded(runner: TriggerRunner) -> None:
    host = Host()
    host.runner = runner
    with pytest.raises(TriggerScriptError, match="at most 3 levels"):
        run(runner, "create('task', {'name': 'first'})", host=host)
    assert len([c for c in host.calls if c[0] == "create"]) == 3


def test_iteration_budget_counts_loops_and_iterables(runner: TriggerRunner) -> None:
    budget = TriggerBudget(max_iterations=100)
    assert run(runner, "x = 0\nfor i in range(40):\n    x += i\nset_field('amount', x)",
               budget=budget).changes == {"amount": Decimal(780)}
    with pytest.raises(TriggerLimitExceeded) as info:
        run(runner, "x = [i for i in range(200)]", budget=budget)
    assert info.value.limit == "iterations"


def test_round_trip_is_milliseconds(runner: TriggerRunner) -> None:
    import time

    run(runner, "x = 1")
    started = time.perf_counter()
    for _ in range(20):
        run(runner, "set_field('amount', record.amount + 1)")
    per_run = (time.perf_counter() - started) / 20
    assert per_run < 0.05, per_run
