"""The one write sequence (DESIGN §4): every record write runs these steps from here.

API calls, pages, bulk requests, imports, triggers' own writes, approval field updates,
owner transfers and pack sample data all create, update, delete and restore records
through the functions below; the callers decide only what is theirs (how many records
per transaction, what a refused record does to the others). Where a caller must differ,
it says so with a named ``Switches`` value, never by writing the steps out again.

A create or update, in the write's transaction:

1. ``prepare``: field write check, conversion, defaults (create), before-save triggers,
   stored formulas, validation rules, dependent picklists, references, files, uniqueness;
   every error of the payload at once (``prepare``, from the steps in ``writes``);
2. status rules judge the fields the writer changes (update; level 7);
3. the row write, with the version check on update (``writes.insert_rows``,
   ``writes.update_row``);
4. files bound to the record, one history entry, and the title's pinyin search key
   (``search_keys``, decision 0032);
5. derived values of other records (``propagation``: parents' roll-ups, related stored
   formulas), from the graph compiled per metadata version;
6. after-save triggers;
7. the record event in the outbox (``events``), for those who listen;
8. the hooks of the layers above (``hooks``: an approval whose entry criteria now hold).

Deletes and restores run status rules, the recycle bin (which records history and
derived values for the whole batch), then events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import BadRequest, Forbidden, ValidationFailed
from ..security import sharing
from . import (
    dependent_picklists,
    events,
    hooks,
    logic,
    propagation,
    recycle,
    search_keys,
    trigger_host,
    writes,
)
from .context import Ctx
from .events import EventName, RecordEvent
from .fields import SYSTEM_FIELD_DEFS
from .files import binding as file_binding


@dataclass(frozen=True)
class Switches:
    """How an entry point's update differs from a person's, named."""

    #: Status rules (level 7) judge the change. Off for an approval's own field updates:
    #: the approval locked the record precisely so that only its steps change it.
    status_rules: bool = True
    #: The history action of an update.
    action: str = "update"
    #: The hooks of the layers above run (an automatic approval submission). Off for an
    #: approval's own field updates: a record approved while its entry criteria still hold
    #: would go straight back into approval.
    hooks: bool = True


#: A person's or a program's update (API, pages, bulk, imports, triggers, automation).
PLAIN = Switches()
#: The field updates an approval step makes (``workflow.run``).
APPROVAL = Switches(status_rules=False, action="approval", hooks=False)
#: A change of owner (``RecordService.transfer``): the operation was checked for it.
TRANSFER = Switches(status_rules=False, action="transfer")


def status(ctx: Ctx, row: Any, op: str, changed: Iterable[str] = ()) -> None:
    """Refuse (403) what the record's status rules or its approval lock forbid."""
    lock = sharing.lock_of(ctx.conn, ctx.obj.id, row.id)
    reason = ctx.access.status_denial(ctx.obj, row._mapping, op, changed, lock)
    if reason:
        raise Forbidden(reason)


def prepare(ctx: Ctx, data: Any, existing: Any, lang: str = "en",
            known: writes.Known | None = None) -> dict[str, Any]:
    """Step 1: check, convert and validate a payload; returns column values for the row,
    stored formulas included. Every problem of the payload is reported at once, keyed by field,
    with validation rule messages in ``lang``. ``known``: a new record of a batch whose
    existence questions were read for the whole batch."""
    if not isinstance(data, Mapping):
        raise BadRequest("a record must be a JSON object")
    obj = ctx.obj
    shape = writes.shape_of(ctx)
    errors: dict[str, list[str]] = {}
    values = writes.convert(ctx, data, errors, existing)
    sent = frozenset(values)
    if existing is None and shape.defaults:
        writes.defaults(ctx, values, errors, shape.defaults)
    sent |= trigger_host.before_save(ctx, values, existing, errors, lang)
    logic.apply(ctx, values, sent, existing, errors, lang)
    if shape.dependents:
        dependent_picklists.check(obj, values, dict(existing._mapping)
                                  if existing is not None else {}, errors)
    writes.references(ctx, values, errors, shape, known if existing is None else None)
    if shape.files:
        file_binding.resolve(ctx, values, existing, errors)
    writes.unique(ctx, values, existing, errors, shape, known if existing is None else None)
    if errors:
        writes.conceal(ctx, errors)
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
    names = shape.names
    return {k: v for k, v in values.items() if k in names}


# -- create ---------------------------------------------------------------------------------
def prepare_new(ctx: Ctx, data: Any, lang: str = "en",
                known: writes.Known | None = None) -> dict[str, Any]:
    """Step 1 for a new record: its column values, or every error of the payload."""
    return prepare(ctx, data, None, lang, known)


def create(ctx: Ctx, prepared: Sequence[dict[str, Any]],
           owner: tuple[int, int | None] | None = None) -> list[int]:
    """Steps 3-8 for new records whose values ``prepare_new`` returned: written together
    (one insert, one history insert); their ids. ``owner``: the (user, department) that
    owns them from the start, when the writer is not to (a rule creating a follow-up for
    the record's owner), instead of a transfer right after."""
    return [rid for rid, _ in create_rows(ctx, prepared, owner)]


def create_one(ctx: Ctx, values: dict[str, Any]) -> tuple[int, Mapping[str, Any] | None]:
    """``create`` of one record: its id, and its row as written (every column) when nothing
    after the insert changed it, so the answer needs no read back (on PostgreSQL a round
    trip, a fifth of a create); None when something did."""
    rid, row = create_rows(ctx, [values])[0]
    if writes.was_rewritten(ctx.conn, ctx.obj.id, rid):
        return rid, None
    return rid, {**{c.name: None for c in ctx.table.c}, **row, "id": rid}


def create_rows(ctx: Ctx, prepared: Sequence[dict[str, Any]],
                owner: tuple[int, int | None] | None = None
                ) -> list[tuple[int, dict[str, Any]]]:
    """``create``, answering each record's id and row as inserted."""
    if not prepared:
        return []
    ids, rows, now = writes.insert_rows(ctx, prepared, owner)
    file_binding.bind_many(ctx, list(zip(ids, rows, strict=True)), now)
    obj = ctx.obj
    writes.record_history(ctx, writes.created_entries(ctx, obj, ids, rows, now))
    search_keys.created(ctx, ids, rows)
    propagation.created(ctx, obj, rows)
    trigger_host.after_save(ctx, "create", [(rid, None) for rid in ids])
    if events.wanted(ctx, EventName.CREATED, obj):
        events.emit(ctx, [RecordEvent(EventName.CREATED, obj, rid, 1, _set(ctx, row))
                          for rid, row in zip(ids, rows, strict=True)])
    if ctx.tenant.wiring.after_save:
        for rid in ids:
            hooks.after_save(ctx, rid, True)
    return list(zip(ids, rows, strict=True))


# -- update ---------------------------------------------------------------------------------
def update(ctx: Ctx, row: Any, payload: Mapping[str, Any], lang: str = "en",
           switches: Switches = PLAIN) -> dict[str, Any]:
    """Steps 1-8 for a fetched row the principal may change; what changed."""
    try:
        values = prepare(ctx, payload, row, lang)
    except ValidationFailed:
        # A record whose status or lock refuses these fields says so first: its
        # validation errors would only invite fixes that could never be saved.
        if switches.status_rules:
            status(ctx, row, "update", [k for k in payload if ctx.obj.field(str(k)) is not None])
        raise
    changed = {k: v for k, v in values.items() if logic.differs(row._mapping[k], v)}
    if switches.status_rules:  # status rules judge what the writer changes, not formulas
        status(ctx, row, "update", [k for k in changed if k in payload])
    if changed:
        write_update(ctx, row, changed, switches)
    return changed


def write_update(ctx: Ctx, row: Any, changed: dict[str, Any],
                 switches: Switches = PLAIN) -> None:
    """Steps 3-8 for values already prepared (or system fields: a new owner)."""
    new_version, now = writes.update_row(ctx, row, changed)
    file_binding.bind(ctx, row.id, row._mapping, changed, now)
    old = row._mapping
    changes = [(f, old[name], value) for name, value in changed.items()
               if (f := ctx.obj.field(name) or SYSTEM_FIELD_DEFS.get(name)) is not None]
    writes.record_history(ctx, [writes.history_entry(ctx, ctx.obj, row.id, new_version,
                                                     switches.action, changes, now)])
    search_keys.updated(ctx, row.id, changed)
    propagation.updated(ctx, ctx.obj, [old, {**old, **changed}], [row.id], changed)
    trigger_host.after_save(ctx, "update", [(row.id, old)])
    if ctx.tenant.wiring.consumers:
        name = EventName.OWNER_CHANGED if "owner_id" in changed else EventName.UPDATED
        events.emit(ctx, [RecordEvent(name, ctx.obj, row.id, new_version, {
            ("owner" if f.name == "owner_id" else f.name):
                (_json(f, before), _json(f, after)) for f, before, after in changes})])
    if switches.hooks and ctx.tenant.wiring.after_save:
        hooks.after_save(ctx, row.id, False)


# -- delete and restore ---------------------------------------------------------------------
def delete(ctx: Ctx, row: Any) -> None:
    """A record (and its master-detail children) to the recycle bin."""
    status(ctx, row, "delete")
    moved = recycle.delete(ctx, row)
    _moved_events(ctx, EventName.DELETED, moved)


def restore(ctx: Ctx, row: Any) -> None:
    """A record's deletion batch back from the recycle bin."""
    moved = recycle.restore(ctx, row)
    _moved_events(ctx, EventName.RESTORED, moved)


def _moved_events(ctx: Ctx, name: EventName, moved: recycle.Moved) -> None:
    if ctx.tenant.wiring.consumers:
        events.emit(ctx, [RecordEvent(name, obj, rid, version) for obj, rid, version in moved])


def _set(ctx: Ctx, row: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """A new record's values as event changes (``[null, value]``)."""
    return {f.name: (None, _json(f, row[f.name])) for f in ctx.obj.fields
            if f.stored and row.get(f.name) is not None}


def _json(f: Any, value: Any) -> Any:
    return None if value is None else f.kind.to_json(f, value)


__all__ = ["APPROVAL", "PLAIN", "TRANSFER", "Switches", "create", "create_one", "create_rows",
           "delete", "prepare_new",
           "restore", "status", "update", "write_update"]
