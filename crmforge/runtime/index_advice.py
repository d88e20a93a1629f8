"""Composite indexes proposed to administrators: from saved list views and from slow lists.

A list filtering by equality on indexable fields and sorted by another is read best from an
index of those fields followed by the sort field (decision 0019). Two sources say which
such lists matter: the views people saved, and the lists that were actually slow. A list
page slower than ``slow_list_ms()`` records its shape (object, equality fields, sort
field: never the values) in ``sys_slow_lists``, with how often and how slow; the designer
shows both sources' proposals on the object page, and an administrator creates the index
with one click. Nothing is created automatically: an index costs every write.

Recording a slow list is a small write after the read has answered. It never fails the
read: when the database refuses writes for now (a long change, a full disk) the sample is
dropped.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa

from ..core.errors import CRMError, Unavailable
from ..core.filters import ListQuery, parse_list_query
from ..metadata.model import ObjectDef
from ..metadata.validation import INDEXABLE
from .context import utcnow
from .instance import Tenant
from .lazy_tables import LazyTables

advice_metadata = sa.MetaData()

slow_lists = sa.Table(
    "sys_slow_lists",
    advice_metadata,
    sa.Column("object_id", sa.String(20), primary_key=True),
    sa.Column("shape", sa.String(200), primary_key=True),  # "status,region>title"
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("worst_ms", sa.Integer, nullable=False),
    sa.Column("last_at", sa.DateTime, nullable=False),
)

_tables = LazyTables(advice_metadata)

#: Proposals shown per object, and equality fields one proposal may lead with.
SUGGESTIONS_MAX = 5
SUGGESTED_EQUALITIES = 3


def slow_list_ms() -> int:
    """A list page slower than this (``CRMFORGE_SLOW_LIST_MS``, default 200) is recorded."""
    raw = os.environ.get("CRMFORGE_SLOW_LIST_MS", "")
    return int(raw) if raw.isdigit() else 200


def shape(obj: ObjectDef, q: ListQuery) -> tuple[str, ...] | None:
    """The composite index that would serve ``q``: its equality fields (sorted) then its
    sort field; None when no such index would help."""
    def indexable(name: str) -> bool:
        f = obj.field(name)
        return f is not None and f.stored and f.type in INDEXABLE

    if not q.sort or not indexable(q.sort[0].field):
        return None
    first = q.sort[0].field
    equal = sorted({c.field for c in q.conditions
                    if c.op == "eq" and c.field != first and indexable(c.field)})
    if not equal or len(equal) > SUGGESTED_EQUALITIES:
        return None
    return (*equal, first)


def _served(obj: ObjectDef, spec: tuple[str, ...]) -> bool:
    """Whether an index of the document already serves ``spec``."""
    equal, first = sorted(spec[:-1]), spec[-1]
    for ix in obj.composite_indexes:
        names = [f.name for f in ix]
        if sorted(names[:len(equal)]) == equal and names[len(equal):len(spec)] == [first]:
            return True
    return False


def record_slow(tenant: Tenant, obj: ObjectDef, q: ListQuery, ms: float) -> None:
    """Count a slow list page of ``q``'s shape (nothing when no index would serve it)."""
    spec = shape(obj, q)
    if spec is None or _served(obj, spec):
        return
    key = ",".join(spec[:-1]) + ">" + spec[-1]
    if len(key) > 200:
        return
    try:
        _tables.ensure(tenant)
        with tenant.write() as conn:
            found = conn.execute(sa.select(slow_lists.c.hits, slow_lists.c.worst_ms).where(
                slow_lists.c.object_id == obj.id, slow_lists.c.shape == key)).first()
            if found is None:
                conn.execute(slow_lists.insert().values(
                    object_id=obj.id, shape=key, hits=1, worst_ms=int(ms), last_at=utcnow()))
            else:
                conn.execute(slow_lists.update().where(
                    slow_lists.c.object_id == obj.id, slow_lists.c.shape == key).values(
                    hits=slow_lists.c.hits + 1, worst_ms=max(int(found.worst_ms), int(ms)),
                    last_at=utcnow()))
    except (Unavailable, sa.exc.IntegrityError):
        return  # a hint, not a record: never worth failing or retrying the read for


def suggestions(tenant: Tenant, obj: ObjectDef,
                saved: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Proposed indexes of ``obj``, from its saved views (``saved``: name and query
    string) and its slow lists; those an index of the document already serves are left
    out; the rest most-used first. Each says what it serves: ``views`` (their names) and
    ``slow`` (``{"hits", "worst_ms"}``, or None)."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for name, query in saved:
        try:
            q = parse_list_query(parse_qsl(query, keep_blank_values=True))
        except CRMError:
            continue
        spec = shape(obj, q)
        if spec is not None and not _served(obj, spec):
            found.setdefault(spec, {"views": [], "slow": None})["views"].append(name)
    _tables.ensure(tenant)
    with tenant.read() as conn:
        for row in conn.execute(sa.select(slow_lists).where(slow_lists.c.object_id == obj.id)):
            equal, _, first = str(row.shape).partition(">")
            spec = (*(e for e in equal.split(",") if e), first)
            if len(spec) < 2 or _served(obj, spec) or any(obj.field(n) is None for n in spec):
                continue  # a field since removed or renamed: the sample is stale
            found.setdefault(spec, {"views": [], "slow": None})["slow"] = {
                "hits": int(row.hits), "worst_ms": int(row.worst_ms)}

    def weight(item: tuple[tuple[str, ...], dict[str, Any]]) -> tuple[int, tuple[str, ...]]:
        spec, why = item
        return (-(len(why["views"]) + (why["slow"] or {}).get("hits", 0)), spec)

    ranked = sorted(found.items(), key=weight)
    return [{"fields": list(spec), **why} for spec, why in ranked[:SUGGESTIONS_MAX]]


def forget_slow(tenant: Tenant, obj: ObjectDef) -> None:
    """Clear the slow-list samples of ``obj`` (an index was just created for them)."""
    _tables.ensure(tenant)
    with tenant.write() as conn:
        conn.execute(slow_lists.delete().where(slow_lists.c.object_id == obj.id))


__all__ = ["SUGGESTIONS_MAX", "forget_slow", "record_slow", "shape", "slow_list_ms",
           "slow_lists", "suggestions"]
