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
