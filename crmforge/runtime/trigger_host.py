"""Triggers in the write pipeline (DESIGN §4, §6): before-save and after-save scripts.

Scripts run in worker processes (``crmforge.rules.triggers``); this module decides when
they run and answers what they ask for. Before-save triggers run after conversion and
defaults and before formulas and validation: their ``set_field`` values go through the same
field write check and conversion as a payload, their ``add_error`` messages join the write's
other errors. After-save triggers run once the row is written (creates, updates, approval field updates
and owner transfers alike), in the same transaction.

``query``, ``create`` and ``update`` from a script are served here with the acting user's
``Access`` on the same connection, through the write pipeline (``pipeline``), so a trigger can
do nothing its user could not do through the API, and whatever it writes commits or rolls
back with the write that started it. A failed call refuses the whole write even when the
script catches the error: a half-done trigger must not commit.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest, CRMError, NotFound, ValidationFailed
from ..core.filters import MAX_IN_VALUES, Condition, ListQuery, parse_condition
from ..metadata.fieldtypes import ConversionError
from ..rules.triggers import TriggerError, TriggerResult, TriggerRunner
from . import masking, pipeline
from .context import Ctx, record_id
from .fields import SYSTEM_FIELD_DEFS, SYSTEM_OUTPUT
from .query import where_clauses

#: Rows one ``query()`` call returns at most: a trigger is no export.
MAX_ROWS = 200
ALL = "__all__"

_runner: TriggerRunner | None = None
_runner_lock = threading.Lock()


class TriggerFailed(ValidationFailed):
    """A trigger refused the write: it raised, hit a budget, or a call it made failed."""

    code = "trigger_failed"


def runner() -> TriggerRunner:
    """The process's pool of trigger workers, started on first use."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = TriggerRunner(workers=1)
            atexit.register(_runner.close)
        return _runner


def triggers_of(ctx: Ctx, when: str, op: str) -> list[Mapping[str, Any]]:
    """The active triggers of the object for ``when`` (before_save/after_save) and ``op``."""
    out = []
    for trigger in ctx.obj.options.get("triggers") or ():
        if trigger.get("when") == when and trigger.get("active", True) \
                and op in (trigger.get("on") or ("create", "update")):
            out.append(trigger)
    return out


def before_save(ctx: Ctx, values: dict[str, Any], existing: Any,
                errors: dict[str, list[str]], lang: str) -> frozenset[str]:
    """Run the before-save triggers over the record as it will be; apply what they set
    (into ``values``) and add their errors. Returns the fields the triggers set."""
    op = "create" if existing is None else "update"
    found = triggers_of(ctx, "before_save", op)
    if not found:
        return frozenset()
    old = _values(ctx, existing._mapping) if existing is not None else None
    record = {**(old or _values(ctx, {})), **values}
    names = [f.name for f in ctx.obj.fields if f.kind.writable]
    writable = ctx.access.writable(ctx.obj)
    changed: set[str] = set()
    for trigger in found:
        result = _run(ctx, trigger, "before", names, record, old, lang, errors)
        for name, raw in result.changes.items():
            f = ctx.obj.field(name)
            if f is None or name not in writable:
                errors.setdefault(name, []).append(
                    f"trigger '{trigger['name']}' may not set it: it is read-only for you")
                continue
            try:
                value = f.kind.to_python(f, raw, lenient=True)
            except ConversionError as exc:
                errors.setdefault(name, []).append(f"trigger '{trigger['name']}': {exc}")
                continue
            values[name] = record[name] = value
            changed.add(name)
        for key, messages in result.errors.items():
            errors.setdefault(key, []).extend(messages)
    return frozenset(changed)


def after_save(ctx: Ctx, op: str, rows: Sequence[tuple[int, Mapping[Any, Any] | None]]
               ) -> None:
    """Run the after-save triggers of written rows: (id, old values or None) each."""
    found = triggers_of(ctx, "after_save", op)
    if not found:
        return
    t = ctx.table
    for rid, old in rows:
        current = ctx.conn.execute(sa.select(t).where(t.c.id == rid)).one()._mapping
        record = _values(ctx, current)
        before = _values(ctx, old) if old is not None else None
        errors: dict[str, list[str]] = {}
        for trigger in found:
            _run(ctx, trigger, "after", [], record, before, "en", errors)
        if errors:
            first = next(iter(errors))
            raise TriggerFailed(f"{first}: {errors[first][0]}", errors)


def _values(ctx: Ctx, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A record for a script: every stored field (None when unset) and the system fields."""
    out: dict[str, Any] = {"id": row.get("id")}
    out.update({name: row.get(name) for name in SYSTEM_FIELD_DEFS})
    out.update({f.name: row.get(f.name) for f in ctx.obj.fields if f.stored})
    return out


def _run(ctx: Ctx, trigger: Mapping[str, Any], when: str, fields: list[str],
         record: Mapping[str, Any], old: Mapping[str, Any] | None, lang: str,
         errors: dict[str, list[str]]) -> TriggerResult:
    name = str(trigger.get("name"))
    host = Host(ctx, lang)
    try:
        result = runner().run(str(trigger.get("script", "")), fields=fields, record=record,
                              old=old, host=host, when=when)
    except TriggerError as exc:
        host.raise_failure(name, errors)
        message = f"trigger '{name}' failed at line {exc.line}: {exc.detail}"
        raise TriggerFailed(message, {**errors, ALL: [message]}) from None
    host.raise_failure(name, errors)
    if when == "after" and result.errors:
        for key, messages in result.errors.items():
            errors.setdefault(key, []).extend(f"trigger '{name}': {m}" for m in messages)
    return result


class Host:
    """What one trigger run may do beyond its record, as the acting user (TriggerHost)."""

    def __init__(self, ctx: Ctx, lang: str) -> None:
        self.ctx = ctx
        self.lang = lang
        self.failure: Exception | None = None

    def raise_failure(self, trigger: str, errors: dict[str, list[str]]) -> None:
        """Refuse the write when a call of the run failed, whatever the script did next
        (an unexpected error is re-raised as it is: a fault, not a refusal)."""
        if self.failure is None:
            return
        if not isinstance(self.failure, CRMError):
            raise self.failure
        message = f"trigger '{trigger}': {self.failure.message}"
        fields = {**errors, **{k: list(v) for k, v in self.failure.fields.items()}}
        fields.setdefault(ALL, []).insert(0, message)
        raise TriggerFailed(message, fields)

    def _other(self, object_name: str, op: str) -> Ctx:
        if self.failure is not None:
            raise ValueError("an earlier call of this trigger failed")
        obj = self.ctx.snapshot.object(object_name)
        if obj is None:
            raise self._fail(NotFound(f"no object named '{object_name[:40]}'"))
        ctx = self.ctx.other(obj)
        try:
            ctx.access.check(obj, op)
        except Exception as exc:  # every failed call refuses the write
            raise self._fail(exc) from None
        return ctx

    def _fail(self, exc: Exception) -> ValueError:
        """Remember why a call failed; the script gets a ValueError with the message."""
        self.failure = exc
        return ValueError(exc.message if isinstance(exc, CRMError) else "the call failed")

    def query(self, object_name: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        ctx = self._other(object_name, "read")
        t = ctx.table
        try:
            q = ListQuery(tuple(_condition(k, v) for k, v in filters.items()))
            readable = ctx.access.readable(ctx.obj)
            # Stored values derived through records the acting user cannot see come masked,
            # as the record service shows them.
            cols = masking.effective_columns(ctx)
            clauses = where_clauses(ctx.obj, t, q, ctx.tenant.dialect, readable, cols)
            select = sa.select(*(cols[c.name].label(c.name) if c.name in cols else c
                                 for c in t.c)) if cols else sa.select(t)
            rows = ctx.conn.execute(select.where(
                t.c.deleted_at.is_(None), ctx.access.visibility(ctx.obj, t), *clauses)
                .order_by(t.c.id).limit(MAX_ROWS)).all()
        except Exception as exc:  # every failed call refuses the write
            raise self._fail(exc) from None
        return [_out(ctx, r._mapping) for r in rows]

    def create(self, object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        ctx = self._other(object_name, "create")
        try:
            prepared = pipeline.prepare_new(ctx, _payload(ctx, values), self.lang)
            rid = pipeline.create(ctx, [prepared])[0]
        except Exception as exc:  # every failed call refuses the write
            raise self._fail(exc) from None
        t = ctx.table
        return _out(ctx, ctx.conn.execute(sa.select(t).where(t.c.id == rid)).one()._mapping)

    def update(self, object_name: str, rid: int, values: Mapping[str, Any]) -> dict[str, Any]:
        ctx = self._other(object_name, "update")
        t = ctx.table
        try:
            rid = record_id(rid)
            row: Any = ctx.conn.execute(sa.select(t).where(
                t.c.id == rid, t.c.deleted_at.is_(None),
                ctx.access.visibility(ctx.obj, t, write=True))).first()
            if row is None:
                raise NotFound(f"no {ctx.obj.name} record {rid} you may change")
            pipeline.update(ctx, row, _payload(ctx, values), self.lang)
        except Exception as exc:  # every failed call refuses the write
            raise self._fail(exc) from None
        return _out(ctx, ctx.conn.execute(sa.select(t).where(t.c.id == rid)).one()._mapping)


#: Field types whose values are whole numbers; scripts hand every number over as Decimal.
_WHOLE = frozenset({"integer", "lookup", "master_detail", "user", "department"})


def _payload(ctx: Ctx, values: Mapping[str, Any]) -> dict[str, Any]:
    """A script's values as a request payload: whole Decimals become ints where a field
    takes ids or whole numbers."""
    out = dict(values)
    for name, value in out.items():
        f = ctx.obj.field(name)
        if f is not None and f.type in _WHOLE and isinstance(value, Decimal) \
                and value.is_finite() and value == value.to_integral_value():
            out[name] = int(value)
    return out


def _condition(key: Any, value: Any) -> Condition:
    """A ``query()`` keyword as a list filter: ``amount__gte=10``, ``stage__in=[...]``."""
    if isinstance(value, (list, tuple)):
        field, _, op = str(key).partition("__")
        if len(value) > MAX_IN_VALUES:  # the list request's limit (docs/api.md)
            raise BadRequest(f"'{str(key)[:60]}' takes at most {MAX_IN_VALUES} values")
        return Condition(field, op or "eq", tuple(_text(v) for v in value))
    return parse_condition(str(key), _text(value))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _out(ctx: Ctx, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A record for a script: what the acting user may read of it, as Python values."""
    readable = ctx.access.readable(ctx.obj)
    out: dict[str, Any] = {"id": row["id"], "version": row["version"]}
    out.update({name: row[name] for name in SYSTEM_OUTPUT})
    out.update({f.name: row[f.name] for f in ctx.obj.fields
                if f.stored and f.name in readable})
    return out
