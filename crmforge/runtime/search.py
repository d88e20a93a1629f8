"""Global search: records of every object the reader may read, found by their title,
Chinese titles by pinyin too (decision 0032).

Every object is asked through the permission engine, as a list would be: the object must
be readable, its title field readable, and its visibility predicate is in the WHERE, so a
search finds exactly what the reader's lists would show. A title masked on some rows
(a derived title read through records the reader cannot see) is matched by its masked
value, and its pinyin key only where that value shows. Recycled records never match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest
from ..security.engine import PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from . import masking, search_keys
from .context import Ctx
from .instance import Tenant
from .search_keys import search_keys as keys_table

#: Longest search term accepted: longer text is no longer a name someone types.
MAX_TERM = 100
#: Most results a search may ask for.
MAX_LIMIT = 100

_LETTERS = re.compile(r"[a-z]+")
#: What a pinyin term may hold besides letters: ``zhang san``, ``xi'an``.
_SEPARATORS = re.compile(r"[\s']+")


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern escaped by ``\\``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pinyin_term(q: str) -> str | None:
    """The term as pinyin to match keys with (lower case, separators dropped), when it is
    ASCII letters only; None otherwise (a Chinese or mixed term is matched as text)."""
    term = _SEPARATORS.sub("", q.lower())
    return term if term.isascii() and _LETTERS.fullmatch(term) else None


def check_term(q: Any, limit: Any) -> tuple[str, int]:
    """The term and the limit of a search request, or a 400 saying what is wrong."""
    if not isinstance(q, str) or not q.strip():
        raise BadRequest("q is required: the text to search for")
    q = q.strip()
    if len(q) > MAX_TERM:
        raise BadRequest(f"q is too long: at most {MAX_TERM} characters")
    if limit is None or limit == "":
        return q, 20
    try:
        n = int(limit)
    except (TypeError, ValueError):
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= n <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return q, n


@dataclass(frozen=True)
class Hit:
    object: str
    label: str
    id: int
    title: str
    rank: int


class SearchService:
    """``search(principal, q, limit)``: at most ``limit`` records, best matches first
    (exact title, title prefix, pinyin or initials prefix, then anywhere in the title or
    its spelling), grouped by object."""

    def __init__(self, tenant: Tenant, permissions: PermissionEngine | None = None) -> None:
        self.tenant = tenant
        self.permissions = permissions or default_engine

    def search(self, principal: Principal, q: Any, limit: Any = 20,
               lang: str = "en") -> dict[str, Any]:
        term, n = check_term(q, limit)
        search_keys.build_stale(self.tenant)
        hits: list[Hit] = []
        with self.tenant.read() as conn:
            snap = self.tenant.snapshot(conn)
            schema = self.tenant.schema(snap)
            access = self.permissions.access(principal, snap, conn,
                                             probe=self.tenant.dialect.probes_visibility,
                                             branches=self.tenant.branches)
            for obj in snap.objects.values():
                f = search_keys.title_field(obj)
                if f is None or not access.allowed(obj, "read") \
                        or f.name not in access.readable(obj):
                    continue
                ctx = Ctx(self.tenant, conn, principal, snap, schema, access, obj,
                          schema.table(obj.name))
                label = obj.label(lang)
                for rid, title, rank in conn.execute(self._query(ctx, f.name, f.id, term, n)):
                    hits.append(Hit(obj.name, label, int(rid), str(title), int(rank)))
        hits.sort(key=lambda h: (h.rank, len(h.title), h.title, h.object, h.id))
        groups: dict[str, dict[str, Any]] = {}
        for h in hits[:n]:
            group = groups.setdefault(h.object, {"object": h.object, "label": h.label,
                                                 "results": []})
            group["results"].append({"id": h.id, "title": h.title})
        for name, group in groups.items():  # what was shown is audited, as a list page is
            shown = snap.object(name)
            if shown is not None:
                self.tenant.access_log.add(principal, shown.id, "search",
                                           [r["id"] for r in group["results"]])
        return {"q": term, "count": min(len(hits), n), "groups": list(groups.values())}

    def _query(self, ctx: Ctx, title: str, field_id: str, term: str,
               n: int) -> sa.Select[Any]:
        t = ctx.table
        masked = masking.effective_columns(ctx, [title]).get(title)
        col = masked if masked is not None else t.c[title]
        ilike = self.tenant.dialect.ilike
        literal = like_escape(term)
        k = keys_table.alias("k")
        exact = sa.func.lower(col) == term.lower()
        prefix = ilike(col, literal + "%")
        matches = [ilike(col, "%" + literal + "%")]
        ranks: list[tuple[Any, int]] = [(exact, 0), (prefix, 1)]
        source: Any = t
        spelled = pinyin_term(term)
        if spelled is not None:
            source = t.outerjoin(k, sa.and_(k.c.object_id == ctx.obj.id, k.c.record_id == t.c.id,
                                            k.c.field_id == field_id))
            shown = col.is_not(None) if masked is not None else sa.true()
            key_prefix = sa.and_(shown, sa.or_(k.c.full.like(spelled + "%"),
                                               k.c.initials.like(spelled + "%")))
            matches += [key_prefix, sa.and_(shown, k.c.full.like("%" + spelled + "%"))]
            ranks.append((key_prefix, 2))
        rank = sa.case(*ranks, else_=3)
        return (sa.select(t.c.id, col, rank).select_from(source)
                .where(t.c.deleted_at.is_(None), col.is_not(None),
                       ctx.access.visibility(ctx.obj, t), sa.or_(*matches))
                .order_by(rank, sa.func.length(col), t.c.id).limit(n))


__all__ = ["MAX_LIMIT", "MAX_TERM", "SearchService", "check_term", "like_escape",
           "pinyin_term"]
