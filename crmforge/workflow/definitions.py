"""Approval processes as versioned metadata: create, change, remove, read.

Every change goes through ``Designer.change`` (one write transaction, a new metadata
version with author and diff). Each process document carries its own ``version``, raised
on every change; an instance stores the document and the compiled BPMN it started on, so a
change never alters a running approval (the version it runs is frozen in its row).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest, Conflict, NotFound
from ..metadata.model import ObjectDef, Snapshot
from ..metadata.processes import (
    ESCALATE_KEYWORDS,
    OWNER_UPDATE,
    RELATED,
    REPEATED_APPROVER,
    prepare_process,
    process_docs,
    related_update,
)
from ..metadata.validation import Problems
from ..rules import ExpressionContext, T, check_expression
from ..rules.types import field_type
from ..runtime import Designer
from ..runtime.designer_documents import merge_patch, named_index
from ..runtime.instance import Tenant
from ..security.principal import Principal
from ..security.tables import user_roles, users
from . import bpmn, engine
from .tables import ensure_tables, instances

Data = dict[str, Any]


def check_semantics(doc: Data, snapshot: Snapshot, conn: sa.Connection) -> None:
    """Expressions compile against the object's fields; named users exist."""
    obj = snapshot.object(doc["object"])
    assert obj is not None
    problems = Problems()
    if doc.get("repeated_approver", "never_skip") not in REPEATED_APPROVER:
        problems.add("$.repeated_approver", "never_skip, adjacent or first")
    record = ExpressionContext.for_object(obj, snapshot)
    steps = [s["name"] for s in doc["steps"]]
    flow = engine.workflow_context(obj, snapshot, steps)
    _expr(problems, "$.entry_criteria", doc.get("entry_criteria"), record, T.BOOLEAN)
    for i, step in enumerate(doc["steps"]):
        _expr(problems, f"$.steps[{i}].criteria", step.get("criteria"), flow, T.BOOLEAN)
        names = list(step["approvers"].get("users", []))
        escalate = step.get("timeout", {}).get("escalate_to")
        for j, name in enumerate(names):
            if not _user_exists(conn, name):
                problems.add(f"$.steps[{i}].approvers.users[{j}]", f"no user '{name[:40]}'")
        if escalate and escalate not in ESCALATE_KEYWORDS and not _user_exists(conn, escalate):
            problems.add(f"$.steps[{i}].timeout.escalate_to", f"no user '{escalate[:40]}'")
    for key in ("on_approve", "on_reject"):
        for field, source in doc.get(key, {}).items():
            target, name = obj, field
            if RELATED in field:  # checked by prepare_process; typed on the target here
                found = related_update(obj, field, snapshot)
                if isinstance(found, str):
                    continue
                _, target, name = found
            _update(problems, f"$.{key}.{field}", target, name, source, record)
    _cc(problems, "$.cc", doc.get("cc"), conn)
    for i, step in enumerate(doc["steps"]):
        _cc(problems, f"$.steps[{i}].cc", step.get("cc"), conn)
    for i, name in enumerate(doc.get("submitters", {}).get("users", [])):
        if not _user_exists(conn, name):
            problems.add(f"$.submitters.users[{i}]", f"no user '{name[:40]}'")
    problems.raise_if_any("the process")
    engine.parse(bpmn.compile_process(doc))  # the compiled document must parse


def _update(problems: Problems, path: str, obj: ObjectDef, field: str, source: Any,
            ctx: ExpressionContext) -> None:
    """A field update's expression must give the field's type (decision 0026): a number
    for integer, decimal, currency and percent fields (a whole number converts into an
    integer field; a fraction is refused when the approval ends, on the field); text for
    text and picklists; and so on. The owner takes a user id or a username."""
    if field == OWNER_UPDATE:
        found: list[str] = []
        for expected in (T.TEXT, T.NUMBER, T.REFERENCE):
            errors = check_expression(str(source), ctx, expected)
            if not errors:
                return
            found = found or [str(e) for e in errors]
        problems.add(path, "the new owner is a user id or a username: " + found[0])
        return
    f = obj.field(field)
    _expr(problems, path, source, ctx, field_type(f) if f is not None else None)


def _cc(problems: Problems, path: str, cc: Any, conn: sa.Connection) -> None:
    """Named users exist; a role copied on must have active members (a copy to nobody is
    refused when saved, not discovered when nobody reads it)."""
    if not isinstance(cc, Mapping):
        return
    for j, name in enumerate(cc.get("users", [])):
        if not _user_exists(conn, name):
            problems.add(f"{path}.users[{j}]", f"no user '{name[:40]}'")
    role = cc.get("role")
    if role and not conn.execute(sa.select(user_roles.c.user_id).join(
            users, users.c.id == user_roles.c.user_id).where(
            user_roles.c.role == role, users.c.active).limit(1)).first():
        problems.add(path + ".role", f"nobody holds the role '{role[:40]}': the copy would "
                                     "reach nobody")


def _expr(problems: Problems, path: str, source: Any, ctx: ExpressionContext,
          expected: T | None) -> None:
    if source is None or (isinstance(source, str) and not source.strip()):
        return
    for err in check_expression(str(source), ctx, expected):
        problems.add(path, str(err))


def _user_exists(conn: sa.Connection, name: str) -> bool:
    return conn.execute(sa.select(users.c.id).where(users.c.username == name,
                                                    users.c.active)).first() is not None


class ProcessService:
    """Process documents of one tenant."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.designer = Designer(tenant)
        ensure_tables(tenant)

    def list(self) -> list[Data]:
        snap = self.designer.snapshot()
        return [copy.deepcopy(dict(p)) for p in snap.data.get("processes", [])]

    def get(self, name: str, snap: Snapshot | None = None) -> Data:
        found = process_docs(snap or self.designer.snapshot()).get(name)
        if found is None:
            raise NotFound(f"no process named '{str(name)[:40]}'")
        return copy.deepcopy(dict(found))

    def _prepare(self, doc: Any, base: Snapshot, existing: str | None, version: int) -> Data:
        prepared = prepare_process(doc, base, existing=existing)
        with self.tenant.engine.connect() as conn:
            check_semantics(prepared, base, conn)
        prepared["version"] = version
        return prepared

    def create(self, principal: Principal, doc: Any) -> Data:
        def edit(data: Data, base: Snapshot) -> None:
            data.setdefault("processes", []).append(self._prepare(doc, base, None, 1))

        snap = self.designer.change(principal, f"create process {_name(doc)}", edit)
        return self.get(str(doc["name"]), snap)

    def update(self, principal: Principal, name: str, patch: Any) -> Data:
        """Merge-patch a process (top-level keys replace); its version goes up by one."""
        if not isinstance(patch, Mapping):
            raise BadRequest("a change must be a JSON object")

        def edit(data: Data, base: Snapshot) -> None:
            procs = data.setdefault("processes", [])
            i = named_index(procs, name, "process")
            doc = merge_patch(procs[i], patch, keep=frozenset({"version"}))
            procs[i] = self._prepare(doc, base, name, int(procs[i].get("version", 1)) + 1)

        snap = self.designer.change(principal, f"change process {name}", edit)
        return self.get(name, snap)

    def delete(self, principal: Principal, name: str) -> None:
        """Remove a process; refused while approvals of it are running."""
        def edit(data: Data, base: Snapshot) -> None:
            procs = data.setdefault("processes", [])
            if not any(p["name"] == name for p in procs):
                raise NotFound(f"no process named '{name[:40]}'")
            with self.tenant.engine.connect() as conn:
                running = conn.execute(sa.select(instances.c.id).where(
                    instances.c.process == name, instances.c.state == "running").limit(1)).first()
            if running is not None:
                raise Conflict(f"approvals of '{name}' are running; withdraw or finish them first")
            data["processes"] = [p for p in procs if p["name"] != name]

        self.designer.change(principal, f"delete process {name}", edit)

    def bpmn(self, name: str) -> bytes:
        """The process as BPMN 2.0 for people and other modelers (``drawn_process``): the
        approval steps a person drew, not the engine's own elements."""
        return bpmn.drawn_process(self.get(name))


def object_of(doc: Mapping[str, Any], snap: Snapshot) -> ObjectDef:
    obj = snap.object(str(doc["object"]))
    if obj is None:
        raise NotFound(f"the object '{doc['object']}' of process '{doc['name']}' is gone")
    return obj


def _name(doc: Any) -> str:
    return str(doc.get("name"))[:40] if isinstance(doc, dict) else "?"


__all__ = ["ProcessService", "check_semantics", "object_of"]
