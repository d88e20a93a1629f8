"""Which column's unique index refused a write, read from SQLite's error (PostgreSQL's
constraint names are covered by the concurrent-write test in test_records.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crmforge.runtime.storage.dialects import SQLiteDialect


@pytest.fixture
def table_and_engine() -> tuple[sa.Table, sa.Engine]:
    md = sa.MetaData()
    t = sa.Table("obj_booth", md, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("number", sa.String(20), nullable=False),
                 sa.Index("uq_fld_number", "number", unique=True))
    engine = sa.create_engine("sqlite://")
    md.create_all(engine)
    return t, engine


def _refusal(engine: sa.Engine, stmt: sa.Insert) -> sa.exc.IntegrityError:
    with pytest.raises(sa.exc.IntegrityError) as exc, engine.begin() as conn:
        conn.execute(stmt)
    return exc.value


def test_the_refused_column_is_named(table_and_engine: tuple[sa.Table, sa.Engine]) -> None:
    t, engine = table_and_engine
    with engine.begin() as conn:
        conn.execute(t.insert().values(number="A-1"))
    exc = _refusal(engine, t.insert().values(number="A-1"))
    assert SQLiteDialect().unique_violation(exc, t) == "number"
    other = sa.Table("obj_other", sa.MetaData(), sa.Column("number", sa.String))
    assert SQLiteDialect().unique_violation(exc, other) is None  # another table's error


def test_other_integrity_errors_are_not_unique_refusals(
        table_and_engine: tuple[sa.Table, sa.Engine]) -> None:
    t, engine = table_and_engine
    exc = _refusal(engine, t.insert().values(number=None))  # NOT NULL
    assert SQLiteDialect().unique_violation(exc, t) is None


def test_pool_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from crmforge.runtime.storage.dialects import POOL_DEFAULTS, pool_limits

    monkeypatch.delenv("CRMFORGE_PG_POOL", raising=False)
    assert pool_limits() == POOL_DEFAULTS
    monkeypatch.setenv("CRMFORGE_PG_POOL", "2,1")
    assert pool_limits() == (2, 1)
    for bad in ("two,1", "3", "0,1", "2,-1"):
        monkeypatch.setenv("CRMFORGE_PG_POOL", bad)
        with pytest.raises(ValueError, match="CRMFORGE_PG_POOL"):
            pool_limits()

