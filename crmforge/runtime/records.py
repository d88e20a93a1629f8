"""The record service: the only path by which records are read and written (DESIGN §4).

API calls, forms, imports, triggers, workflow actions and pack data all come through here.
A write checks permissions, converts and validates every value (collecting all errors),
writes the row with an optimistic version check, and records field-level history, all in
one transaction. Reads compile visibility into the WHERE clause and return only the fields
the reader may see.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from ..core.filters import ListQuery
from ..metadata.fieldtypes import AutonumberType, ConversionError
from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..rules.defaults import UnsupportedExpression, evaluate_default
from ..security.engine import PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from ..security.tables import users
from .fields import SYSTEM_FIELD_DEFS, SYSTEM_OUTPUT
from .instance import Tenant
from .query import cursor_sql, encode_cursor, order_by, resolve_sort, where_clauses
from .systables import history, recycle_bin, sequences

NOT_WRITABLE_SYSTEM = frozenset(SYSTEM_FIELD_DEFS) | {"deleted_at"}


@dataclass(frozen=True)
class Ctx:
    conn: sa.Connection
    principal: Principal
    snapshot: Snapshot
    obj: ObjectDef
    table: sa.Table


def _now() -> Any:
    return clock.now().replace(tzinfo=None)


class RecordService:
    def __init__(self, tenant: Tenant, permissions: PermissionEngine | None = None) -> None:
        self.tenant = tenant
        self.permissions = permissions or default_engine

    # -- context ----------------------------------------------------------------------------
    def _ctx(self, conn: sa.Connection, principal: Principal, object_name: str, op: str) -> Ctx:
        snap = self.tenant.snapshot(conn)
        obj = snap.object(object_name)
        if obj is None:
            raise NotFound(f"no object named '{object_name[:40]}'")
        self.permissions.check(principal, obj, op)
        table = self.tenant.schema(snap).table(obj.name)
        return Ctx(conn, principal, snap, obj, table)

    def _visible(self, ctx: Ctx) -> Any:
        return self.permissions.visibility(ctx.principal, ctx.obj, ctx.table)

    def _fetch(self, ctx: Ctx, record_id: Any, *, deleted: bool = False) -> Any:
        rid = _record_id(record_id)
        t = ctx.table
        gone = t.c.deleted_at.is_not(None) if deleted else t.c.deleted_at.is_(None)
        row = ctx.conn.execute(
            sa.select(t).where(t.c.id == rid, gone, self._visible(ctx))
        ).first()
        if row is None:
            state = "deleted " if deleted else ""
            raise NotFound(f"no {state}{ctx.obj.name} record {rid}")
        return row

    # -- output -----------------------------------------------------------------------------
    def _out(self, ctx: Ctx, row: Any, fields: Iterable[str] | None = None) -> dict[str, Any]:
        m = row._mapping
        readable = self.permissions.readable_fields(ctx.principal, ctx.obj)
        out: dict[str, Any] = {"id": m["id"], "version": m["version"]}
        wanted = set(fields) if fields is not None else None
        for name in SYSTEM_OUTPUT:
            if (wanted is None or name in wanted) and name in m:
                f = SYSTEM_FIELD_DEFS[name]
                out[name] = f.kind.to_json(f, m[name])
        for f in ctx.obj.fields:
            if not f.stored or f.name not in readable or (wanted is not None and f.name not in wanted):
                continue
            out[f.name] = f.kind.to_json(f, m[f.name])
        return out

    # -- reads ------------------------------------------------------------------------------
    def get(self, principal: Principal, object_name: str, record_id: Any,
            fields: Iterable[str] | None = None) -> dict[str, Any]:
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, "read")
            return self._out(ctx, self._fetch(ctx, record_id), fields)

    def history(self, principal: Principal, object_name: str, record_id: Any) -> list[dict[str, Any]]:
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, "read")
            rid = _record_id(record_id)
            t = ctx.table
            exists = conn.execute(sa.select(t.c.id).where(t.c.id == rid, self._visible(ctx))).first()
            if exists is None:
                raise NotFound(f"no {ctx.obj.name} record {rid}")
            readable_ids = {f.id: f.name for f in ctx.obj.fields
                            if f.name in self.permissions.readable_fields(principal, ctx.obj)}
            rows = conn.execute(
                sa.select(history).where(history.c.object_id == ctx.obj.id,
                                         history.c.record_id == rid).order_by(history.c.id)
            )
            out = []
            for r in rows:
                if r.field_id is not None and r.field_id not in readable_ids:
                    continue
                out.append({
                    "action": r.action, "field": readable_ids.get(r.field_id) if r.field_id else None,
                    "old": json.loads(r.old_value) if r.old_value is not None else None,
                    "new": json.loads(r.new_value) if r.new_value is not None else None,
                    "version": r.record_version, "by": r.actor,
                    "at": r.at.isoformat(timespec="milliseconds") + "Z",
                })
            return out

    def recycle_bin(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        with self.tenant.read() as conn:
            snap = self.tenant.snapshot(conn)
            by_id = {o.id: o for o in snap.objects.values()}
            rows = conn.execute(
                sa.select(recycle_bin).where(recycle_bin.c.is_root)
                .order_by(recycle_bin.c.id.desc())
            )
            out = []
            for r in rows:
                obj = by_id.get(r.object_id)
                if obj is None or not self.permissions.allowed(principal, obj, "read"):
                    continue
                table = self.tenant.schema(snap).table(obj.name)
                visible = conn.execute(sa.select(table.c.id).where(
                    table.c.id == r.record_id, self.permissions.visibility(principal, obj, table))
                ).first()
                if visible is None:
                    continue
                out.append({"object": obj.name, "id": r.record_id, "title": r.title,
                            "deleted_at": r.deleted_at.isoformat(timespec="seconds") + "Z",
                            "deleted_by": r.deleted_by_name})
                if len(out) >= limit:
                    break
            return out

    # -- writes -----------------------------------------------------------------------------
    def create(self, principal: Principal, object_name: str, data: Any) -> dict[str, Any]:
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "create")
            values = self._prepare(ctx, data, None)
            rid = self._insert(ctx, [values])[0]
            return self._out(ctx, self._fetch(ctx, rid))

    def create_many(self, principal: Principal, object_name: str, rows: list[Any]) -> list[int]:
        """Create many records in one transaction through the same pipeline (imports, packs)."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "create")
            prepared = []
            for i, data in enumerate(rows):
                try:
                    prepared.append(self._prepare(ctx, data, None))
                except ValidationFailed as exc:
                    raise ValidationFailed(f"row {i + 1}: {exc.message}", exc.fields) from None
            return self._insert(ctx, prepared)

    def update(self, principal: Principal, object_name: str, record_id: Any, data: Any,
               expected_version: int | None = None) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise BadRequest("a record must be a JSON object")
        body_version = data.get("version")
        if body_version is not None:
            if not isinstance(body_version, int) or isinstance(body_version, bool):
                raise ValidationFailed("version must be a whole number", {"version": ["not a number"]})
            if expected_version is not None and expected_version != body_version:
                raise BadRequest("If-Match and the body's version disagree")
            expected_version = body_version
        if expected_version is None:
            raise ValidationFailed(
                "an update needs the record's version (If-Match header or \"version\")",
                {"version": ["required"]})
        payload = {k: v for k, v in data.items() if k != "version"}
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "update")
            row = self._fetch(ctx, record_id)
            if row.version != expected_version:
                raise Conflict(f"the record changed since version {expected_version} "
                               f"(now {row.version}); reload and try again",
                               details={"current_version": row.version})
            values = self._prepare(ctx, payload, row)
            changed = {k: v for k, v in values.items() if _differs(row._mapping[k], v)}
            if changed:
                self._update_row(ctx, row, changed)
            return self._out(ctx, self._fetch(ctx, row.id))

    def delete(self, principal: Principal, object_name: str, record_id: Any) -> None:
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            row = self._fetch(ctx, record_id)
            batch = secrets.token_hex(8)
            now = _now()
            self._soft_delete(ctx, ctx.obj, ctx.table, [row], batch, now, root=True)

    def restore(self, principal: Principal, object_name: str, record_id: Any) -> dict[str, Any]:
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            row = self._fetch(ctx, record_id, deleted=True)
            entry = conn.execute(sa.select(recycle_bin).where(
                recycle_bin.c.object_id == ctx.obj.id, recycle_bin.c.record_id == row.id,
                recycle_bin.c.batch == row.deleted_batch)).first()
            if entry is not None and not entry.is_root:
                raise Conflict("this record was deleted with its master record; restore that one")
            for f in ctx.obj.fields:
                if f.type == "master_detail" and row._mapping[f.name] is not None:
                    parent = ctx.snapshot.object(f.target or "")
                    if parent is not None:
                        pt = self.tenant.schema(ctx.snapshot).table(parent.name)
                        alive = conn.execute(sa.select(pt.c.id).where(
                            pt.c.id == row._mapping[f.name], pt.c.deleted_at.is_(None))).first()
                        if alive is None:
                            raise Conflict(f"the master {parent.name} record is in the recycle "
                                           "bin; restore it first")
            self._restore_batch(ctx, row.deleted_batch)
            return self._out(ctx, self._fetch(ctx, row.id))

    def purge(self, principal: Principal, object_name: str, record_id: Any) -> None:
        """Delete for good a record in the recycle bin, with what was deleted along with it."""
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, object_name, "delete")
            row = self._fetch(ctx, record_id, deleted=True)
            entries = conn.execute(sa.select(recycle_bin).where(
                recycle_bin.c.batch == row.deleted_batch)).all()
            for e in entries:
                obj = next((o for o in ctx.snapshot.objects.values() if o.id == e.object_id), None)
                if obj is not None:
                    t = self.tenant.schema(ctx.snapshot).table(obj.name)
                    conn.execute(t.delete().where(t.c.id == e.record_id, t.c.deleted_at.is_not(None)))
                    conn.execute(history.insert().values(
                        self._history_row(ctx, obj, e.record_id, 0, "purge", None, None, None)))
            conn.execute(recycle_bin.delete().where(recycle_bin.c.batch == row.deleted_batch))

    # -- pipeline steps ---------------------------------------------------------------------
    def _prepare(self, ctx: Ctx, data: Any, existing: Any) -> dict[str, Any]:
        """Check, convert and validate a payload; every problem is reported at once."""
        if not isinstance(data, Mapping):
            raise BadRequest("a record must be a JSON object")
        obj = ctx.obj
        writable = self.permissions.writable_fields(ctx.principal, obj)
        readable = self.permissions.readable_fields(ctx.principal, obj)
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            f = obj.field(key) if isinstance(key, str) else None
            if f is None or key not in readable:
                if key in NOT_WRITABLE_SYSTEM:
                    errors.setdefault(key, []).append("is set by the system")
                else:
                    errors.setdefault(str(key)[:40], []).append("no such field")
                continue
            if not f.kind.writable:
                errors.setdefault(key, []).append(f"is a {f.type} field and computed")
                continue
            if key not in writable:
                errors.setdefault(key, []).append("is read-only for you")
                continue
            try:
                values[key] = f.kind.to_python(f, raw)
            except ConversionError as exc:
                errors.setdefault(key, []).append(str(exc))
        if existing is None:
            for f in obj.fields:
                if f.name in values or not f.kind.writable:
                    continue
                default = f.options.get("default")
                if default:
                    try:
                        values[f.name] = f.kind.to_python(f, evaluate_default(default), lenient=True)
                    except (UnsupportedExpression, ConversionError) as exc:
                        errors.setdefault(f.name, []).append(f"default: {exc}")
        for f in obj.fields:
            if not (f.required or f.type == "master_detail") or not f.kind.writable \
                    or f.name in errors:
                continue
            if existing is None:
                missing = values.get(f.name) in (None, "")
            else:
                missing = f.name in values and values[f.name] in (None, "")
            if missing:
                errors.setdefault(f.name, []).append("is required")
        self._check_references(ctx, values, errors)
        self._check_unique(ctx, values, existing, errors)
        if errors:
            first = next(iter(errors))
            raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
        return values

    def _check_references(self, ctx: Ctx, values: dict[str, Any], errors: dict[str, list[str]]) -> None:
        schema = self.tenant.schema(ctx.snapshot)
        for name, value in values.items():
            f = ctx.obj.field(name)
            if value is None or f is None:
                continue
            if f.type in ("lookup", "master_detail"):
                target = ctx.snapshot.object(f.target or "")
                if target is None:
                    errors.setdefault(name, []).append("points at a removed object")
                    continue
                t = schema.table(target.name)
                found = ctx.conn.execute(sa.select(t.c.id).where(
                    t.c.id == value, t.c.deleted_at.is_(None),
                    self.permissions.visibility(ctx.principal, target, t))).first()
                if found is None:
                    errors.setdefault(name, []).append(f"no {target.name} record {value}")
            elif f.type == "user":
                found = ctx.conn.execute(sa.select(users.c.id).where(users.c.id == value)).first()
                if found is None:
                    errors.setdefault(name, []).append(f"no user {value}")

    def _check_unique(self, ctx: Ctx, values: dict[str, Any], existing: Any,
                      errors: dict[str, list[str]]) -> None:
        t = ctx.table
        for name, value in values.items():
            f = ctx.obj.field(name)
            if f is None or not f.unique or value is None:
                continue
            q = sa.select(t.c.id).where(t.c[name] == value)
            if existing is not None:
                q = q.where(t.c.id != existing.id)
            if ctx.conn.execute(q.limit(1)).first() is not None:
                errors.setdefault(name, []).append("must be unique; another record has this value")

    def _next_number(self, ctx: Ctx, f: FieldDef) -> str:
        key = f.id
        start = int(f.options.get("start", 1))
        updated = ctx.conn.execute(
            sequences.update().where(sequences.c.key == key).values(value=sequences.c.value + 1)
        )
        if updated.rowcount == 0:
            ctx.conn.execute(sequences.insert().values(key=key, value=start))
        value = ctx.conn.execute(sa.select(sequences.c.value).where(sequences.c.key == key)).scalar()
        kind = f.kind
        assert isinstance(kind, AutonumberType)
        return kind.render(f, int(value or start))

    def _insert(self, ctx: Ctx, prepared: list[dict[str, Any]]) -> list[int]:
        if not prepared:
            return []
        now = _now()
        p = ctx.principal
        autonumbers = [f for f in ctx.obj.fields if f.type == "autonumber"]
        rows = []
        for values in prepared:
            row = dict(values)
            for f in autonumbers:
                row[f.name] = self._next_number(ctx, f)
            row.update(owner_id=p.user_id, department_id=p.department_id, created_at=now,
                       created_by=p.user_id, updated_at=now, updated_by=p.user_id, version=1)
            rows.append(row)
        # Every row gets the same keys so one executemany (insertmanyvalues) can carry them.
        keys = set().union(*rows)
        rows = [{k: r.get(k) for k in keys} for r in rows]
        result = ctx.conn.execute(
            ctx.table.insert().returning(ctx.table.c.id, sort_by_parameter_order=True), rows)
        ids = [r[0] for r in result]
        entries = []
        for rid, row in zip(ids, rows, strict=True):
            for f in ctx.obj.fields:
                if f.stored and row.get(f.name) is not None:
                    entries.append(self._history_row(ctx, ctx.obj, rid, 1, "create", f, None,
                                                     row[f.name]))
            if not any(f.stored and row.get(f.name) is not None for f in ctx.obj.fields):
                entries.append(self._history_row(ctx, ctx.obj, rid, 1, "create", None, None, None))
        ctx.conn.execute(history.insert(), entries)
        return ids

    def _update_row(self, ctx: Ctx, row: Any, changed: dict[str, Any]) -> None:
        t = ctx.table
        new_version = row.version + 1
        result = ctx.conn.execute(
            t.update().where(t.c.id == row.id, t.c.version == row.version)
            .values(**changed, version=new_version, updated_at=_now(), updated_by=ctx.principal.user_id)
        )
        if result.rowcount != 1:
            raise Conflict("the record changed meanwhile; reload and try again")
        entries = []
        for name, value in changed.items():
            f = ctx.obj.field(name)
            assert f is not None
            entries.append(self._history_row(ctx, ctx.obj, row.id, new_version, "update", f,
                                             row._mapping[name], value))
        ctx.conn.execute(history.insert(), entries)

    def _soft_delete(self, ctx: Ctx, obj: ObjectDef, table: sa.Table, rows: Sequence[Any],
                     batch: str, now: Any, *, root: bool) -> None:
        if not rows:
            return
        ids = [r.id for r in rows]
        ctx.conn.execute(table.update().where(table.c.id.in_(ids)).values(
            deleted_at=now, deleted_batch=batch))
        ctx.conn.execute(recycle_bin.insert(), [
            {"object_id": obj.id, "record_id": r.id, "title": _title(obj, r), "batch": batch,
             "is_root": root, "deleted_at": now, "deleted_by": ctx.principal.user_id,
             "deleted_by_name": ctx.principal.label} for r in rows])
        ctx.conn.execute(history.insert(), [
            self._history_row(ctx, obj, r.id, r.version, "delete", None, None, None) for r in rows])
        schema = self.tenant.schema(ctx.snapshot)
        for child, f in obj.children(ctx.snapshot):
            ct = schema.table(child.name)
            kids = ctx.conn.execute(sa.select(ct).where(
                ct.c[f.name].in_(ids), ct.c.deleted_at.is_(None))).all()
            self._soft_delete(ctx, child, ct, kids, batch, now, root=False)

    def _restore_batch(self, ctx: Ctx, batch: str) -> None:
        entries = ctx.conn.execute(sa.select(recycle_bin).where(recycle_bin.c.batch == batch)).all()
        by_id = {o.id: o for o in ctx.snapshot.objects.values()}
        schema = self.tenant.schema(ctx.snapshot)
        for e in entries:
            obj = by_id.get(e.object_id)
            if obj is None:
                continue
            t = schema.table(obj.name)
            row = ctx.conn.execute(sa.select(t.c.version).where(t.c.id == e.record_id)).first()
            ctx.conn.execute(t.update().where(t.c.id == e.record_id).values(
                deleted_at=None, deleted_batch=None))
            ctx.conn.execute(history.insert().values(
                self._history_row(ctx, obj, e.record_id, row.version if row else 0, "restore",
                                  None, None, None)))
        ctx.conn.execute(recycle_bin.delete().where(recycle_bin.c.batch == batch))

    def _history_row(self, ctx: Ctx, obj: ObjectDef, rid: int, version: int, action: str,
                     f: FieldDef | None, old: Any, new: Any) -> dict[str, Any]:
        def enc(v: Any) -> str | None:
            if v is None or f is None:
                return None
            return json.dumps(f.kind.to_json(f, v), ensure_ascii=False)

        return {"object_id": obj.id, "record_id": rid, "action": action,
                "field_id": f.id if f else None, "field": f.name if f else None,
                "old_value": enc(old), "new_value": enc(new), "record_version": version,
                "actor_id": ctx.principal.user_id, "actor": ctx.principal.label, "at": _now()}

    # Defined last: a method named ``list`` shadows the builtin in the rest of the class body.
    def list(self, principal: Principal, object_name: str, q: ListQuery) -> dict[str, Any]:
        """A page of records matching ``q`` that the principal may see."""
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name, "read")
            t = ctx.table
            readable = self.permissions.readable_fields(principal, ctx.obj)
            if q.fields is not None:
                for name in q.fields:
                    if name not in readable and name not in SYSTEM_FIELD_DEFS:
                        raise BadRequest(f"no field named '{name[:40]}'", {name[:40]: ["no such field"]})
            base = [t.c.deleted_at.is_(None), self._visible(ctx),
                    *where_clauses(ctx.obj, t, q, self.tenant.dialect, readable)]
            sort = resolve_sort(ctx.obj, q.sort, readable)
            page = list(base)
            if q.cursor:
                page.append(cursor_sql(t, sort, q.cursor))
            rows = conn.execute(
                sa.select(t).where(*page).order_by(*order_by(t, sort)).limit(q.limit + 1)
            ).all()
            more = len(rows) > q.limit
            rows = rows[: q.limit]
            result: dict[str, Any] = {
                "items": [self._out(ctx, r, q.fields) for r in rows],
                "next_cursor": encode_cursor(sort, rows[-1]) if more and rows else None,
            }
            if q.total:
                result["total"] = conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(*base)).scalar()
            return result


def _record_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    raise NotFound(f"no record {str(value)[:40]}")


def _differs(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is not new
    if hasattr(old, "isoformat") and isinstance(old, str) != isinstance(new, str):
        return str(old) != str(new)
    return bool(old != new)


def _title(obj: ObjectDef, row: Any) -> str | None:
    name = obj.title_field
    value = row._mapping.get(name)
    return None if value is None else str(value)[:255]
