"""Metadata documents other than objects: roles (permission matrices), layouts and
dashboards. Each change goes through ``Designer.change`` like an object's, so it is
validated against the whole snapshot and published as a new version."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from ..metadata.layouts import prepare_layout, public_layout
from ..metadata.model import Snapshot
from ..metadata.packs import prepare_dashboard
from ..metadata.roles import prepare_role
from ..security.principal import Principal
from ..security.tables import user_roles

if TYPE_CHECKING:
    from .instance import Tenant

Data = dict[str, Any]


def _entry(data: Data, name: str) -> Data:
    for e in data["objects"]:
        if e["doc"]["name"] == name:
            return e  # type: ignore[no-any-return]
    raise NotFound(f"no object named '{name}'")


def _name(doc: Any) -> str:
    return str(doc.get("name"))[:40] if isinstance(doc, dict) else "?"


def named_index(items: list[Data], name: str, kind: str) -> int:
    """Where the document called ``name`` is in a list of documents, or 404."""
    for i, item in enumerate(items):
        if item["name"] == name:
            return i
    raise NotFound(f"no {kind} named '{name[:40]}'")


#: The English message of a stale role version (the pages show it translated).
STALE_ROLE = ("the role '%(name)s' was changed by someone else since you opened it; "
              "reload it and make your change again")


class StaleRole(Conflict):
    """A role saved over a version the editor did not open (409): the pages show their own
    message in the page's language, the API the English one."""


def role_version(doc: Mapping[str, Any]) -> str:
    """A short digest of a role document: what an editor opened. Roles share the metadata
    version with every other document, so a digest of the role itself lets two
    administrators edit different roles (or anything else) without conflicting, while a
    save over someone else's newer change of the same role is refused (decision 0040)."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def merge_patch(doc: Data, patch: Any, keep: frozenset[str] = frozenset()) -> Data:
    """A copy of ``doc`` with ``patch``'s top-level keys replacing its own (None removes
    one); keys in ``keep`` are not the caller's to change."""
    out = copy.deepcopy(doc)
    for key, value in patch.items():
        if key in keep:
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


class DocumentChanges:
    """Role, layout and dashboard operations of the Designer."""

    tenant: Tenant

    if TYPE_CHECKING:
        def change(self, principal: Principal, summary: str,
                    edit: Callable[[Data, Snapshot], None], *,
                    dry_run: bool = False) -> Snapshot: ...

        def snapshot(self) -> Snapshot: ...

    # -- roles (permission matrices are metadata) -------------------------------------------
    def roles(self, snap: Snapshot | None = None) -> list[Data]:
        snap = snap or self.snapshot()
        return [copy.deepcopy(dict(r)) for r in snap.data.get("roles", [])]

    def role(self, name: str) -> Data:
        for r in self.roles():
            if r["name"] == name:
                return r
        raise NotFound(f"no role named '{name[:40]}'")

    def create_role(self, principal: Principal, doc: Any) -> Data:
        def edit(data: Data, base: Snapshot) -> None:
            data.setdefault("roles", []).append(prepare_role(doc, base))

        self.change(principal, f"create role {_name(doc)}", edit)
        return self.role(str(doc["name"]))

    def update_role(self, principal: Principal, name: str, patch: Any,
                    version: str | None = None) -> Data:
        """Replace the top-level keys ``patch`` names. ``version`` is the ``role_version``
        the client read (the API's ``If-Match``); a different stored one is a 409, so a
        client never overwrites a change it has not seen. Without it, the last write wins."""
        if not isinstance(patch, dict):
            raise BadRequest("a change must be a JSON object")

        def edit(data: Data, base: Snapshot) -> None:
            roles = data.setdefault("roles", [])
            i = named_index(roles, name, "role")
            if version is not None and version != role_version(roles[i]):
                raise StaleRole(STALE_ROLE % {"name": name[:40]})
            doc = merge_patch(roles[i], patch)
            roles[i] = prepare_role(doc, base, existing=name)

        self.change(principal, f"change role {name}", edit)
        return self.role(name)

    def set_role_grants(self, principal: Principal, name: str,
                        grants: Mapping[str, Mapping[str, Any] | None],
                        version: str | None, patch: Mapping[str, Any] | None = None) -> Data:
        """Replace the grants of the named objects only (None or an empty grant removes
        one): the role's other objects, labels and settings stay as stored. ``version`` is
        the ``role_version`` the editor opened; a different stored one is a 409, so a save
        of one object's panel never overwrites a concurrent change of the same role. ``patch``
        replaces top-level keys (labels, ``reports_to``) as ``update_role`` does."""
        if not isinstance(grants, Mapping):
            raise BadRequest("grants must be a JSON object")

        def edit(data: Data, base: Snapshot) -> None:
            roles = data.setdefault("roles", [])
            i = named_index(roles, name, "role")
            if version is not None and version != role_version(roles[i]):
                raise StaleRole(STALE_ROLE % {"name": name[:40]})
            doc = merge_patch(roles[i], patch or {}, keep=frozenset({"name", "permissions"}))
            permissions = dict(doc.get("permissions") or {})
            for obj, grant in grants.items():
                if grant:
                    permissions[obj] = copy.deepcopy(dict(grant))
                else:
                    permissions.pop(obj, None)
            if permissions:
                doc["permissions"] = permissions
            else:
                doc.pop("permissions", None)
            roles[i] = prepare_role(doc, base, existing=name)

        self.change(principal, f"change role {name}: {', '.join(sorted(grants))[:200]}", edit)
        return self.role(name)

    def copy_role(self, principal: Principal, source: str, doc: Any) -> Data:
        """A new role ``{"name", "label"}`` granting exactly what ``source`` grants (same
        permissions, manager role, sign-in hours and addresses); it is not part of the
        source's pack, so a pack upgrade leaves it alone. Validated like a created role."""
        if not isinstance(doc, Mapping):
            raise BadRequest('send {"name", "label"}')

        def edit(data: Data, base: Snapshot) -> None:
            roles = data.setdefault("roles", [])
            new = copy.deepcopy(roles[named_index(roles, source, "role")])
            new.pop("pack", None)
            new.pop("label", None)
            new["name"] = doc.get("name")
            if doc.get("label") is not None:
                new["label"] = doc["label"]
            roles.append(prepare_role(new, base))

        self.change(principal, f"copy role {source[:40]} to {_name(doc)}", edit)
        return self.role(str(doc["name"]))

    def delete_role(self, principal: Principal, name: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            roles = data.setdefault("roles", [])
            if not any(r["name"] == name for r in roles):
                raise NotFound(f"no role named '{name[:40]}'")
            below = [r["name"] for r in roles if r.get("reports_to") == name]
            if below:
                raise Conflict(f"roles report to '{name}': {', '.join(below)}")
            with self.tenant.engine.connect() as conn:
                held = conn.execute(sa.select(user_roles.c.user_id).where(
                    user_roles.c.role == name).limit(1)).first()
            if held is not None:
                raise Conflict(f"users hold the role '{name}'; take it from them first")
            data["roles"] = [r for r in roles if r["name"] != name]

        self.change(principal, f"delete role {name}", edit)

    # -- layouts (how forms and lists are arranged) ----------------------------------------
    def layout(self, snap: Snapshot, object_name: str) -> Data:
        obj = snap.object(object_name)
        if obj is None:
            raise NotFound(f"no object named '{object_name[:40]}'")
        return {**public_layout(snap, obj), "version": snap.version}

    def set_layout(self, principal: Principal, object_name: str, doc: Any) -> Data:
        """Replace an object's layout; a part left out (form or list) is generated."""
        def edit(data: Data, base: Snapshot) -> None:
            obj = base.object(object_name)
            if obj is None:
                raise NotFound(f"no object named '{object_name[:40]}'")
            roles = [r["name"] for r in data.get("roles", [])]
            _entry(data, object_name)["layout"] = prepare_layout(doc, obj, roles)

        return self.layout(self.change(principal, f"change layout {object_name}", edit),
                           object_name)

    def set_layouts(self, principal: Principal, docs: Mapping[str, Any]) -> None:
        """Replace several objects' layouts in one change (a pack's). A refused layout's
        error carries ``details={"object": name}``."""
        def edit(data: Data, base: Snapshot) -> None:
            roles = [r["name"] for r in data.get("roles", [])]
            for object_name, doc in docs.items():
                obj = base.object(object_name)
                if obj is None:
                    raise NotFound(f"no object named '{object_name[:40]}'",
                                   details={"object": object_name})
                try:
                    prepared = prepare_layout(doc, obj, roles)
                except ValidationFailed as exc:
                    raise ValidationFailed(exc.message, exc.fields,
                                           details={"object": object_name}) from None
                _entry(data, object_name)["layout"] = prepared

        self.change(principal, f"change layouts {', '.join(docs)}"[:200], edit)

    # -- dashboards -------------------------------------------------------------------------
    def dashboards(self, snap: Snapshot | None = None) -> list[Data]:
        snap = snap or self.snapshot()
        return [copy.deepcopy(dict(d)) for d in snap.data.get("dashboards", [])]

    def set_dashboard(self, principal: Principal, doc: Any) -> Data:
        """Create or replace a dashboard (charts over objects' fields)."""
        def edit(data: Data, base: Snapshot) -> None:
            prepared = prepare_dashboard(doc, base)
            boards = [d for d in data.setdefault("dashboards", [])
                      if d["name"] != prepared["name"]]
            data["dashboards"] = [*boards, prepared]

        snap = self.change(principal, f"change dashboard {_name(doc)}", edit)
        return next(d for d in self.dashboards(snap) if d["name"] == doc["name"])

    def delete_dashboard(self, principal: Principal, name: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            boards = data.setdefault("dashboards", [])
            if not any(d["name"] == name for d in boards):
                raise NotFound(f"no dashboard named '{name[:40]}'")
            data["dashboards"] = [d for d in boards if d["name"] != name]

        self.change(principal, f"delete dashboard {name}", edit)
