"""The document part of a pack upgrade: what the new version adds, changes and drops, merged
with the tenant's own changes (see merge.py). Returns the conflicts the tenant kept, so the
installed layer remembers them as customizations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..core.errors import Conflict as ConflictError
from ..security.principal import Principal
from .documents import comparable, role_order, with_rules
from .loader import Pack
from .merge import MISSING, Conflict, merge_document, merge_object
from .state import InstalledPack

if TYPE_CHECKING:
    from .apply import Installer, Plan

Kept = list[tuple[str, str, Any]]


def upgrade_documents(inst: Installer, conn: sa.Connection, cur: InstalledPack, pack: Pack,
                      plan: Plan, choose: str) -> Kept:
    old = cur.shipped.get("documents", {})
    layer = cur.installed
    kept: Kept = []
    _objects(inst, conn, old, layer, pack, plan, choose, kept)
    _roles(inst, conn, old, layer, pack, plan, choose, kept)
    _layouts(inst, conn, old, layer, pack, plan, choose, kept)
    _named(inst, old, layer, pack, plan, choose, kept, "dashboards", "dashboard",
           inst.designer.set_dashboard, inst.designer.delete_dashboard)
    _named(inst, old, layer, pack, plan, choose, kept, "apps", "app",
           inst.designer.set_app, inst.designer.delete_app)
    _versioned(inst, "processes", "process", "approval process", inst.processes, old, layer,
               pack, plan, choose, kept)
    _versioned(inst, "automations", "automation", "automation rule", inst.automations, old,
               layer, pack, plan, choose, kept)
    return kept


def _settle(conflicts: list[Conflict], plan: Plan, choose: str, kept: Kept) -> None:
    for c in conflicts:
        if choose == "report":
            plan.conflicts.append(c.to_json())
        elif choose == "tenant":
            kept.append((c.document, c.path, None if c.pack is MISSING else c.pack))
            plan.steps.append(f"keep the tenant's {c.document} {c.path}")
        else:
            plan.steps.append(f"take the pack's {c.document} {c.path}")


def _patch(merged: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """A merge-patch turning ``ours`` into ``merged`` (dropped keys become None)."""
    return {**merged, **{k: None for k in ours if k not in merged}}


def _objects(inst: Installer, conn: sa.Connection, old: Mapping[str, Any],
             layer: Mapping[str, Any], pack: Pack, plan: Plan, choose: str, kept: Kept) -> None:
    before = with_rules(old.get("objects", {}), old.get("rules", {}))
    after = with_rules(pack.docs("objects"), pack.docs("rules"))
    snap = inst.designer.snapshot()
    added = {n: d for n, d in after.items() if n not in before}
    taken = [n for n in added if snap.object(n) is not None]
    if taken:
        raise ConflictError(f"the tenant already has {', '.join(taken)}", {"names": taken})
    inst.create_objects(added, pack, plan)
    for name in [n for n in before if n in after]:
        if snap.object(name) is None:
            if before[name] != after[name]:
                _settle([Conflict(f"object {name}", "", after[name], MISSING)], plan, choose, kept)
            continue
        ours = comparable(inst.designer.object_doc(snap, name))
        merged = merge_object(name, before[name], after[name], ours,
                              layer.get("objects", {}).get(name, ours), choose)
        _settle(merged.conflicts, plan, choose, kept)
        if merged.changed:
            inst.designer.update_object(inst.principal, name, _patch(merged.doc, ours))
            plan.steps.append(f"change object {name}")
    dropped = []
    for name in [n for n in before if n not in after and snap.object(n) is not None]:
        ours = comparable(inst.designer.object_doc(snap, name))
        if ours != layer.get("objects", {}).get(name, ours):
            _settle([Conflict(f"object {name}", "", MISSING, "changed")], plan, choose, kept)
            if choose != "pack":
                continue
        dropped.append(name)
    if dropped:
        inst.designer.remove_objects(inst.principal, dropped)
        plan.steps.append(f"move objects {', '.join(dropped)} with their records to the "
                          "recycle bin")


def _roles(inst: Installer, conn: sa.Connection, old: Mapping[str, Any],
           layer: Mapping[str, Any], pack: Pack, plan: Plan, choose: str, kept: Kept) -> None:
    before, after = old.get("roles", {}), pack.docs("roles")
    snap = inst.designer.snapshot()
    present = {r["name"]: r for r in snap.data.get("roles", [])}
    for name in role_order(after):
        if name not in before:
            if name in present:
                raise ConflictError(f"the tenant already has a role '{name}'")
            inst.designer.create_role(inst.principal, {**after[name], "pack": pack.name})
            plan.steps.append(f"create role {name}")
        elif name in present:
            ours = comparable(present[name])
            merged = merge_document("role", name, before[name], after[name], ours,
                                    layer.get("roles", {}).get(name, ours), choose)
            _settle(merged.conflicts, plan, choose, kept)
            if merged.changed:
                inst.designer.update_role(inst.principal, name, _patch(merged.doc, ours))
                plan.steps.append(f"change role {name}")
    for name in reversed(role_order(before)):
        if name not in after and name in present:
            inst.designer.delete_role(inst.principal, name)
            plan.steps.append(f"delete role {name}")


def _layouts(inst: Installer, conn: sa.Connection, old: Mapping[str, Any],
             layer: Mapping[str, Any], pack: Pack, plan: Plan, choose: str, kept: Kept) -> None:
    before, after = old.get("layouts", {}), pack.docs("layouts")
    snap = inst.designer.snapshot()
    for name, doc in after.items():
        if snap.object(name) is None:
            continue
        theirs = {k: v for k, v in doc.items() if k != "object"}
        if name not in before:
            inst.designer.set_layout(inst.principal, name, theirs)
            plan.steps.append(f"set layout of {name}")
            continue
        base = {k: v for k, v in before[name].items() if k != "object"}
        ours = comparable(inst.designer.layout(snap, name))
        merged = merge_document("layout", name, base, theirs, ours,
                                layer.get("layouts", {}).get(name, ours), choose)
        _settle(merged.conflicts, plan, choose, kept)
        if merged.changed:
            doc_out = {k: v for k, v in merged.doc.items() if k not in ("object", "generated")}
            inst.designer.set_layout(inst.principal, name, doc_out)
            plan.steps.append(f"change layout of {name}")


def _named(inst: Installer, old: Mapping[str, Any], layer: Mapping[str, Any], pack: Pack,
           plan: Plan, choose: str, kept: Kept, folder: str, kind: str,
           put: Callable[[Principal, dict[str, Any]], Any],
           drop: Callable[[Principal, str], Any]) -> None:
    """Documents kept by name (dashboards, apps): a new one is added, a changed one merged
    key by key with the tenant's own changes (a list such as an app's objects is one
    value), a dropped one deleted."""
    before, after = old.get(folder, {}), pack.docs(folder)
    snap = inst.designer.snapshot()
    present = {d["name"]: d for d in snap.data.get(folder, [])}
    for name, doc in after.items():
        if name not in before or name not in present:
            put(inst.principal, {**doc, "pack": pack.name})
            plan.steps.append(f"set {kind} {name}")
            continue
        ours = comparable(present[name])
        merged = merge_document(kind, name, before[name], doc, ours,
                                layer.get(folder, {}).get(name, ours), choose)
        _settle(merged.conflicts, plan, choose, kept)
        if merged.changed:
            put(inst.principal, merged.doc)
            plan.steps.append(f"change {kind} {name}")
    for name in before:
        if name not in after and name in present:
            drop(inst.principal, name)
            plan.steps.append(f"delete {kind} {name}")


def _versioned(inst: Installer, kind: str, doc_kind: str, what: str, service: Any,
               old: Mapping[str, Any],
               layer: Mapping[str, Any], pack: Pack, plan: Plan, choose: str,
               kept: Kept) -> None:
    """Processes and automation rules (``kind``, called ``what`` in the plan) merge like
    other documents through their own service; a changed one gets a new version, and what
    already runs (an approval) finishes on the version it started with."""
    before, after = old.get(kind, {}), pack.docs(kind)
    snap = inst.designer.snapshot()
    present = {p["name"]: p for p in snap.data.get(kind, [])}
    for name, doc in after.items():
        if name not in present:
            service.create(inst.principal, {**doc, "pack": pack.name})
            plan.steps.append(f"create {what} {name}")
            continue
        if name not in before:
            raise ConflictError(f"the tenant already has the {what} '{name}'")
        ours = comparable(present[name])
        merged = merge_document(doc_kind, name, before[name], doc, ours,
                                layer.get(kind, {}).get(name, ours), choose)
        _settle(merged.conflicts, plan, choose, kept)
        if merged.changed:
            service.update(inst.principal, name, _patch(merged.doc, ours))
            plan.steps.append(f"change {what} {name}")
    for name in before:
        if name not in after and name in present:
            service.delete(inst.principal, name)
            plan.steps.append(f"delete {what} {name}")
