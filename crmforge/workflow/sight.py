"""What an approval shows its reader: the step's fields, labelled and formatted.

A step declares what its approvers see and may change (``"fields": {"<field>":
"hidden|read|edit"}``) over a base of the object's layout fields (read), so a step that
only says ``{"amount": "edit"}`` still shows the rest of the form. Who reads an approval
decides which sight applies (``reader_sight``):

- an administrator: every field;
- someone holding an open task of it: the sight of that task's step, plus what their own
  role lets them read that the step does not hide; an approver without any role on the
  object therefore still decides with full sight of the step's fields;
- someone copied on it (抄送): the sight of the step they were copied on (the process's
  base sight for a process-level copy);
- anyone else involved (the submitter, an approver whose task has ended): what their own
  record access allows, nothing more. Access through a task ends with the task.

The stored snapshot is never handed out raw: every response filters it (and the current
record) through this sight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import CRMError
from ..metadata.layouts import layout_for
from ..metadata.model import ObjectDef, Snapshot
from ..runtime import masking
from ..runtime.context import open_ctx
from ..runtime.fields import SYSTEM_FIELD_DEFS
from ..runtime.instance import Tenant
from ..security.engine import engine as permission_engine
from ..security.principal import SYSTEM, Principal
from ..security.tables import departments
from . import people
from .tables import copies, tasks

Sight = dict[str, str]  # field -> "read" | "edit"
#: Always part of a record as an approval shows it (they identify it, they reveal nothing).
IDENTITY = ("id", "version")


def base_fields(obj: ObjectDef, snapshot: Snapshot) -> list[str]:
    """The object's layout fields (the default sight of every step)."""
    return [n for n in layout_for(snapshot, obj, ()).form_fields if obj.field(n) is not None]


def step_sight(obj: ObjectDef, snapshot: Snapshot, step: Mapping[str, Any] | None) -> Sight:
    """The fields a step shows (read or edit), hidden ones left out, in layout order."""
    out: Sight = {n: "read" for n in base_fields(obj, snapshot)}
    for name, access in ((step or {}).get("fields") or {}).items():
        if obj.field(name) is None:
            continue
        if access == "hidden":
            out.pop(name, None)
        else:
            out[name] = str(access)
    return out


def shown_fields(tenant: Tenant, conn: sa.Connection, principal: Principal,
                 object_name: str) -> frozenset[str]:
    """The fields of an object's submitted records this reader may see: those they may
    read (derived ones included, so a formula over a hidden field stays hidden), without
    the values derived through related records they do not all see (a snapshot cannot say
    whether those were visible then)."""
    try:
        ctx = open_ctx(tenant, permission_engine, conn, principal, object_name)
    except CRMError:  # the object is gone: nothing of it can be checked
        return frozenset()
    grant = ctx.access.grant(ctx.obj)
    if grant is None or not grant.operations:
        # Involved without a role on the object (an approver by name, a submitter whose
        # role changed): the record's title identifies it, nothing else; a computed
        # title could be derived from anything, so it stays hidden.
        title = ctx.obj.field(ctx.obj.title_field)
        return frozenset({title.name}) if title is not None and title.kind.writable \
            else frozenset()
    return ctx.access.readable(ctx.obj) - set(masking.row_paths(ctx, ctx.obj))


def reader_sight(tenant: Tenant, conn: sa.Connection, principal: Principal, obj: ObjectDef,
                 definition: Mapping[str, Any], instance_id: int) -> Sight | None:
    """The reader's sight of one approval; ``None`` means every field (administrators)."""
    if principal.is_admin or principal.is_system:
        return None
    snapshot = tenant.snapshot(conn)
    steps = {str(s["name"]): s for s in definition.get("steps", [])}
    out: Sight = {}
    hidden: set[str] = set()
    holding = conn.execute(sa.select(tasks.c.step).where(
        tasks.c.instance_id == instance_id, tasks.c.assignee_id == principal.user_id,
        tasks.c.status == "open")).scalars().all()
    for step in holding:
        sight = step_sight(obj, snapshot, steps.get(step))
        hidden |= {n for n, a in (steps.get(step, {}).get("fields") or {}).items()
                   if a == "hidden"}
        for name, access in sight.items():
            if out.get(name) != "edit":
                out[name] = access
    copied = conn.execute(sa.select(copies.c.step).where(
        copies.c.instance_id == instance_id, copies.c.user_id == principal.user_id)
        ).scalars().all()
    for step in copied:
        for name in step_sight(obj, snapshot, steps.get(step) if step else None):
            out.setdefault(name, "read")
    own = shown_fields(tenant, conn, principal, obj.name)
    for name in own:
        if name not in hidden and obj.field(name) is not None:
            out.setdefault(name, "read")
    return out


def mask(values: Mapping[str, Any], sight: Sight | None) -> dict[str, Any]:
    """A record's values (JSON) as the sight shows them: its fields, id, version and the
    system fields (owner, department, dates), nothing else."""
    if sight is None:
        return dict(values)
    return {k: v for k, v in values.items()
            if k in sight or k in IDENTITY or k in SYSTEM_FIELD_DEFS}


class Formatter:
    """Labels and display texts of values in one language, caching the names of users,
    departments and related records it looked up (an inbox formats many records)."""

    def __init__(self, tenant: Tenant, conn: sa.Connection, lang: str) -> None:
        self.tenant, self.conn = tenant, conn
        self.lang = lang if lang in ("zh", "en") else "en"
        self._users: dict[int, str] = {}
        self._departments: dict[int, str] = {}
        self._titles: dict[tuple[str, int], str] = {}

    def fields(self, obj: ObjectDef, values: Mapping[str, Any], sight: Sight | None
               ) -> list[dict[str, Any]]:
        """``[{"name", "label", "access", "value", "display"}]`` in the sight's order."""
        order: Iterable[str] = sight if sight is not None else [
            f.name for f in obj.fields]
        out = []
        for name in order:
            f = obj.field(name)
            if f is None:
                continue
            value = values.get(name)
            out.append({"name": name, "label": f.label(self.lang),
                        "access": (sight or {}).get(name, "read"), "value": value,
                        "display": self.display(obj, name, value)})
        return out

    def display(self, obj: ObjectDef, name: str, value: Any) -> str:
        f = obj.field(name)
        if value is None or value == "" or value == [] or f is None:
            return "" if value is None else str(value)
        if f.type == "boolean":
            return ("是" if value else "否") if self.lang == "zh" else ("Yes" if value else "No")
        if f.type == "picklist":
            return f.choice_label(value, self.lang)
        if f.type == "multipicklist" and isinstance(value, list):
            return ", ".join(f.choice_label(v, self.lang) for v in value)
        if f.type == "user" and isinstance(value, int):
            return self._user(value)
        if f.type == "department" and isinstance(value, int):
            return self._department(value)
        if f.target and isinstance(value, int):
            return self._title(f.target, value)
        if f.type == "datetime" and isinstance(value, str):
            return value[:16].replace("T", " ") + " UTC"
        if f.type == "file" and isinstance(value, Mapping):
            return str(value.get("name") or "")
        if f.type == "percent":
            return f"{value}%"
        return str(value)

    def _user(self, uid: int) -> str:
        if uid not in self._users:
            self._users.update(people.usernames(self.conn, [uid]))
        return self._users.get(uid, f"#{uid}")

    def _department(self, did: int) -> str:
        if did not in self._departments:
            found = self.conn.execute(sa.select(departments.c.name).where(
                departments.c.id == did)).scalar()
            self._departments[did] = str(found) if found else f"#{did}"
        return self._departments[did]

    def _title(self, target: str, rid: int) -> str:
        """A related record's title, read as the system: the approval's sight already
        decided that this field is shown, and its title is what the field means."""
        key = (target, rid)
        if key not in self._titles:
            try:
                ctx = open_ctx(self.tenant, permission_engine, self.conn, SYSTEM, target)
                col = ctx.table.c.get(ctx.obj.title_field)
                found = self.conn.execute(sa.select(col).where(ctx.table.c.id == rid)).scalar() \
                    if col is not None else None
            except CRMError:
                found = None
            self._titles[key] = str(found) if found not in (None, "") else f"#{rid}"
        return self._titles[key]


__all__ = ["Formatter", "Sight", "base_fields", "mask", "reader_sight", "shown_fields",
           "step_sight"]
