"""Query plans as evidence: capture the SQL a call really sends and ask the database to
explain it, so a slow figure comes with the reason (index used or not, sort in memory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event


def capture_sql(engine: sa.Engine, fn: Callable[[], object]) -> list[tuple[str, Any]]:
    """Every (statement, parameters) ``fn`` sends through ``engine``, in order."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen


def explain(engine: sa.Engine, statement: str, parameters: Any) -> list[str]:
    """The database's plan for one captured statement, one line per step."""
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return [str(r[3] if sqlite else r[0]) for r in rows]


def plan_of(engine: sa.Engine, fn: Callable[[], object],
            marker: str = "ORDER BY") -> dict[str, Any]:
    """SQL and plan of the first statement of ``fn`` that contains ``marker``."""
    for statement, parameters in capture_sql(engine, fn):
        if marker in statement:
            return {"sql": " ".join(statement.split()),
                    "plan": explain(engine, statement, parameters)}
    return {"sql": None, "plan": []}
