"""The record service: the only path by which records are read and written (DESIGN §4).

API calls, forms, imports, triggers, workflow actions and pack data all come through here.
Every operation opens a context that carries the principal's ``Access`` (the permission
engine's answer for this metadata version); reads put its visibility predicate in the
WHERE clause and return only readable fields, writes pass the operation, row, status and
field checks before anything is written, and everything happens in one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest, Conflict, CRMError, Forbidden, NotFound, ValidationFailed
from ..core.filters import Condition, ListQuery, SortKey
from ..metadata.apps import LANGS
from ..security import sharing
from ..security.engine import PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from ..security.tables import users
from . import (
    index_advice,
    masking,
    pipeline,
    plans,
    preview,
    recycle,
    refs,
    trigger_host,
    writes,
)
from .context import Ctx, open_ctx, record_id, utcnow
from .cursors import CursorSeal
from .fields import SYSTEM_FIELD_DEFS, SYSTEM_OUTPUT
from .formulas import FormulaReader
from .instance import Tenant
from .query import cursor_binding, cursor_parts, encode_cursor, order_by, resolve_sort, where_clauses
from .statements import NOW, RID, kept, now_param, rid_param
from .systables import history


class _Written:
    """A row as inserted, shaped like a fetched one for ``_out`` (``row._mapping``)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self._mapping = mapping


class RecordService:
    def __init__(self, tenant: Tenant, permissions: PermissionEngine | None = None) -> None:
        self.tenant = tenant
        self.permissions = permissions or default_engine

    def _ctx(self, conn: sa.Connection, principal: Principal, object_name: str,
             op: str | None) -> Ctx:
        ctx = open_ctx(self.tenant, self.permissions, conn, principal, object_name)
        if op is not None:
            ctx.access.check(ctx.obj, op)
        return ctx

    def _fetch(self, ctx: Ctx, rid: Any, *, deleted: bool = False,
               write: bool = False, op: str | None = None) -> Any:
        """A visible row, or 404; with ``write``, a row the principal may change (with
        ``op``: act on by that operation), or 403.

        Both lookups are statements kept per metadata version and principal
        (``statements``): only the id and the time change between requests."""
        rid = record_id(rid)
        params = {RID: rid, NOW: utcnow()}
        row = ctx.conn.execute(self._lookup(ctx, deleted=deleted), params).first()
        if row is None:
            raise NotFound(f"no {'deleted ' if deleted else ''}{ctx.obj.name} record {rid}")
        if (write or op) and ctx.conn.execute(
                self._lookup(ctx, deleted=deleted, write=True, op=op), params).first() is None:
            what = f"{op} " if op else "change "
            raise Forbidden(f"you may read but not {what}this {ctx.obj.label()} record")
        return row

    def _lookup(self, ctx: Ctx, *, deleted: bool, write: bool = False,
                op: str | None = None) -> sa.Select[Any]:
        """The lookup by id of a row the principal may read (with ``write``: change)."""
        def build() -> sa.Select[Any]:
            t = ctx.table
            gone = t.c.deleted_at.is_not(None) if deleted else t.c.deleted_at.is_(None)
            visible = ctx.access.visibility(ctx.obj, t, write=write, op=op, now=now_param(),
                                            probe=False)
            columns = [t.c.id] if write else [t]
            return kept(sa.select(*columns).where(t.c.id == rid_param(), gone, visible),
                        ctx.snapshot)
        key = ("lookup", ctx.snapshot, ctx.obj.id, ctx.principal, deleted, write, op)
        stmt: sa.Select[Any] = self.tenant.statements.get(key, build)
        return stmt

    def _status(self, ctx: Ctx, row: Any, op: str, changed: Iterable[str] = ()) -> None:
        pipeline.status(ctx, row, op, changed)

    def _out(self, ctx: Ctx, row: Any, fields: Iterable[str] | None = None,
             formulas: FormulaReader | None = None) -> dict[str, Any]:
        """A record as JSON: readable fields only, formulas computed or masked. Pass one
        ``formulas`` reader for a whole page so its plan and related rows are shared."""
        m = row if isinstance(row, Mapping) else row._mapping  # a kept read gives a mapping
        readable = ctx.access.readable(ctx.obj)
        wanted = set(fields) if fields is not None else None
        out: dict[str, Any] = {"id": m["id"], "version": m["version"]}
        for name in SYSTEM_OUTPUT:
            if wanted is None or name in wanted:
                f = SYSTEM_FIELD_DEFS[name]
                out[name] = f.kind.to_json(f, m[name])
        reader = formulas or FormulaReader(ctx)
        computed = reader.values(m) if reader.active else {}
        for f in ctx.obj.fields:
            if f.name not in readable or (wanted is not None and f.name not in wanted):
                continue
            if f.name in computed:
                out[f.name] = f.kind.to_json(f, computed[f.name])
            elif f.stored:
                out[f.name] = f.kind.to_json(f, m[f.name])
        return out

    def _outs(self, ctx: Ctx, rows: list[Any], fields: Iterable[str] | None) -> list[Any]:
        """A page of records: one formula plan, the first related hop read at once."""
        reader = FormulaReader(ctx)
        reader.prefetch(r._mapping for r in rows)
        return [self._out(ctx, r, fields, reader) for r in rows]

    # -- reads ------------------------------------------------------------------------------
    def get(self, principal: Principal, object_name: str, rid: Any,
            fields: Iterable[str] | None = None, *, opened: bool = False) -> dict[str, Any]:
        """One record the principal may see, or 404. ``opened``: a person opened it (its
        page, the API's GET by id), so it joins their recently viewed records (``recent``),
        through the same batched audit entry: the read itself writes nothing."""
        # No operation check here: temporary access (approvers) reaches single records of
        # objects the user cannot list; the visibility predicate decides.
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, None)
            found = record_id(rid)
            row = self.tenant.dialect.first(conn, self._lookup(ctx, deleted=False),
                                            {RID: found, NOW: utcnow()})
            if row is None:
                raise NotFound(f"no {ctx.obj.name} record {found}")
            out = self._out(ctx, row, fields)
        self._audit(principal, ctx.obj.id, "read", [found], opened=opened)
        return out

    def _audit(self, principal: Principal, object_id: str, action: str, ids: list[int],
               *, opened: bool = False) -> None:
        """Record who read what. The entry goes to the tenant's access log, written in
        batches off the request path (``access_log``): a read never takes the write lock,
        so it neither waits for a long write nor fails on a full or read-only disk."""
        self.tenant.access_log.add(principal, object_id, action, ids, opened=opened)

    def history(self, principal: Principal, object_name: str, rid: Any) -> list[dict[str, Any]]:
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, None)
            row = self._fetch(ctx, rid)
            readable = ctx.access.readable(ctx.obj)
            # A value derived through related records this reader does not all see may
            # have come from a record they cannot see (then or now): its past values are
            # left out, like a hidden field's (docs/security.md).
            masked = masking.row_paths(ctx, ctx.obj)
            names = {f.id: f.name for f in ctx.obj.fields
                     if f.name in readable and f.name not in masked}
            names.update({f.id: f.name for f in SYSTEM_FIELD_DEFS.values()})
            out: list[dict[str, Any]] = []
            for r in conn.execute(sa.select(history).where(
                    history.c.object_id == ctx.obj.id, history.c.record_id == row.id)
                    .order_by(history.c.id)):
                base = {"action": r.action, "version": r.record_version, "by": r.actor,
                        "at": r.at.isoformat(timespec="milliseconds") + "Z"}
                if r.field == writes.MANY_FIELDS:  # one entry per write, all its fields
                    shown = [(names[fid], change) for fid, change
                             in json.loads(r.new_value or "{}").items() if fid in names]
                    out.extend({**base, "field": name, "old": old, "new": new}
                               for name, (old, new) in shown)
                    continue
                if r.field_id is not None and r.field_id not in names:
                    continue  # hidden or removed fields leave no trace for this reader
                out.append({
                    **base, "field": names.get(r.field_id) if r.field_id else None,
                    "old": json.loads(r.old_value) if r.old_value is not None else None,
                    "new": json.loads(r.new_value) if r.new_value is not None else None})
            return out

    def recycle_bin(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        with self.tenant.read() as conn:
            snap = self.tenant.snapshot(conn)
            by_id = {o.id: o.name for o in snap.objects.values()}

            def ctx_for(object_id: str) -> Ctx | None:
                name = by_id.get(object_id)
                if name is None:
                    return None
                ctx = self._ctx(conn, principal, name, None)
                return ctx if ctx.access.allowed(ctx.obj, "read") else None

            return recycle.entries(ctx_for, conn, limit)

    def _page(self, ctx: Ctx, q: ListQuery
              ) -> tuple[list[Any], list[Any], bool, list[tuple[Any, bool]], CursorSeal]:
        t = ctx.table
        readable = ctx.access.readable(ctx.obj)
        if q.fields is not None:
            for name in q.fields:
                if name not in readable and name not in SYSTEM_FIELD_DEFS:
                    raise BadRequest(f"no field named '{name[:40]}'", {name[:40]: ["no such field"]})
        # Values derived through records the reader cannot see are masked in SQL too, so
        # filters, search, sort and cursors see what the reader is shown.
        searched = [f.name for f in ctx.obj.fields if f.searchable] if q.search else []
        cols = masking.effective_columns(ctx, [*(c.field for c in q.conditions),
                                               *(k.field for k in q.sort), *searched])
        base = [t.c.deleted_at.is_(None), ctx.access.visibility(ctx.obj, t),
                *where_clauses(ctx.obj, t, q, self.tenant.dialect, readable, cols)]
        sort = resolve_sort(ctx.obj, q.sort, readable)
        seal = CursorSeal(self.tenant.cursor_key,
                          cursor_binding(ctx.obj, ctx.principal.user_id, sort))
        after = cursor_parts(t, sort, q.cursor, seal, cols) if q.cursor else None
        page = [*base, after.head] if after is not None else base
        select = sa.select(*(cols[c.name].label(c.name) if c.name in cols else c for c in t.c)) \
            if cols else sa.select(t)
        ordered = order_by(t, sort, cols)
        stmt = plans.steer(ctx.conn, self.tenant.dialect, ctx.obj, t, q.conditions, sort, cols,
                           readable, q.limit, select.where(*page).order_by(*ordered)
                           .limit(q.limit + 1), base)
        rows = list(ctx.conn.execute(stmt).all())
        if after is not None and after.tail is not None and len(rows) <= q.limit:
            # The page reached the end of the values: the rows without one come last.
            rows += ctx.conn.execute(select.where(*base, after.tail).order_by(*ordered)
                                     .limit(q.limit + 1 - len(rows))).all()
        return list(rows[: q.limit]), base, len(rows) > q.limit, sort, seal

    def export(self, principal: Principal, object_name: str, q: ListQuery,
               max_rows: int = 100_000) -> Iterator[dict[str, Any]]:
        """All matching records the principal may export, page by page (keyset)."""
        cursor = q.cursor
        sent = 0
        while sent < max_rows:
            page = ListQuery(q.conditions, q.sort, q.fields, min(500, max_rows - sent),
                             cursor, False, q.search)
            with self.tenant.read() as conn:
                ctx = self._ctx(conn, principal, object_name, "export")
                rows, _, more, sort, seal = self._page(ctx, page)
                items = self._outs(ctx, rows, q.fields)
            self._audit(principal, ctx.obj.id, "export", [r.id for r in rows])
            yield from items
            sent += len(rows)
            if not more or not rows:
                return
            cursor = encode_cursor(sort, rows[-1], seal)

    def preview(self, principal: Principal, object_name: str, body: Any) -> dict[str, Any]:
        """Evaluate an expression over a saved record (which the principal must be able to
        read) or a draft, as the form and the designer show it live."""
        source, rid, draft, expected = preview.parse_body(body)
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, None)
            row = self._fetch(ctx, rid) if rid is not None else None
            if row is None and not (ctx.access.allowed(ctx.obj, "read")
                                    or ctx.access.allowed(ctx.obj, "create")):
                raise Forbidden(f"you may not read {ctx.obj.label()} records")
            result = preview.evaluate(ctx, row._mapping if row is not None else None, source,
                                      draft, expected)
        if row is not None:  # the value reveals the record: audited like a read
            self._audit(principal, ctx.obj.id, "read", [row.id])
        return result

    # -- writes -----------------------------------------------------------------------------
    def create(self, principal: Principal, object_name: str, data: Any,
               lang: str = "en") -> dict[str, Any]:
        """Create a record; validation rule messages come in ``lang`` (zh or en)."""
        with self.tenant.write(promote=True) as conn:
            ctx = self._ctx(conn, principal, object_name, "create")
            rid, written = pipeline.create_one(ctx, pipeline.prepare_new(ctx, data, lang))
            # The creator gets back what they wrote even when their scope does not reach
            # the new record (scope "none"): only readable fields, as always.
            if written is not None:
                return self._out(ctx, _Written(written))
            t = ctx.table
            return self._out(ctx, conn.execute(sa.select(t).where(t.c.id == rid)).one())

    def create_many(self, principal: Principal, object_name: str, rows: list[Any],
                    lang: str = "en") -> list[int]:
        """Create many records in one transaction through the same pipeline (imports, packs)."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "create")
            prepared = []
            seen: dict[str, dict[Any, int]] = {}  # unique values within the batch
            known = None if trigger_host.triggers_of(ctx, "before_save", "create") \
                else writes.Known(ctx, rows)  # existence checks read for the batch at once
            for i, data in enumerate(rows):
                try:
                    values = pipeline.prepare_new(ctx, data, lang, known)
                except ValidationFailed as exc:
                    raise ValidationFailed(f"row {i + 1}: {exc.message}", exc.fields) from None
                for f in ctx.obj.fields:
                    if f.unique and values.get(f.name) is not None:
                        first = seen.setdefault(f.name, {}).setdefault(values[f.name], i)
                        if first != i:
                            key = writes.unique_refusal(ctx, f.name)[0]  # hidden: not named
                            msg = f"must be unique; row {first + 1} has the same value"
                            raise ValidationFailed(f"row {i + 1}: {key}: {msg}", {key: [msg]})
                prepared.append(values)
            return pipeline.create(ctx, prepared)

    def update(self, principal: Principal, object_name: str, rid: Any, data: Any,
               expected_version: int | None = None, lang: str = "en") -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise BadRequest("a record must be a JSON object")
        expected_version = _expected_version(data, expected_version)
        payload = {k: v for k, v in data.items() if k != "version"}
        with self.tenant.write(promote=True) as conn:
            ctx = self._ctx(conn, principal, object_name, "update")
            row = self._fetch(ctx, rid, write=True)
            if row.version != expected_version:
                raise Conflict(f"the record changed since version {expected_version} "
                               f"(now {row.version}); reload and try again",
                               details={"current_version": row.version})
            self._apply_update(ctx, row, payload, lang)
            return self._out(ctx, self._fetch(ctx, row.id))

    def _apply_update(self, ctx: Ctx, row: Any, payload: Mapping[str, Any], lang: str) -> None:
        """The update of a fetched row (which the principal may change) by ``payload``."""
        pipeline.update(ctx, row, payload, lang)

    # -- many records, each on its own: imports ---------------------------------------------
    def create_each(self, principal: Principal, object_name: str, rows: Sequence[Any],
                    lang: str = "en") -> list[int | CRMError]:
        """Create records in one transaction (the caller's, when one is open), each through
        the whole pipeline as ``create`` does: a refused record leaves nothing and its
        error takes its place in the answer; the others are created. The records that
        pass are written together (one insert, one history insert), and only if that
        write is refused (a value made unique meanwhile, an after-save trigger) are they
        written one by one to find which."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "create")
            out: list[int | CRMError] = [BadRequest("not written")] * len(rows)
            # Before-save triggers may write (their own creates): then a refused record's
            # savepoint takes those back. Without them preparing a record writes nothing.
            guarded = bool(trigger_host.triggers_of(ctx, "before_save", "create"))
            unique = [f.name for f in ctx.obj.fields if f.unique]
            seen: dict[str, set[Any]] = {name: set() for name in unique}
            ready: list[tuple[int, dict[str, Any]]] = []
            # Which referenced records exist and which unique values are taken, read for
            # the batch at once (nothing is written before the batch's insert, unless
            # triggers write: then each record asks for itself).
            known = None if guarded else writes.Known(ctx, rows)
            for i, data in enumerate(rows):
                savepoint = conn.begin_nested() if guarded else None
                try:
                    values = pipeline.prepare_new(ctx, data, lang, known)
                    for name in unique:
                        value = values.get(name)
                        if value is not None and value in seen[name]:
                            key, message = writes.unique_refusal(ctx, name)
                            raise ValidationFailed(f"{key}: {message}", {key: [message]})
                except CRMError as exc:
                    if savepoint is not None:
                        savepoint.rollback()
                    out[i] = exc
                    continue
                if savepoint is not None:
                    savepoint.commit()
                for name in unique:
                    if values.get(name) is not None:
                        seen[name].add(values[name])
                ready.append((i, values))
            savepoint = conn.begin_nested()
            try:
                ids = pipeline.create(ctx, [values for _, values in ready])
            except CRMError:
                savepoint.rollback()
                for i, values in ready:
                    one = conn.begin_nested()
                    try:
                        rid = pipeline.create(ctx, [values])[0]
                    except CRMError as exc:
                        one.rollback()
                        out[i] = exc
                        continue
                    one.commit()
                    out[i] = rid
                return out
            savepoint.commit()
            for (i, _), rid in zip(ready, ids, strict=True):
                out[i] = rid
            return out

    def check_each(self, principal: Principal, object_name: str, rows: Sequence[Any],
                   lang: str = "en") -> list[CRMError | None]:
        """What ``create`` would refuse in each record, without creating any (each is
        prepared in a savepoint that is rolled back): an import reports every problem of a
        row, not only those of the cells it could not read."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "create")
            out: list[CRMError | None] = []
            for data in rows:
                savepoint = conn.begin_nested()
                try:
                    pipeline.prepare_new(ctx, data, lang)
                    out.append(None)
                except CRMError as exc:
                    out.append(exc)
                finally:
                    savepoint.rollback()
            return out

    def update_each(self, principal: Principal, object_name: str,
                    items: Sequence[tuple[int, Mapping[str, Any]]],
                    lang: str = "en") -> list[int | CRMError]:
        """Update records (id, changes) in one transaction, each as ``update`` does at its
        current version (an import overwrites); a refused one is left as it was and its
        error takes its place in the answer."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "update")
            out: list[int | CRMError] = []
            for rid, data in items:
                savepoint = conn.begin_nested()
                try:
                    row = self._fetch(ctx, rid, write=True)
                    self._apply_update(ctx, row, data, lang)
                except CRMError as exc:
                    savepoint.rollback()
                    out.append(exc)
                    continue
                savepoint.commit()
                out.append(int(row.id))
            return out

    def delete_each(self, principal: Principal, object_name: str,
                    ids: Sequence[int]) -> list[CRMError | None]:
        """Move records to the recycle bin in one transaction, each as ``delete`` does; a
        refused one stays and its error takes its place in the answer."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            out: list[CRMError | None] = []
            for rid in ids:
                savepoint = conn.begin_nested()
                try:
                    pipeline.delete(ctx, self._fetch(ctx, rid, write=True))
                except CRMError as exc:
                    savepoint.rollback()
                    out.append(exc)
                    continue
                savepoint.commit()
                out.append(None)
            return out

    def delete(self, principal: Principal, object_name: str, rid: Any) -> None:
        with self.tenant.write(promote=True) as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            pipeline.delete(ctx, self._fetch(ctx, rid, write=True))

    def restore(self, principal: Principal, object_name: str, rid: Any) -> dict[str, Any]:
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            row = self._fetch(ctx, rid, deleted=True, write=True)
            pipeline.restore(ctx, row)
            return self._out(ctx, self._fetch(ctx, row.id))

    def purge(self, principal: Principal, object_name: str, rid: Any) -> None:
        """Delete for good a record in the recycle bin, with what was deleted along with it."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            if not (principal.is_admin or principal.is_system):
                raise Forbidden("only administrators purge the recycle bin")
            recycle.purge(ctx, self._fetch(ctx, rid, deleted=True, write=True))

    # -- person level: shares and owner transfer --------------------------------------------
    def share(self, principal: Principal, object_name: str, rid: Any, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise BadRequest("send {\"user\" or \"department\", \"access\"}")
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "share")
            row = self._fetch(ctx, rid, op="share")
            self._status(ctx, row, "share")
            user_id = refs.user_id(conn, body["user"]) if body.get("user") is not None else None
            dept_id = refs.department_id(conn, body["department"]) \
                if body.get("department") is not None else None
            share_id = sharing.add_share(conn, ctx.obj.id, row.id, user_id=user_id,
                                         department_id=dept_id, access=body.get("access", "read"),
                                         by=principal.user_id)
            return {"id": share_id, "user_id": user_id, "department_id": dept_id,
                    "access": body.get("access", "read")}

    def shares(self, principal: Principal, object_name: str, rid: Any) -> list[dict[str, Any]]:
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, "read")
            row = self._fetch(ctx, rid)
            return sharing.list_shares(conn, ctx.obj.id, row.id)

    def unshare(self, principal: Principal, object_name: str, rid: Any, share_id: int) -> None:
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "share")
            row = self._fetch(ctx, rid, op="share")
            self._status(ctx, row, "share")
            sharing.remove_share(conn, ctx.obj.id, row.id, share_id)

    def transfer(self, principal: Principal, object_name: str, rid: Any,
                 new_owner: Any) -> dict[str, Any]:
        """Give a record to another user; its department follows the new owner's."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "transfer")
            row = self._fetch(ctx, rid, op="transfer")
            self._status(ctx, row, "transfer")
            owner_id = refs.user_id(conn, new_owner)
            dept = conn.execute(sa.select(users.c.department_id).where(
                users.c.id == owner_id)).scalar()
            pipeline.write_update(ctx, row, {"owner_id": owner_id, "department_id": dept},
                                  pipeline.TRANSFER)
            return self._out(ctx, self._fetch(ctx, row.id))

    def titles(self, principal: Principal, wanted: Mapping[str, Iterable[int]]
               ) -> dict[tuple[str, int], str]:
        """The titles of referenced records (object -> ids) that the principal may see,
        one list query per 500 ids of an object; a visible record whose title is hidden or
        empty answers its id; invisible ones are left out (callers show the bare id).
        Pages and exports use it."""
        out: dict[tuple[str, int], str] = {}
        for target, ids in wanted.items():
            chosen = sorted({i for i in ids if isinstance(i, int)})
            for start in range(0, len(chosen), 500):
                part = chosen[start:start + 500]
                try:  # as a list: the object, the read operation, each record, audited
                    title, found = self._titled(principal, target, part)
                except CRMError:
                    break
                out.update({(target, int(item["id"])): str(item.get(title) or item["id"])
                            for item in found})
        return out

    def _titled(self, principal: Principal, object_name: str, ids: list[int]
                ) -> tuple[str, list[dict[str, Any]]]:
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, "read")
            title = ctx.obj.title_field
            q = ListQuery(conditions=(Condition("id", "in", tuple(map(str, ids))),),
                          fields=(title,) if title != "id" else None, limit=len(ids))
            rows, _, _, _, _ = self._page(ctx, q)
            items = self._outs(ctx, rows, q.fields)
        self._audit(principal, ctx.obj.id, "list", [r.id for r in rows])
        return title, items

    # Defined last: a method named ``list`` shadows the builtin in the rest of the class body.
    def list(self, principal: Principal, object_name: str, q: ListQuery, *,
             both_ways: bool = False, backward: bool = False) -> dict[str, Any]:
        """A page of records matching ``q`` that the principal may see. A slow page leaves
        its shape for the designer's index proposals (``index_advice``).

        ``both_ways`` (the list page) also answers ``previous_cursor``: where the page
        before this one ends, read backward: ``q`` again with ``backward`` and that cursor
        is the previous page, in ``q``'s order. A page read backward is the same keyset
        walk with every sort key (the ``id`` tie-break included) reversed, so it costs what
        a page forward costs, and its rows are turned back into ``q``'s order."""
        started = time.perf_counter()
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, "read")
            if ctx.obj.field("lang") is None:
                q = q.language_left_out(LANGS)
            readable = ctx.access.readable(ctx.obj)
            ahead = resolve_sort(ctx.obj, q.sort, readable) if both_ways or backward else []
            behind = [(f, not desc) for f, desc in ahead]
            walked = replace(q, sort=tuple(SortKey(f.name, d) for f, d in behind)) \
                if backward else q
            rows, base, more, sort, seal = self._page(ctx, walked)
            previous = None
            if backward:
                rows.reverse()
                sort = ahead
                seal = CursorSeal(self.tenant.cursor_key,
                                  cursor_binding(ctx.obj, principal.user_id, ahead))
                more, previous = bool(rows), (rows[0] if more and rows else None)
            elif both_ways and q.cursor and rows:
                previous = rows[0]
            result: dict[str, Any] = {
                "items": self._outs(ctx, rows, q.fields),
                "next_cursor": encode_cursor(sort, rows[-1], seal) if more and rows else None,
            }
            if both_ways or backward:
                back_seal = CursorSeal(self.tenant.cursor_key,
                                       cursor_binding(ctx.obj, principal.user_id, behind))
                result["previous_cursor"] = encode_cursor(behind, previous, back_seal) \
                    if previous is not None else None
            if q.total:
                t = ctx.table
                result["total"] = conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(*base)).scalar()
            elif q.total_estimate:
                result["total"], result["total_is_estimate"] = plans.estimate_count(
                    conn, self.tenant.dialect, ctx.table, base)
        self._audit(principal, ctx.obj.id, "list", [r.id for r in rows])
        ms = (time.perf_counter() - started) * 1000
        if ms > index_advice.slow_list_ms():
            index_advice.record_slow(self.tenant, ctx.obj, q, ms)
        return result


def _expected_version(data: Mapping[str, Any], header: int | None) -> int:
    body_version = data.get("version")
    if body_version is not None:
        if not isinstance(body_version, int) or isinstance(body_version, bool):
            raise ValidationFailed("version must be a whole number", {"version": ["not a number"]})
        if header is not None and header != body_version:
            raise BadRequest("If-Match and the body's version disagree")
        return body_version
    if header is None:
        raise ValidationFailed(
            "an update needs the record's version (If-Match header or \"version\")",
            {"version": ["required"]})
    return header
