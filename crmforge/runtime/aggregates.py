"""Grouped counts and sums for charts, computed by the database over the rows a principal
may read.

The query carries the permission engine's visibility predicate in its WHERE clause, like
every list of the record service, and groups in SQL: no row is fetched into Python, so a
chart over millions of records costs one aggregate query. A field or a measure the
principal may not read is refused (the caller leaves the chart out), so a hidden field
never leaks through its distribution.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest, Forbidden
from ..security.engine import PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from . import masking
from .context import open_ctx
from .instance import Tenant
from .query import column

#: At most this many groups are returned (the largest first).
MAX_GROUPS = 50


def distribution(tenant: Tenant, principal: Principal, object_name: str, field: str,
                 measure: str | None = None, *, permissions: PermissionEngine | None = None,
                 limit: int = MAX_GROUPS) -> list[dict[str, Any]]:
    """``[{"value", "count", "total"}]``: the readable records of ``object_name`` grouped by
    ``field``, with their number and (with ``measure``) the sum of that numeric field;
    largest groups first. Forbidden when the principal may not read the object, the field
    or the measure."""
    with tenant.read() as conn:
        ctx = open_ctx(tenant, permissions or default_engine, conn, principal, object_name)
        ctx.access.check(ctx.obj, "read")
        readable = ctx.access.readable(ctx.obj)
        names = [field] + ([measure] if measure else [])
        for name in names:
            f = ctx.obj.field(name)
            if f is None or name not in readable:
                raise Forbidden(f"you may not read '{name[:40]}' of {ctx.obj.name}")
            if not f.stored:
                raise BadRequest(f"'{name}' is computed on read and cannot be grouped or summed")
        t = ctx.table
        # Values derived through records the reader cannot see are grouped and summed as
        # the reader sees them: masked (None) on those rows.
        cols = masking.effective_columns(ctx, names)
        group = column(t, field, cols)
        count = sa.func.count().label("n")
        columns: list[Any] = [group.label("value"), count]
        measured = column(t, measure, cols) if measure else None
        if measured is not None:
            columns.append(sa.func.sum(measured).label("total"))
        order = sa.func.coalesce(sa.func.sum(measured), 0) if measured is not None \
            else sa.func.count()
        rows = conn.execute(
            sa.select(*columns)
            .where(t.c.deleted_at.is_(None), ctx.access.visibility(ctx.obj, t))
            .group_by(group).order_by(order.desc(), group).limit(limit)).all()
    return [{"value": r.value, "count": int(r.n),
             "total": _number(r.total) if measure else None} for r in rows]


def _number(value: Any) -> float:
    """Sums as plain numbers for charts (a Decimal is not JSON; an empty sum is 0)."""
    return 0.0 if value is None else float(value)


__all__ = ["MAX_GROUPS", "distribution"]
