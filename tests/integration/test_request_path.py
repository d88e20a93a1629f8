"""The short path of a request: one read transaction per tenant (``shared_reads``) and
statements kept per metadata version and principal (``runtime.statements``)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from crmforge.core.errors import CRMError
from crmforge.core.filters import parse_list_query
from crmforge.runtime import Designer, RecordService, shared_reads
from crmforge.runtime.statements import snapshot_tag
from crmforge.security import SYSTEM, Principal, create_user

NOTE = {"name": "note", "label": {"en": "Note", "zh": "便签"},
        "fields": [{"name": "title", "type": "text", "label": {"en": "Title", "zh": "标题"}}]}


def _setup(tenant: Any) -> tuple[RecordService, list[int]]:
    Designer(tenant).create_object(SYSTEM, NOTE)
    svc = RecordService(tenant)
    return svc, svc.create_many(SYSTEM, "note", [{"title": f"n{i}"} for i in range(3)])


def test_reads_of_a_request_share_one_transaction(tenant) -> None:
    _setup(tenant)
    with shared_reads():
        with tenant.read() as first:
            pass
        with tenant.read() as second:
            assert second is first and second.in_transaction()
    assert first.closed  # the scope ends its connection
    with tenant.read() as a, tenant.read() as b:  # without a scope: each read its own
        assert a is not b


def test_a_write_inside_the_scope_is_seen_by_the_reads_after_it(tenant) -> None:
    svc, ids = _setup(tenant)
    with shared_reads():
        assert svc.get(SYSTEM, "note", ids[0])["title"] == "n0"
        svc.update(SYSTEM, "note", ids[0], {"title": "changed", "version": 1})
        assert svc.get(SYSTEM, "note", ids[0])["title"] == "changed"
        created = svc.create(SYSTEM, "note", {"title": "new"})
        assert svc.get(SYSTEM, "note", created["id"])["title"] == "new"


def test_a_failed_statement_does_not_poison_the_scope(tenant) -> None:
    svc, ids = _setup(tenant)
    with shared_reads():
        try:
            with tenant.read() as conn:
                conn.execute(sa.text("SELECT no_such_column FROM sys_users"))
        except sa.exc.DBAPIError:
            pass
        assert svc.get(SYSTEM, "note", ids[1])["title"] == "n1"


def test_lookups_are_built_once_per_version_and_principal(tenant) -> None:
    svc, ids = _setup(tenant)
    with tenant.write() as conn:
        uid = create_user(conn, "ann", "Ann-pass-1234")
    ann = Principal(uid, "ann", True)
    before = len(tenant.statements)
    for rid in ids:
        svc.get(SYSTEM, "note", rid)
    assert len(tenant.statements) == before + 1  # one statement, three ids
    for rid in ids:
        svc.get(ann, "note", rid)
    assert len(tenant.statements) == before + 2  # another principal, another statement
    Designer(tenant).add_field(SYSTEM, "note", {"name": "body", "type": "text",
                                                "label": {"en": "Body", "zh": "正文"}})
    svc.update(SYSTEM, "note", ids[0], {"body": "text", "version": 1})
    # A new metadata version builds new statements, which read the new column.
    assert svc.get(SYSTEM, "note", ids[0])["body"] == "text"


def test_a_kept_lookup_survives_a_type_change(tenant) -> None:
    """On PostgreSQL kept lookups are prepared per connection, and a connection that ran
    a plan for the old column type would fail ("cached plan must not change result type").
    Their text names the snapshot they were built from, so after a change no connection
    is ever asked to run the old plan: the new snapshot's lookup is another statement."""
    svc, ids = _setup(tenant)
    designer = Designer(tenant)
    designer.add_field(SYSTEM, "note", {"name": "code", "type": "text",
                                        "label": {"en": "Code", "zh": "编码"}})
    svc.update(SYSTEM, "note", ids[0], {"code": "42", "version": 1})

    def lookup_sql() -> str:
        with tenant.read() as conn:
            ctx = svc._ctx(conn, SYSTEM, "note", None)
            return str(svc._lookup(ctx, deleted=False).compile(conn))

    for _ in range(12):  # the pooled connections prepare the lookup
        with shared_reads():
            assert svc.get(SYSTEM, "note", ids[0])["code"] == "42"
    before = lookup_sql()
    designer.update_field(SYSTEM, "note", "code", {"type": "integer"})
    after = lookup_sql()
    assert before != after and before.split("*/")[1] == after.split("*/")[1]
    for _ in range(12):
        with shared_reads():
            assert svc.get(SYSTEM, "note", ids[0])["code"] == 42


def test_a_snapshot_that_never_committed_lends_no_statement(tenant) -> None:
    """A change that rolls back published its snapshot under the next version number;
    the change that commits later publishes another one under the same number. Their
    statements differ (the snapshot object names them, not its number)."""
    _setup(tenant)
    with tenant.read() as conn:
        current = tenant.snapshot(conn)
    rolled_back = type(current).from_data(current.version + 1, current.data)
    committed = type(current).from_data(current.version + 1, current.data)
    assert snapshot_tag(rolled_back) != snapshot_tag(committed)
    assert snapshot_tag(committed) == snapshot_tag(committed)


def test_a_record_write_goes_on_in_the_read_transaction_where_it_can(tenant) -> None:
    """PostgreSQL: a create after the request's reads uses the same connection and
    transaction (no COMMIT and BEGIN in between); SQLite: a separate write transaction.
    Either way the write commits, a refused write leaves nothing, and reads go on."""
    svc, _ids = _setup(tenant)
    with shared_reads():
        with tenant.read() as read_conn:
            pass
        with tenant.write(promote=True) as write_conn:
            promoted = write_conn is read_conn
        assert promoted == (tenant.dialect.name == "postgresql")
        created = svc.create(SYSTEM, "note", {"title": "kept"})
        with pytest.raises(CRMError):  # an unknown field: refused, nothing written
            svc.create(SYSTEM, "note", {"title": "refused", "nope": 1})
        assert svc.get(SYSTEM, "note", created["id"])["title"] == "kept"
    listed = svc.list(SYSTEM, "note", parse_list_query([("limit", "50")]))["items"]
    assert sorted(r["title"] for r in listed) == ["kept", "n0", "n1", "n2"]


def test_a_metadata_change_is_never_promoted(tenant) -> None:
    """Two metadata changes that each held the read transaction's share lock on the
    versions table would deadlock: a designer change always has its own transaction."""
    svc, ids = _setup(tenant)
    with shared_reads():
        assert svc.get(SYSTEM, "note", ids[0])["title"] == "n0"
        Designer(tenant).add_field(SYSTEM, "note", {"name": "body", "type": "text",
                                                    "label": {"en": "Body", "zh": "正文"}})
        assert "body" in svc.get(SYSTEM, "note", ids[0])
