"""Install, upgrade and uninstall packs: all or nothing, with a dry run that shows the plan.

Every step goes through the platform's own paths (the Designer for metadata, the record
service for sample records), joined into one write transaction of the tenant: a failure
anywhere rolls back metadata, DDL and records together. A dry run does all of it and rolls
back, so the plan it prints is exactly what the real run would do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..core.errors import Conflict, CRMError, NotFound, ValidationFailed
from ..metadata import store as meta_store
from ..metadata.packs import in_range, parse_version
from ..runtime.designer import Designer
from ..runtime.instance import Tenant
from ..runtime.records import RecordService
from ..security import audit
from ..security.principal import Principal
from ..workflow.automation import AutomationService
from ..workflow.definitions import ProcessService
from . import data as pack_data
from . import sample_org, state
from .documents import comparable, creation_order, first_pass, role_order, with_rules
from .loader import Pack
from .registry import find
from .upgrade import upgrade_documents

CHOICES = ("report", "pack", "tenant")


def platform_version() -> str:
    try:
        return dist_version("crmforge")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


@dataclass
class Plan:
    """What an operation does (or, in a dry run, would do)."""

    action: str
    pack: str
    version: str | None = None
    from_version: str | None = None
    steps: list[str] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False
    #: The sample organisation's users and their shared password (asked for only).
    sample_users: list[str] = field(default_factory=list)
    sample_password: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"action": self.action, "pack": self.pack, "version": self.version,
               "from_version": self.from_version, "applied": self.applied,
               "steps": self.steps, "metadata": self.metadata, "records": self.records,
               "conflicts": self.conflicts}
        if self.sample_users:  # shown once: the plan is the only place it is written
            out.update(sample_users=self.sample_users,
                       sample_password=self.sample_password if self.applied else None)
        return out


@contextmanager
def naming(file: str | None) -> Iterator[None]:
    """Errors of the platform's validators, prefixed with the pack file they came from."""
    try:
        yield
    except CRMError as exc:
        if not file:
            raise
        exc.message = f"{file}: {exc.message}"
        exc.fields = {f"{file}: {k}": v for k, v in exc.fields.items()}
        exc.args = (exc.message,)
        raise


class _RollBack(Exception):
    """Ends a dry run: the transaction rolls back, the plan survives."""


class Installer:
    """Pack operations on one tenant, acting as ``principal`` (an administrator)."""

    def __init__(self, tenant: Tenant, principal: Principal,
                 instance_dir: Path | None = None) -> None:
        self.tenant = tenant
        self.principal = principal
        self.instance_dir = instance_dir
        self.designer = Designer(tenant)
        self.records = RecordService(tenant)
        # Made here, outside any pack transaction: it creates the workflow tables once, and
        # a dry run's rollback must not take them away again.
        self.processes = ProcessService(tenant)
        self.automations = AutomationService(tenant)

    # -- reading ----------------------------------------------------------------------------
    def installed(self) -> list[dict[str, Any]]:
        state.ensure_table(self.tenant)
        with self.tenant.read() as conn:
            return [p.summary() for p in state.installed(conn).values()]

    def _pack(self, ref: str | Path | Pack) -> Pack:
        return ref if isinstance(ref, Pack) else find(ref, self.instance_dir)

    # -- operations -------------------------------------------------------------------------
    def install(self, ref: str | Path | Pack, *, dry_run: bool = False,
                sample_users: bool = False) -> Plan:
        """Install a pack; with ``sample_users`` also its sample organisation (departments,
        users in its roles owning the sample records; ``sample_org``), refused when the
        pack ships none."""
        pack = self._pack(ref)
        if sample_users and pack.sample is None:
            raise ValidationFailed(f"pack '{pack.name}' ships no sample users",
                                   {"sample_users": ["this pack has no sample organisation"]})
        plan = Plan("install", pack.name, pack.version)
        return self._run(plan, lambda conn: self._install(conn, pack, plan, sample_users),
                         dry_run)

    def upgrade(self, ref: str | Path | Pack, *, dry_run: bool = False,
                on_conflict: str = "report") -> Plan:
        if on_conflict not in CHOICES:
            raise ValidationFailed(f"on_conflict is one of {', '.join(CHOICES)}")
        pack = self._pack(ref)
        plan = Plan("upgrade", pack.name, pack.version)
        return self._run(plan, lambda conn: self._upgrade(conn, pack, plan, on_conflict, dry_run),
                         dry_run)

    def uninstall(self, name: str, *, dry_run: bool = False) -> Plan:
        plan = Plan("uninstall", name)
        return self._run(plan, lambda conn: self._uninstall(conn, name, plan), dry_run)

    def _run(self, plan: Plan, body: Callable[[sa.Connection], None], dry_run: bool) -> Plan:
        state.ensure_table(self.tenant)
        try:
            with self.tenant.write() as conn:
                start = meta_store.current_version(conn)
                body(conn)
                plan.metadata = _published_since(conn, start)
                if dry_run:
                    raise _RollBack
                audit.admin_action(conn, self.principal, f"{plan.action} pack",
                                   f"{plan.pack} {plan.version or ''}".strip(),
                                   {"from_version": plan.from_version, "steps": plan.steps})
        except _RollBack:
            pass
        plan.applied = not dry_run
        return plan

    # -- install ----------------------------------------------------------------------------
    def _install(self, conn: sa.Connection, pack: Pack, plan: Plan,
                 sample_users: bool = False) -> None:
        have = state.installed(conn)
        if pack.name in have:
            raise Conflict(f"pack '{pack.name}' {have[pack.name].version} is installed; "
                           "upgrade it instead")
        _check_requirements(pack, have)
        snap = self.tenant.snapshot(conn)
        objects = with_rules(pack.docs("objects"), pack.docs("rules"))
        taken = [n for n in objects if snap.object(n) is not None]
        taken += [f"role {n}" for n in pack.docs("roles") if any(
            r["name"] == n for r in snap.data.get("roles", []))]
        taken += [f"dashboard {n}" for n in pack.docs("dashboards") if any(
            d["name"] == n for d in snap.data.get("dashboards", []))]
        taken += [f"app {n}" for n in pack.docs("apps") if any(
            a["name"] == n for a in snap.data.get("apps", []))]
        taken += [f"process {n}" for n in pack.docs("processes") if any(
            p["name"] == n for p in snap.data.get("processes", []))]
        taken += [f"automation {n}" for n in pack.docs("automations") if any(
            a["name"] == n for a in snap.data.get("automations", []))]
        if taken:
            raise Conflict(f"the tenant already has {', '.join(taken)}", {"names": taken})
        # All of the pack's metadata is one new version; records follow once it exists.
        with self.designer.batch(self.principal, f"install pack {pack.name} {pack.version}"):
            self.create_objects(objects, pack, plan)
            self._apply_rest(pack, set(pack.docs("roles")), set(pack.docs("layouts")),
                             set(pack.docs("dashboards")), plan)
            for name, doc in pack.docs("processes").items():
                with naming(pack.files.get(("processes", name))):
                    self.processes.create(self.principal, {**doc, "pack": pack.name})
                plan.steps.append(f"create approval process {name}")
            for name, doc in pack.docs("automations").items():
                with naming(pack.files.get(("automations", name))):
                    self.automations.create(self.principal, {**doc, "pack": pack.name})
                plan.steps.append(f"create automation rule {name}")
            for name, doc in pack.docs("apps").items():
                with naming(pack.files.get(("apps", name))):
                    self.designer.set_app(self.principal, {**doc, "pack": pack.name})
                plan.steps.append(f"set app {name}")
        keys: pack_data.Keys = {}
        self._load_data(pack, keys, plan, have)
        if sample_users and pack.sample is not None:
            made = sample_org.make(conn, pack.sample, self.records, self.principal,
                                   self.tenant.snapshot(conn), keys)
            plan.sample_users, plan.sample_password = made.usernames, made.password
            plan.steps.append(f"add {len(pack.sample.departments)} sample departments and "
                              f"{len(made.usernames)} sample users owning sample records")
        self._save(conn, pack, keys)

    def create_objects(self, objects: dict[str, dict[str, Any]], pack: Pack,
                       plan: Plan) -> None:
        order = creation_order(objects)
        made: list[str] = []
        for name in order:
            doc = {**first_pass(objects[name], made), "pack": pack.name}
            with naming(pack.files.get(("objects", name))):
                self.designer.create_object(self.principal, doc)
            made.append(name)
            plan.steps.append(f"create object {name} ({len(objects[name].get('fields', []))} fields)")
        # Second pass: full documents. One may need another's (a roll-up sums a formula of
        # its child), so those that do not validate yet wait for the others; a round
        # without progress means a real error, reported for the first object left.
        pending = [n for n in order if objects[n] != first_pass(objects[n], order)]
        while pending:
            failed: list[tuple[str, ValidationFailed]] = []
            for name in pending:
                try:
                    self.designer.update_object(self.principal, name,
                                                {**objects[name], "pack": pack.name})
                except ValidationFailed as problem:
                    failed.append((name, problem))
            if len(failed) == len(pending):
                raise _stuck(pack, failed)
            pending = [name for name, _ in failed]

    def _apply_rest(self, pack: Pack, roles: set[str], layouts: set[str], dashboards: set[str],
                    plan: Plan) -> None:
        docs = pack.docs("roles")
        for name in role_order(docs):
            if name in roles:
                with naming(pack.files.get(("roles", name))):
                    self.designer.create_role(self.principal, {**docs[name], "pack": pack.name})
                plan.steps.append(f"create role {name}")
        chosen = {name: {k: v for k, v in pack.docs("layouts")[name].items() if k != "object"}
                  for name in sorted(layouts)}
        if chosen:
            try:
                self.designer.set_layouts(self.principal, chosen)
            except CRMError as exc:
                where = exc.details.get("object") if isinstance(exc.details, dict) else None
                with naming(pack.files.get(("layouts", str(where)))):
                    raise
            plan.steps.extend(f"set layout of {name}" for name in chosen)
        for name in dashboards:
            with naming(pack.files.get(("dashboards", name))):
                self.designer.set_dashboard(self.principal, {**pack.docs("dashboards")[name],
                                                             "pack": pack.name})
            plan.steps.append(f"set dashboard {name}")

    def _load_data(self, pack: Pack, keys: pack_data.Keys, plan: Plan,
                   have: dict[str, state.InstalledPack]) -> None:
        known: pack_data.Keys = {}
        for dep in pack.manifest.get("dependencies") or {}:
            if dep in have:
                known.update(have[dep].data_keys)
        snap = self.designer.snapshot()
        for name in creation_order(pack.docs("objects")):
            if name in pack.data:
                n = pack_data.load_rows(self.records, self.principal, snap, name,
                                        pack.data[name], keys, known)
                if n:
                    plan.records[name] = plan.records.get(name, 0) + n
                    plan.steps.append(f"add {n} {name} records")

    def _save(self, conn: sa.Connection, pack: Pack, keys: pack_data.Keys,
              kept: Sequence[tuple[str, str, Any]] = ()) -> None:
        snap = self.tenant.snapshot(conn)
        layer = current_layer(self.designer, snap, pack)
        for document, path, value in kept:  # the tenant's choice stays a customization
            _set_path(layer, document, path, value)
        state.save(conn, name=pack.name, version=pack.version,
                   label=dict(pack.manifest["label"]),
                   dependencies=dict(pack.manifest.get("dependencies") or {}),
                   shipped=pack.shipped(), installed=layer, data_keys=keys,
                   actor=self.principal.label)

    # -- upgrade ----------------------------------------------------------------------------
    def _upgrade(self, conn: sa.Connection, pack: Pack, plan: Plan, choose: str,
                 dry_run: bool) -> None:
        have = state.installed(conn)
        cur = have.get(pack.name)
        if cur is None:
            raise NotFound(f"pack '{pack.name}' is not installed; install it first")
        plan.from_version = cur.version
        old, new = parse_version(cur.version), parse_version(pack.version)
        if old is not None and new is not None and new < old:
            raise Conflict(f"pack '{pack.name}' {cur.version} is newer than {pack.version}; "
                           "a downgrade is an uninstall and an install")
        _check_requirements(pack, have)
        with self.designer.batch(self.principal, f"upgrade pack {pack.name} {cur.version} "
                                                 f"to {pack.version}"):
            kept = upgrade_documents(self, conn, cur, pack, plan, choose)
        if plan.conflicts and choose == "report" and not dry_run:
            raise Conflict(f"the upgrade of '{pack.name}' conflicts with the tenant's changes in "
                           f"{len(plan.conflicts)} places; choose with on_conflict=pack or "
                           "on_conflict=tenant", {"conflicts": [c["message"] for c in plan.conflicts]})
        keys = dict(cur.data_keys)
        self._load_data(pack, keys, plan, have)
        self._save(conn, pack, keys, kept)

    # -- uninstall --------------------------------------------------------------------------
    def _uninstall(self, conn: sa.Connection, name: str, plan: Plan) -> None:
        have = state.installed(conn)
        cur = have.get(name)
        if cur is None:
            raise NotFound(f"pack '{name[:40]}' is not installed")
        plan.version = cur.version
        needed_by = sorted(p.name for p in have.values() if name in p.dependencies)
        if needed_by:
            raise Conflict(f"pack '{name}' is needed by {', '.join(needed_by)}; uninstall "
                           "those first", {"dependents": needed_by})
        shipped = cur.shipped.get("documents", {})
        with self.designer.batch(self.principal, f"uninstall pack {name} {cur.version}"):
            self._remove_items(shipped, plan)
        state.forget(conn, name)

    def _remove_items(self, shipped: dict[str, Any], plan: Plan) -> None:
        snap = self.designer.snapshot()
        for auto in shipped.get("automations", {}):
            if any(a["name"] == auto for a in snap.data.get("automations", [])):
                self.automations.delete(self.principal, auto)
                plan.steps.append(f"delete automation rule {auto}")
        for app in shipped.get("apps", {}):
            if any(a["name"] == app for a in snap.data.get("apps", [])):
                self.designer.delete_app(self.principal, app)
                plan.steps.append(f"delete app {app}")
        for board in shipped.get("dashboards", {}):
            if any(d["name"] == board for d in snap.data.get("dashboards", [])):
                self.designer.delete_dashboard(self.principal, board)
                plan.steps.append(f"delete dashboard {board}")
        for proc in shipped.get("processes", {}):
            if any(p["name"] == proc for p in snap.data.get("processes", [])):
                self.processes.delete(self.principal, proc)
                plan.steps.append(f"delete approval process {proc}")
        objects = [n for n in shipped.get("objects", {}) if snap.object(n) is not None]
        if objects:
            self.designer.remove_objects(self.principal, objects)
            plan.steps.append(f"move objects {', '.join(objects)} with their records to the "
                              "recycle bin")
        roles = shipped.get("roles", {})
        present = {r["name"] for r in snap.data.get("roles", [])}
        for role in reversed(role_order(roles)):
            if role in present:
                self.designer.delete_role(self.principal, role)
                plan.steps.append(f"delete role {role}")


def current_layer(designer: Designer, snap: Any, pack: Pack) -> dict[str, Any]:
    """The tenant's documents of a pack's items as they are now (comparable form)."""
    layer: dict[str, Any] = {"objects": {}, "roles": {}, "layouts": {}, "dashboards": {},
                             "processes": {}, "automations": {}, "apps": {}}
    for name in pack.docs("objects"):
        if snap.object(name) is not None:
            layer["objects"][name] = comparable(designer.object_doc(snap, name))
    roles = {r["name"]: r for r in snap.data.get("roles", [])}
    for name in pack.docs("roles"):
        if name in roles:
            layer["roles"][name] = comparable(roles[name])
    for name in pack.docs("layouts"):
        if snap.object(name) is not None:
            layer["layouts"][name] = comparable(designer.layout(snap, name))
    boards = {d["name"]: d for d in snap.data.get("dashboards", [])}
    for name in pack.docs("dashboards"):
        if name in boards:
            layer["dashboards"][name] = comparable(boards[name])
    procs = {p["name"]: p for p in snap.data.get("processes", [])}
    for name in pack.docs("processes"):
        if name in procs:
            layer["processes"][name] = comparable(procs[name])
    apps = {a["name"]: a for a in snap.data.get("apps", [])}
    for name in pack.docs("apps"):
        if name in apps:
            layer["apps"][name] = comparable(apps[name])
    autos = {a["name"]: a for a in snap.data.get("automations", [])}
    for name in pack.docs("automations"):
        if name in autos:
            layer["automations"][name] = comparable(autos[name])
    return layer


def _set_path(layer: dict[str, Any], document: str, path: str, value: Any) -> None:
    kind, _, name = document.partition(" ")
    doc = layer.get(kind + "s", {}).get(name)
    if doc is None:
        return
    parts = path.split(".")
    if parts[0] == "fields" and len(parts) == 3:
        for f in doc.get("fields", []):
            if f.get("name") == parts[1]:
                f[parts[2]] = value
        return
    if len(parts) == 1:
        doc[parts[0]] = value


def _stuck(pack: Pack, failed: list[tuple[str, ValidationFailed]]) -> ValidationFailed:
    """Every object still waiting, with its own problems: one of them is the cause, the
    others may only wait for it, so all are named."""
    fields: dict[str, list[str]] = {}
    for name, error in failed:
        file = pack.files.get(("objects", name), f"objects/{name}")
        if ("rules", name) in pack.files:
            file = f"{file} (with {pack.files[('rules', name)]})"
        for key, messages in (error.fields or {"$": [error.message]}).items():
            fields.setdefault(f"{file}: {key}", []).extend(messages)
    names = ", ".join(name for name, _ in failed)
    first = next(iter(fields))
    return ValidationFailed(f"objects {names} are not valid: {first}: {fields[first][0]}", fields)


def _check_requirements(pack: Pack, have: dict[str, state.InstalledPack]) -> None:
    problems: dict[str, list[str]] = {}
    platform = pack.manifest.get("platform")
    if platform and not in_range(platform_version(), platform):
        problems.setdefault("pack.yaml: $.platform", []).append(
            f"needs CRMForge {platform}; this is {platform_version()}")
    for dep, spec in (pack.manifest.get("dependencies") or {}).items():
        got = have.get(dep)
        if got is None:
            problems.setdefault(f"pack.yaml: $.dependencies.{dep}", []).append(
                f"needs pack '{dep}' {spec}, which is not installed")
        elif not in_range(got.version, spec):
            problems.setdefault(f"pack.yaml: $.dependencies.{dep}", []).append(
                f"needs pack '{dep}' {spec}; {got.version} is installed")
    if problems:
        first = next(iter(problems))
        raise ValidationFailed(f"pack '{pack.name}' cannot be installed: {problems[first][0]}",
                               problems)


def _published_since(conn: sa.Connection, start: int) -> list[dict[str, Any]]:
    t = meta_store.meta_versions
    rows = conn.execute(sa.select(t.c.version, t.c.summary, t.c.diff).where(
        t.c.version > start).order_by(t.c.version)).all()
    return [{"version": r.version, "summary": r.summary, "changes": json.loads(r.diff or "[]")}
            for r in rows]


