"""The permission engine: the one place that decides who may do what (DESIGN §5).

``engine.access(principal, snapshot)`` gives an ``Access``: the principal's compiled plan
against one metadata version. The record service, the designer, exports, history and the
OpenAPI generator all ask it; nothing else decides. Row visibility is compiled into a SQL
predicate (subqueries against the department closure, user-role and share tables, never a
list of ids that grows with the data), so reads filter in the database.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import Forbidden
from ..metadata.model import ObjectDef, Snapshot
from .branches import BranchCache
from .policy import ObjectGrant, Plan, plan_for
from .principal import Principal
from .tables import department_closure, shares, temporary_access, user_roles

WRITE_OPERATIONS = frozenset({"update", "delete", "transfer", "share", "submit"})

#: The time temporary access is measured against, taken when a statement runs: a kept
#: predicate (below) holds this parameter, never the time it was built at.
_NOW = sa.bindparam("visibility_now", type_=sa.DateTime(),
                    callable_=lambda: clock.now().replace(tzinfo=None))


class _Shape:
    """The visibility of one principal for one table and direction: the share and
    temporary branches, the one statement probing both, and the predicate for each answer
    of that probe (filled as answers are met)."""

    def __init__(self, branches: dict[str, sa.Select[Any]]) -> None:
        self.branches = branches
        self.probe = sa.select(*(sa.exists(q).label(k) for k, q in branches.items()))
        self.predicates: dict[frozenset[str], Any] = {}


class _Shapes:
    """Visibility shapes kept per snapshot and per principal, table and direction.

    Building the predicate costs a list request more than its SQL does on SQLite; it
    depends only on the snapshot (the plan), the principal's id, department and roles, and
    which share and temporary branches can match (probed per request, a key within the
    shape). Per snapshot object, like compiled tables: a rolled-back publish lends nothing.
    Each snapshot keeps at most ``LIMIT`` shapes, a fresh dict replacing a full one (never
    mutated under a reader)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._by_snapshot: weakref.WeakKeyDictionary[Snapshot, dict[Any, _Shape]] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, snapshot: Snapshot, key: Any) -> _Shape | None:
        kept = self._by_snapshot.get(snapshot)
        return None if kept is None else kept.get(key)

    def put(self, snapshot: Snapshot, key: Any, shape: _Shape) -> None:
        with self._lock:
            kept = self._by_snapshot.get(snapshot)
            if kept is None or len(kept) >= self.LIMIT:
                kept = {}
            self._by_snapshot[snapshot] = {**kept, key: shape}


_shapes = _Shapes()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    level: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "level": self.level, "reason": self.reason}


class Access:
    """What one principal may do under one metadata snapshot."""

    def __init__(self, principal: Principal, snapshot: Snapshot, plan: Plan | None,
                 conn: sa.Connection | None = None, probe_branches: bool = True,
                 branches: BranchCache | None = None) -> None:
        self.principal = principal
        self.snapshot = snapshot
        self.plan = plan
        # With a connection, share and temporary-access branches are left out of the
        # predicate when the principal has none for the object (one indexed probe each):
        # an OR over subqueries that can match nothing still costs the planner its indexes.
        # Without ``probe_branches`` (a database whose planner pays nothing for branches
        # that match nothing: ``Dialect.probes_visibility``) the connection still lets a
        # predicate be kept, with every branch in it.
        # With ``branches`` (the tenant's kept answers, security/branches.py) the answer
        # of a probe is kept across requests under the sharing version, and then probing
        # pays on every database: it is asked once, not per request.
        self._conn = conn
        self._probe_branches = probe_branches
        self._branches = branches
        self._probes: dict[tuple[str, bool, tuple[str, ...]], frozenset[str]] = {}
        self._readable: dict[str, frozenset[str]] = {}  # per object, asked several times
        self._writable: dict[str, frozenset[str]] = {}
        #: What other layers work out from this access and keep for its lifetime (the
        #: writer's plan of fields per object), keyed by who works it out.
        self.derived: dict[Any, Any] = {}

    def _have(self, obj: ObjectDef, write: bool, shape: _Shape) -> frozenset[str]:
        """Which branches of ``shape`` (share, temporary) can match anything for the
        principal: one statement for all of them, asked once per object and direction,
        and kept across requests under the sharing version when the tenant keeps them."""
        if self._conn is None or not shape.branches:
            return frozenset(shape.branches)
        key = (obj.id, write, tuple(shape.branches))
        found = self._probes.get(key)
        if found is not None:
            return found
        cache = self._branches
        version = cache.version(self._conn) if cache is not None else None
        if version is None and not self._probe_branches:
            return frozenset(shape.branches)
        kept_key = (self.principal.user_id, self.principal.department_id, *key)
        if cache is not None and version is not None:
            found = cache.get(kept_key, version)
        if found is None:
            row = self._conn.execute(shape.probe).one()
            found = frozenset(k for k, hit in zip(shape.branches, row, strict=True) if hit)
            if cache is not None and version is not None:
                cache.put(kept_key, version, found)
        self._probes[key] = found
        return found

    @property
    def unrestricted(self) -> bool:
        return self.principal.is_admin or self.principal.is_system

    def grant(self, obj: ObjectDef) -> ObjectGrant | None:
        return None if self.plan is None else self.plan.grant(obj.name)

    # -- operation level (5) ----------------------------------------------------------------
    def allowed(self, obj: ObjectDef, operation: str) -> bool:
        if self.unrestricted:
            return True
        g = self.grant(obj)
        return g is not None and operation in g.operations

    def check(self, obj: ObjectDef, operation: str) -> None:
        if not self.allowed(obj, operation):
            raise Forbidden(f"you may not {operation} {obj.label()} records")

    # -- field level (6) --------------------------------------------------------------------
    def field_access(self, obj: ObjectDef, field: str) -> str:
        if self.unrestricted:
            return "edit"
        g = self.grant(obj)
        return "hidden" if g is None else g.fields.get(field, "hidden")

    def readable(self, obj: ObjectDef) -> frozenset[str]:
        found = self._readable.get(obj.id)
        if found is None:
            g = self.grant(obj)
            if self.unrestricted:
                found = frozenset(f.name for f in obj.fields)
            elif g is None:
                found = frozenset()
            else:  # field_access, inlined: asked for every field of every record read
                rules = g.fields
                found = frozenset(f.name for f in obj.fields
                                  if rules.get(f.name, "hidden") != "hidden")
            self._readable[obj.id] = found
        return found

    def writable(self, obj: ObjectDef) -> frozenset[str]:
        found = self._writable.get(obj.id)  # asked for every record written
        if found is None:
            if self.unrestricted:
                found = frozenset(f.name for f in obj.fields if f.kind.writable)
            else:
                found = frozenset(f.name for f in obj.fields if f.kind.writable
                                  and self.field_access(obj, f.name) == "edit")
            self._writable[obj.id] = found
        return found

    # -- row visibility (levels 2, 3, 4) ----------------------------------------------------
    def visibility(self, obj: ObjectDef, table: sa.Table, *, write: bool = False,
                   op: str | None = None, now: Any = None, probe: bool = True) -> Any:
        """The rows of ``table`` the principal may read (or, with ``write``, change; with
        ``op``, act on by that operation, such as transfer or share, whose scope is that of
        the roles granting it).

        ``now`` (default: the clock) ends temporary access; a bind parameter there makes
        the predicate the same for every request, so a statement built on it can be kept
        (``runtime.statements``). Without ``probe`` the share and temporary branches stay
        in even when the principal has none: what a statement kept across requests needs,
        and free for a lookup by id, where the planner starts from the primary key."""
        if self.unrestricted:
            return sa.true()
        p = self.principal
        g = self.grant(obj)
        write = write or op is not None
        scope_ops = (op,) if op is not None else ("update", "delete") if write else ("read",)
        scoped = g is not None and any(o in g.operations for o in scope_ops)
        if scoped and g is not None and g.scope_for(write=write, op=op) == "all":
            return sa.true()
        # Kept only for the tables of the compiled schema (one per snapshot and object):
        # aliases are made per statement, and a key holding one would never be met again.
        kept = now is None and probe and self._conn is not None and type(table) is sa.Table
        key = (p.user_id, p.department_id, p.roles, table, write, op)
        shape = _shapes.get(self.snapshot, key) if kept else None
        if shape is None:
            branches: dict[str, sa.Select[Any]] = {}
            if scoped:
                branches["share"] = self._shared(obj, write)
            if not write:
                at = now if now is not None else _NOW if kept else \
                    clock.now().replace(tzinfo=None)
                branches["temporary"] = sa.select(temporary_access.c.record_id).where(
                    temporary_access.c.object_id == obj.id,
                    temporary_access.c.user_id == p.user_id,
                    sa.or_(temporary_access.c.expires_at.is_(None),
                           temporary_access.c.expires_at > at))
            shape = _Shape(branches)
            if kept:
                _shapes.put(self.snapshot, key, shape)
        have = self._have(obj, write, shape) if probe else frozenset(shape.branches)
        predicate = shape.predicates.get(have)
        if predicate is None:
            parts: list[Any] = []
            if scoped and g is not None:
                parts.extend(self.scope_parts(g.scope_for(write=write, op=op), table))
                hierarchy = self.hierarchy_part(g, table, write=write, op=op)
                if hierarchy is not None:
                    parts.append(hierarchy)
            parts.extend(table.c.id.in_(q) for k, q in shape.branches.items() if k in have)
            predicate = sa.or_(*parts) if parts else sa.false()
            if kept:  # a fresh dict: readers of the old one see it unchanged
                shape.predicates = {**shape.predicates, have: predicate}
        return predicate

    def scope_parts(self, scope: str, table: sa.Table) -> list[Any]:
        p = self.principal
        if scope == "none":
            return []
        parts = [table.c.owner_id == p.user_id]
        if p.department_id is not None and scope == "department":
            parts.append(table.c.department_id == p.department_id)
        elif p.department_id is not None and scope == "department_tree":
            parts.append(table.c.department_id.in_(
                sa.select(department_closure.c.descendant_id).where(
                    department_closure.c.ancestor_id == p.department_id)))
        return parts

    def hierarchy_part(self, g: ObjectGrant, table: sa.Table, *, write: bool,
                       op: str | None = None) -> Any | None:
        """Records owned by holders of roles below the principal's, within the principal's
        department tree (None when the hierarchy reaches nothing here).

        Bounded by the department tree because an administrator who sets a scope expects it
        to bound what the role sees: an office manager does not see another office's
        clients because its reps hold the same role (decision 0013). Without a department
        the principal has no tree, so the hierarchy reaches nothing. Scopes
        ``department_tree`` and ``all`` already reach the whole tree: the predicate is left
        out, so it costs the planner nothing."""
        below = g.below_for(write=write, op=op)
        if not below or self.principal.department_id is None \
                or g.scope_for(write=write, op=op) in ("department_tree", "all"):
            return None
        return sa.and_(
            table.c.owner_id.in_(sa.select(user_roles.c.user_id).where(
                user_roles.c.role.in_(sorted(below)))),
            table.c.department_id.in_(sa.select(department_closure.c.descendant_id).where(
                department_closure.c.ancestor_id == self.principal.department_id)))

    def _shared(self, obj: ObjectDef, write: bool) -> sa.Select[Any]:
        p = self.principal
        to_me = [shares.c.user_id == p.user_id]
        if p.department_id is not None:
            # A share to a department reaches its sub-departments too.
            to_me.append(shares.c.department_id.in_(
                sa.select(department_closure.c.ancestor_id).where(
                    department_closure.c.descendant_id == p.department_id)))
        q = sa.select(shares.c.record_id).where(shares.c.object_id == obj.id, sa.or_(*to_me))
        if write:
            q = q.where(shares.c.access == "edit")
        return q

    # -- status level (7) -------------------------------------------------------------------
    def status_denial(self, obj: ObjectDef, row: Mapping[str, Any], operation: str,
                      changed: Iterable[str], lock: Mapping[str, Any] | None) -> str | None:
        """Why the record's status or lock forbids ``operation`` (None when it allows it).

        Applies to administrators too: an approved order is not edited by anybody.
        """
        changed = set(changed)
        if lock is not None:
            editable = set(json.loads(lock["editable_fields"]))
            if operation == "delete" or (operation == "update" and not changed <= editable):
                extra = sorted(changed - editable)
                return (f"the record is locked ({lock['reason']})" +
                        (f"; only {', '.join(sorted(editable))} may change" if editable else "")
                        + (f", not {', '.join(extra)}" if extra and operation == "update" else ""))
        rules = obj.options.get("status_rules")
        if not rules:
            return None
        state = row.get(rules["field"])
        rule = rules["states"].get(state) if state is not None else None
        if rule is None:
            return None
        ops = set(rule.get("operations", []))
        editable = set(rule.get("editable_fields", []))
        if operation == "update":
            if "update" in ops and not editable:
                return None
            if changed and changed <= editable:
                return None
            return (f"a record in status '{state}' cannot be changed" +
                    (f" except {', '.join(sorted(editable))}" if editable else ""))
        if operation in ("read",) or operation in ops:
            return None
        return f"a record in status '{state}' does not allow {operation}"


class PermissionEngine:
    def access(self, principal: Principal, snapshot: Snapshot,
               conn: sa.Connection | None = None, *, probe: bool = True,
               branches: BranchCache | None = None) -> Access:
        """``conn``: the operation's connection, for cheap probes that simplify predicates
        (``probe``: whether they pay on its database per request,
        ``Dialect.probes_visibility``; ``branches``: the tenant's kept answers, with which
        they pay everywhere)."""
        if principal.is_admin or principal.is_system:
            return Access(principal, snapshot, None)
        return Access(principal, snapshot, plan_for(snapshot, principal.roles), conn, probe,
                      branches)

    def can_manage_metadata(self, principal: Principal) -> bool:
        return principal.is_admin or principal.is_system

    def check_admin(self, principal: Principal) -> None:
        if not self.can_manage_metadata(principal):
            raise Forbidden("only administrators may do this")


engine = PermissionEngine()
