"""The choices of a lookup field on a form: records of its target the reader may read,
named by their title and a second identifying field, the current choice and the
reader's recently viewed records first (decision 0037).

One statement per lookup field (the target's visibility predicate in the WHERE, like a
list), plus one for the reader's kept recent records shared by every field of the form:
a form's cost depends on its layout, never on the data. What is shown is audited as a
list read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..metadata.model import FieldDef, ObjectDef
from ..security.engine import PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from . import masking, recent, search_keys
from .context import Ctx, open_ctx
from .instance import Tenant
from .search import MAX_TERM, like_escape

#: Choices offered at most (besides the current one).
LIMIT = 20
#: Field types that identify a record beside its title.
IDENTIFYING = frozenset({"text", "autonumber", "email", "phone"})


@dataclass(frozen=True)
class Choice:
    id: int
    title: str
    #: The second identifying field's value ("" when none or not readable).
    detail: str
    #: The record is among the reader's recently viewed ones.
    recent: bool

    @property
    def text(self) -> str:
        return f"{self.title} · {self.detail}" if self.detail else self.title


def second_field(obj: ObjectDef) -> FieldDef | None:
    """What tells two records of the same title apart: the first unique identifying
    field other than the title, else the first identifying field that leads one of the
    object's declared indexes, else the first searchable identifying field."""
    title = obj.title_field
    candidates = [f for f in obj.fields
                  if f.name != title and f.stored and f.type in IDENTIFYING]
    for f in candidates:
        if f.unique:
            return f
    leads = [str(ix[0]) for ix in obj.options.get("indexes") or [] if ix]
    for f in candidates:
        if f.name in leads:
            return f
    return next((f for f in candidates if f.searchable), None)


def choices(tenant: Tenant, principal: Principal, object_name: str,
            wanted: Mapping[str, Any], text: str = "", limit: int = LIMIT,
            permissions: PermissionEngine | None = None) -> dict[str, list[Choice]]:
    """For each lookup field named in ``wanted`` (field -> current value or None) that
    the reader may read and whose target they may read: the current record (when still
    visible, whether it matches or not), then the reader's recently viewed records of the
    target, then the others, each once, matching ``text`` (title, second field or a
    searchable field, case-insensitive) when given."""
    text = text.strip()[:MAX_TERM]
    recent.ensure(tenant)  # creating the table is a write: before the read begins
    out: dict[str, list[Choice]] = {}
    with tenant.read() as conn:
        ctx = open_ctx(tenant, permissions or default_engine, conn, principal, object_name)
        order, _ = recent.candidates(tenant, conn, principal)
        for name, current in wanted.items():
            f = ctx.obj.field(name)
            target = ctx.snapshot.object(f.target) if f is not None and f.target else None
            if f is None or target is None or f.name not in ctx.access.readable(ctx.obj) \
                    or not ctx.access.allowed(target, "read"):
                continue
            recent_ids = [rid for oid, rid in order if oid == target.id]
            out[name] = _choices(ctx.other(target), _id(current), recent_ids, text, limit)
    return out


def _id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _choices(ctx: Ctx, current: int | None, recent_ids: Sequence[int], text: str,
             limit: int) -> list[Choice]:
    t = ctx.table
    obj = ctx.obj
    readable = ctx.access.readable(obj)
    title_f = recent.title_column_field(obj)
    second = second_field(obj)
    shown = [f for f in (title_f, second) if f is not None and f.name in readable]
    searched = [f for f in obj.fields if f.searchable and f.stored and f.name in readable
                and f.type in search_keys.TEXT_TITLES]
    cols = masking.effective_columns(ctx, [f.name for f in [*shown, *searched]])

    def col(f: FieldDef | None) -> Any:
        if f is None or f.name not in readable:
            return sa.null()
        return cols.get(f.name, t.c[f.name])

    rank = sa.case(*((t.c.id == rid, i + 1) for i, rid in enumerate(recent_ids)),
                   else_=len(recent_ids) + 1) if recent_ids else sa.literal(1)
    if current is not None:
        rank = sa.case((t.c.id == current, 0), else_=rank)
    where = [t.c.deleted_at.is_(None), ctx.access.visibility(obj, t)]
    if text:
        pattern = "%" + like_escape(text) + "%"
        ilike = ctx.tenant.dialect.ilike
        names = dict.fromkeys(f.name for f in [*shown, *searched])
        matches = [ilike(col(obj.field(n)), pattern) for n in names]
        if current is not None:
            matches.append(t.c.id == current)
        where.append(sa.or_(*matches) if matches else t.c.id == current)
    title_col = col(title_f)
    stmt = (sa.select(t.c.id, sa.cast(title_col, sa.Text).label("title"),
                      sa.cast(col(second), sa.Text).label("detail"), rank.label("rank"))
            .where(*where)
            .order_by(rank, sa.func.lower(title_col) if title_f is not None else t.c.id,
                      t.c.id)
            .limit(limit + (1 if current is not None else 0)))
    rows = ctx.conn.execute(stmt).all()
    recent_set = set(recent_ids)
    found = [Choice(int(r.id), str(r.title) if r.title not in (None, "") else f"#{r.id}",
                    str(r.detail) if r.detail not in (None, "") else "",
                    int(r.id) in recent_set) for r in rows]
    ctx.tenant.access_log.add(ctx.principal, obj.id, "list", [c.id for c in found])
    return found


__all__ = ["IDENTIFYING", "LIMIT", "Choice", "choices", "second_field"]
