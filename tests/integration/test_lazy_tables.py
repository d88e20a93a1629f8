"""Tables created on first use: once per engine, and again when the transaction that
created them rolled back (DDL is transactional on both databases)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crmforge.runtime import Instance
from crmforge.runtime.lazy_tables import LazyTables


def _exists(tenant: object, name: str) -> bool:
    with tenant.read() as conn:  # type: ignore[attr-defined]
        return sa.inspect(conn).has_table(name)


def test_created_once_and_again_after_a_rollback(instance: Instance) -> None:
    tenant = instance.tenant("default")
    md = sa.MetaData()
    sa.Table("sys_lazy_probe", md, sa.Column("id", sa.Integer, primary_key=True))
    tables = LazyTables(md)

    with pytest.raises(RuntimeError), tenant.write():
        tables.ensure(tenant)  # joins this write, which then fails
        raise RuntimeError("the caller's write fails")
    assert not _exists(tenant, "sys_lazy_probe")

    tables.ensure(tenant)  # not marked ready by the rolled-back write: created now
    assert _exists(tenant, "sys_lazy_probe")
    with tenant.write() as conn:  # dropped behind its back: ensure trusts its mark
        md.drop_all(conn)
    tables.ensure(tenant)
    assert not _exists(tenant, "sys_lazy_probe")


def test_a_second_process_waits_for_the_first_ones_creation(instance: Instance) -> None:
    """Two workers using a feature for the first time: the second finds the table the
    first is creating once it commits, instead of failing on the catalog's unique index
    (PostgreSQL; SQLite's write lock already makes them take turns)."""
    import threading
    import time

    tenant = instance.tenant("default")
    if tenant.dialect.name != "postgresql":
        pytest.skip("SQLite's write transactions already exclude each other")
    md = sa.MetaData()
    sa.Table("sys_lazy_race", md, sa.Column("id", sa.Integer, primary_key=True))
    first, second = LazyTables(md), LazyTables(md)  # as in two processes
    failures: list[BaseException] = []

    def other_worker() -> None:
        try:
            second.ensure(tenant)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    with tenant.write() as conn:  # the first worker, creating the table right now
        tenant.dialect.lock_system_ddl(conn)
        md.create_all(conn, checkfirst=True)
        racer = threading.Thread(target=other_worker)
        racer.start()
        time.sleep(0.5)  # the second worker has looked and found no committed table
    racer.join(30)
    assert not racer.is_alive()
    assert failures == []
    assert _exists(tenant, "sys_lazy_race")
    first.ensure(tenant)  # and the first one's own bookkeeping is unaffected
