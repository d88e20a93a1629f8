"""Permission plans: a user's roles compiled against one metadata snapshot.

A plan is what the roles add up to (DESIGN §5, level 2: grants add up): per object, the
union of operations, the widest data scope and, per field, the most permissive access.
A role's scope only reaches as far as its own operations: a create-only role with
department scope does not widen what its holder may read. The role hierarchy follows the
same rule, per object and only where the grant allows it (``hierarchy``, decision 0013).
Plans are immutable and cached per (snapshot, roles); a new metadata version builds new
ones.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..metadata.model import ObjectDef, Snapshot
from ..metadata.roles import FIELD_ACCESS, HIERARCHY_DEFAULT, SCOPES, role_docs
from .derived import Path, graph_for


@dataclass(frozen=True)
class ObjectGrant:
    operations: frozenset[str]
    #: The widest scope of the roles that grant ``read``.
    scope: str
    fields: Mapping[str, str]
    #: Which role granted what, for explanations.
    sources: Mapping[str, tuple[str, ...]]
    #: The widest scope of the roles that grant ``update`` or ``delete``.
    write_scope: str = "none"
    #: Per operation, the widest scope of the roles that grant it (transfer, share...).
    scopes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Computed fields hidden because they derive from a hidden field: field -> the
    #: hidden source as "object.field" (``fields`` already says "hidden" for them).
    derived: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Per operation, per held role granting it with ``hierarchy`` on and a scope other than
    #: ``none``: the roles below that role (roles the user holds are peers, left out). Their
    #: holders' records are reachable within the user's department tree (decision 0013).
    hierarchy: Mapping[str, Mapping[str, frozenset[str]]] = field(
        default_factory=lambda: MappingProxyType({}))

    def scope_for(self, *, write: bool, op: str | None = None) -> str:
        if op is not None:
            return self.scopes.get(op, "none")
        return self.write_scope if write else self.scope

    def superiors_for(self, *, write: bool, op: str | None = None) -> dict[str, frozenset[str]]:
        """Held role -> roles below it, for the operations ``scope_for`` answers for.

        The same operations as the scope: the hierarchy reaches only as far as the roles
        granting the operation asked for (read; update or delete; or ``op`` itself)."""
        ops = (op,) if op is not None else ("update", "delete") if write else ("read",)
        out: dict[str, frozenset[str]] = {}
        for o in ops:
            for role, below in self.hierarchy.get(o, {}).items():
                out[role] = out.get(role, frozenset()) | below
        return out

    def below_for(self, *, write: bool, op: str | None = None) -> frozenset[str]:
        """The roles whose holders' records the hierarchy may reach for these operations."""
        return frozenset().union(*self.superiors_for(write=write, op=op).values())


NO_GRANT = ObjectGrant(frozenset(), "none", MappingProxyType({}), MappingProxyType({}))


@dataclass(frozen=True)
class Plan:
    roles: frozenset[str]
    subordinate_roles: frozenset[str]
    grants: Mapping[str, ObjectGrant]
    #: Per object, readable fields whose value is read through chains of related records
    #: the roles do not all see (masked on the rows where a chain reaches an invisible
    #: record): the longest chains only, since a chain checks every record along it.
    row_paths: Mapping[str, Mapping[str, tuple[Path, ...]]] = field(
        default_factory=lambda: MappingProxyType({}))

    def grant(self, object_name: str) -> ObjectGrant:
        return self.grants.get(object_name, NO_GRANT)


def _wider(a: str, b: str) -> str:
    return a if SCOPES.index(a) >= SCOPES.index(b) else b


def _looser(a: str, b: str) -> str:
    return a if FIELD_ACCESS.index(a) >= FIELD_ACCESS.index(b) else b


def subordinates(docs: Mapping[str, Mapping[str, Any]], roles: frozenset[str]) -> frozenset[str]:
    """Roles that report, directly or not, to any of ``roles`` (excluding ``roles``)."""
    children: dict[str, list[str]] = {}
    for name, doc in docs.items():
        parent = doc.get("reports_to")
        if parent:
            children.setdefault(parent, []).append(name)
    out: set[str] = set()
    stack = [c for r in roles for c in children.get(r, [])]
    while stack:
        r = stack.pop()
        if r not in out:
            out.add(r)
            stack.extend(children.get(r, []))
    return frozenset(out - roles)


def _object_grant(obj: ObjectDef, grants: list[tuple[str, Mapping[str, Any]]],
                  below: Mapping[str, frozenset[str]] | None = None) -> ObjectGrant:
    """What ``grants`` (role, grant) add up to on ``obj``; ``below``: per held role, the
    roles under it in the hierarchy."""
    ops: set[str] = set()
    scopes: dict[str, str] = {}
    fields: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    hierarchy: dict[str, dict[str, frozenset[str]]] = {}
    for role, g in grants:
        role_ops = set(g.get("operations", []))
        ops |= role_ops
        for op in role_ops:
            sources.setdefault(op, []).append(role)
        for op in role_ops:
            scopes[op] = _wider(scopes.get(op, "none"), g.get("scope", "none"))
        # Scope "none" reaches nobody's records, subordinates' included.
        reach = (below or {}).get(role)
        if reach and g.get("hierarchy", HIERARCHY_DEFAULT) and g.get("scope", "none") != "none":
            for op in role_ops:
                hierarchy.setdefault(op, {})[role] = reach
        if not {"read", "create", "update"} & role_ops:
            continue
        # "edit" means: writable wherever the role may write (create, or update).
        writes = bool({"create", "update"} & role_ops)
        named = g.get("fields", {})
        for f in obj.fields:
            access = named.get(f.name, "edit" if writes else "read")
            if access == "edit" and not writes:
                access = "read"
            fields[f.name] = _looser(fields.get(f.name, "hidden"), access)
    for f in obj.fields:
        fields.setdefault(f.name, "hidden")
    write_scope = _wider(scopes.get("update", "none"), scopes.get("delete", "none"))
    return ObjectGrant(frozenset(ops), scopes.get("read", "none"), MappingProxyType(fields),
                       MappingProxyType({k: tuple(v) for k, v in sources.items()}), write_scope,
                       MappingProxyType(scopes),
                       hierarchy=MappingProxyType({op: MappingProxyType(per)
                                                   for op, per in hierarchy.items()}))


def compile_plan(snapshot: Snapshot, roles: frozenset[str]) -> Plan:
    docs = role_docs(snapshot)
    held = [r for r in sorted(roles) if r in docs]
    # A role the user holds is their own level: its other holders are peers, not below them.
    below = {r: subordinates(docs, frozenset({r})) - frozenset(held) for r in held}
    grants = {}
    for name, obj in snapshot.objects.items():
        per_role = [(r, docs[r]["permissions"][name]) for r in held
                    if name in docs[r].get("permissions", {})]
        grants[name] = _object_grant(obj, per_role, below) if per_role else NO_GRANT
    effective = _hide_derived(snapshot, grants)
    return Plan(frozenset(held), subordinates(docs, frozenset(held)),
                MappingProxyType(effective), _row_paths(snapshot, effective))


def _sees_all(grant: ObjectGrant) -> bool:
    return "read" in grant.operations and grant.scope == "all"


def _row_paths(snapshot: Snapshot, grants: Mapping[str, ObjectGrant]
               ) -> Mapping[str, Mapping[str, tuple[Path, ...]]]:
    """Which readable derived fields must be checked row by row, and along which chains:
    those read through an object whose records the roles do not all see (shares and
    temporary access only ever widen a scope, so ``all`` needs no check)."""
    graph = graph_for(snapshot)
    out: dict[str, Mapping[str, tuple[Path, ...]]] = {}
    for name, obj in snapshot.objects.items():
        grant = grants[name]
        per_field: dict[str, tuple[Path, ...]] = {}
        for f in obj.fields:
            d = graph.derivation(name, f.name)
            if d is None or not d.paths or grant.fields.get(f.name, "hidden") == "hidden":
                continue
            longest = [p for p in d.paths
                       if not any(len(q) > len(p) and q[:len(p)] == p for q in d.paths)]
            checked = sorted((p for p in longest
                              if not all(_sees_all(grants.get(h.target, NO_GRANT)) for h in p)),
                             key=lambda p: [(h.obj, h.field) for h in p])
            if checked:
                per_field[f.name] = tuple(checked)
        if per_field:
            out[name] = MappingProxyType(per_field)
    return MappingProxyType(out)


def _hide_derived(snapshot: Snapshot, grants: dict[str, ObjectGrant]) -> dict[str, ObjectGrant]:
    """Hide every computed field derived from a field the role set may not read (a
    formula over a hidden cost, a roll-up of a hidden child field, a formula over a field
    of an object the roles do not grant), through any number of formulas and relations:
    the effective field access, computed once with the plan."""
    hidden = [(name, f.name) for name, obj in snapshot.objects.items() for f in obj.fields
              if grants[name].fields.get(f.name, "hidden") == "hidden"]
    why = graph_for(snapshot).hidden_closure(hidden)
    per_object: dict[str, dict[str, str]] = {}
    for (obj, name), src in why.items():
        if src != (obj, name):
            per_object.setdefault(obj, {})[name] = f"{src[0]}.{src[1]}"
    out = dict(grants)
    for name, derived in per_object.items():
        grant = grants[name]
        if grant is NO_GRANT:
            continue
        fields = dict(grant.fields)
        fields.update(dict.fromkeys(derived, "hidden"))
        out[name] = replace(grant, fields=MappingProxyType(fields),
                            derived=MappingProxyType(derived))
    return out


_plans: weakref.WeakKeyDictionary[Snapshot, dict[frozenset[str], Plan]] = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()


def plan_for(snapshot: Snapshot, roles: frozenset[str]) -> Plan:
    with _lock:
        per = _plans.setdefault(snapshot, {})
        hit = per.get(roles)
    if hit is not None:
        return hit
    plan = compile_plan(snapshot, roles)
    with _lock:
        per[roles] = plan
    return plan
