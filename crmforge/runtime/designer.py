"""Metadata changes: validate, diff, migrate and publish in one transaction.

This is the only way metadata changes. Each operation edits a copy of the current snapshot's
data, validates the edited object against the rest, diffs old and new snapshots, applies the
DDL and stores the new version, all inside one write transaction: a failed change leaves
neither metadata nor schema behind.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..core.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from ..metadata import store as meta_store
from ..metadata.apps import without_object
from ..metadata.diff import diff
from ..metadata.model import Snapshot
from ..metadata.refactor import rename_field_everywhere
from ..metadata.validation import prepare_object
from ..security import audit
from ..security import engine as permissions
from ..security.principal import Principal
from . import backfill, designer_edits, job_kinds, list_views
from .designer_apps import AppChanges
from .designer_documents import Data, DocumentChanges, _entry, _name
from .files.binding import purge_files
from .files.tables import stored_files
from .instance import Tenant
from .storage.migrate import apply_changes, conversion_report


def _now_text() -> str:
    return clock.now().isoformat(timespec="seconds")


def _removed_object(data: Data, name_or_id: str) -> Data:
    """The most recently removed object with that name or id."""
    matches = [e for e in data.get("removed_objects", [])
               if name_or_id in (e["doc"]["id"], e["doc"]["name"])]
    if not matches:
        raise NotFound(f"no removed object '{name_or_id}'")
    return matches[-1]  # type: ignore[no-any-return]


def _removed_field(entry: Data, object_name: str, name_or_id: str) -> Data:
    """The most recently removed field of an object with that name or id."""
    matches = [r for r in entry["removed_fields"]
               if name_or_id in (r["field"]["id"], r["field"]["name"])]
    if not matches:
        raise NotFound(f"'{object_name}' has no removed field '{name_or_id}'")
    return matches[-1]  # type: ignore[no-any-return]


def _field_index(doc: Data, name: str) -> int:
    for i, f in enumerate(doc["fields"]):
        if f["name"] == name:
            return i
    raise NotFound(f"'{doc['name']}' has no field named '{name}'")


@dataclass
class _Batch:
    """Metadata changes collected for one version (see ``Designer.batch``)."""

    base: Snapshot
    data: Data
    current: Snapshot
    summaries: list[str] = field(default_factory=list)

    def apply(self, summary: str, edit: Callable[[Data, Snapshot], None],
              dry_run: bool) -> Snapshot:
        data = self.current.mutable_data()  # a failing edit leaves the batch as it was
        edit(data, self.current)
        new = Snapshot.from_data(self.base.version + 1, data, owned=True, like=self.current)
        if not dry_run:
            self.data, self.current = data, new
            self.summaries.append(summary)
        return new


_batches: ContextVar[dict[str, _Batch] | None] = ContextVar("crmforge_metadata_batches",
                                                             default=None)


class Designer(DocumentChanges, AppChanges):
    """Metadata operations of one tenant, each one published as a new version (roles,
    layouts and dashboards: ``DocumentChanges``; apps: ``AppChanges``)."""

    #: Whether a change starts its backfill in the background; off, the caller runs
    #: ``backfill.run(tenant, backfill.plan(old, new))`` itself (tests, scripts).
    background_backfill = True

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    # -- reading ----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current metadata; inside a batch, as the batch's changes so far leave it."""
        batch = (_batches.get() or {}).get(self.tenant.key)
        if batch is not None:
            return batch.current
        with self.tenant.read() as conn:
            return self.tenant.snapshot(conn)

    def object_doc(self, snap: Snapshot, name: str) -> Data:
        obj = snap.object(name)
        if obj is None:
            raise NotFound(f"no object named '{name}'")
        out = obj.doc()
        out["version"] = snap.version
        return out

    def history(self, limit: int = 100) -> list[Data]:
        with self.tenant.read() as conn:
            return meta_store.history(conn, limit)

    def recycle_bin(self) -> Data:
        snap = self.snapshot()
        return {
            "objects": [
                {"id": r.obj.id, "name": r.obj.name, "label": dict(r.obj.options.get("label") or {}),
                 "removed_at": r.removed_at, "removed_by": r.removed_by}
                for r in snap.removed_objects.values()
            ],
            "fields": [
                {"object": o.name, "id": r.field.id, "name": r.field.name, "type": r.field.type,
                 "removed_at": r.removed_at, "removed_by": r.removed_by}
                for o in snap.objects.values() for r in o.removed_fields
            ],
        }

    # -- the one write path for metadata ----------------------------------------------------
    def change(
        self,
        principal: Principal,
        summary: str,
        edit: Callable[[Data, Snapshot], None],
        *,
        dry_run: bool = False,
    ) -> Snapshot:
        """The one write path for metadata: ``edit`` changes a copy of the current data,
        which is validated, diffed, migrated and published as the next version. Other
        kinds of metadata documents (processes) extend the Designer through it."""
        if not permissions.can_manage_metadata(principal):
            raise Forbidden("only administrators change metadata")
        batch = (_batches.get() or {}).get(self.tenant.key)
        if batch is not None:
            return batch.apply(summary, edit, dry_run)
        with self.tenant.write() as conn:
            self.tenant.dialect.lock_metadata(conn)  # one metadata change at a time
            base = self.tenant.snapshot(conn)
            data = base.mutable_data()
            edit(data, base)
            new = Snapshot.from_data(base.version + 1, data, owned=True, like=base)
            if dry_run:
                return new  # nothing was written; the lock goes with the transaction
            return self._publish(conn, principal, summary, base, data, new)

    def _publish(self, conn: sa.Connection, principal: Principal, summary: str,
                 base: Snapshot, data: Data, new: Snapshot) -> Snapshot:
        """Diff, DDL, audit and the new version row, in the caller's transaction."""
        changes = diff(base, new)
        apply_changes(conn, self.tenant.dialect, changes)
        described = [c.describe() for c in changes]
        audit.admin_action(conn, principal, "metadata", summary, described or None)
        published = meta_store.publish(
            conn, self.tenant.key, base, data, author=principal.label, summary=summary,
            diff=described, snapshot=new,
        )
        # Existing rows of a new or changed stored formula or roll-up are filled in batches
        # after the commit, so the change does not hold the object's lock (decision 0007).
        jobs = backfill.plan(base, published)
        if jobs and self.background_backfill:
            tenant = self.tenant
            tenant.after_commit(
                lambda: job_kinds.submit_backfill(tenant, jobs, published.version))
        return published

    @contextmanager
    def batch(self, principal: Principal, summary: str) -> Iterator[None]:
        """Metadata changes made inside are each validated against the ones before, then
        published together as one version: one diff, one pass of DDL, one history entry
        (a pack install is one change to its tenant). Nothing is published if the block
        fails. A batch inside a batch of the same tenant joins it."""
        if not permissions.can_manage_metadata(principal):
            raise Forbidden("only administrators change metadata")
        batches = _batches.get() or {}
        if self.tenant.key in batches:
            yield
            return
        with self.tenant.write() as conn:
            self.tenant.dialect.lock_metadata(conn)
            base = self.tenant.snapshot(conn)
            work = _Batch(base, base.mutable_data(), base)
            token = _batches.set({**batches, self.tenant.key: work})
            try:
                yield
            finally:
                _batches.reset(token)
            if work.summaries:
                detail = "; ".join(work.summaries)
                self._publish(conn, principal, f"{summary}: {detail}", base, work.data,
                              work.current)

    def _validated(self, doc: Any, data: Data, base: Snapshot, existing_name: str | None,
                   *, others_changed: bool = False) -> Data:
        """Validate ``doc`` against the snapshot the change produces, minus the object
        itself. When the edit changed no other object (the usual case) that is ``base``
        minus the object, whose definitions are reused instead of rebuilt."""
        existing = base.object(existing_name) if existing_name else None
        if not others_changed:
            context = base.without_object(existing.id) if existing is not None else base
            return prepare_object(doc, context, existing=existing)
        others = {**data, "objects": [e for e in data["objects"]
                                      if existing is None or e["doc"]["id"] != existing.id]}
        context = Snapshot.from_data(base.version, others, owned=True)  # thrown away after
        return prepare_object(doc, context, existing=existing)

    # -- objects ----------------------------------------------------------------------------
    def create_object(self, principal: Principal, doc: Any) -> Data:
        created: Data = {}

        def edit(data: Data, base: Snapshot) -> None:
            if isinstance(doc, dict) and isinstance(doc.get("name"), str) and base.object(doc["name"]):
                raise Conflict(f"an object named '{doc['name']}' already exists",
                               {"name": ["already exists"]})
            prepared = self._validated(doc, data, base, None)
            data["objects"].append({"doc": prepared, "removed_fields": []})
            created.update(prepared)

        snap = self.change(principal, f"create object {_name(doc)}", edit)
        return self.object_doc(snap, created["name"])

    def update_object(self, principal: Principal, name: str, patch: Any) -> Data:
        """Merge-patch an object: top-level keys replace; ``fields`` lists all fields.

        Fields are matched by name (or id); fields left out go to the recycle bin.
        """
        if not isinstance(patch, dict):
            raise BadRequest("a change must be a JSON object")
        final: dict[str, str] = {}

        def edit(data: Data, base: Snapshot) -> None:
            entry = _entry(data, name)
            doc = copy.deepcopy(entry["doc"])
            for key, value in patch.items():
                if key in ("id", "version"):
                    continue
                if value is None:
                    doc.pop(key, None)
                else:
                    doc[key] = copy.deepcopy(value)
            old_fields = {f["id"]: f for f in entry["doc"]["fields"]}
            if "fields" in patch and isinstance(patch["fields"], list):
                designer_edits.carry_ids(doc, entry["doc"])
            new_name = doc.get("name")
            renaming = isinstance(new_name, str) and new_name != name
            if renaming:
                # Before validation: its own self-lookups and the master-details its
                # roll-ups read must already name it by the new name.
                designer_edits.retarget(data, name, str(new_name))
                if isinstance(doc.get("fields"), list) and all(
                        isinstance(f, dict) for f in doc["fields"]):
                    designer_edits.retarget({"objects": [{"doc": doc}]}, name, str(new_name))
            prepared = self._validated(doc, data, base, name, others_changed=renaming)
            kept = {f["id"] for f in prepared["fields"]}
            for fid, f in old_fields.items():
                if fid not in kept:
                    entry["removed_fields"].append(
                        {"field": f, "removed_at": _now_text(), "removed_by": principal.label})
            if prepared["name"] != name:
                designer_edits.retarget(data, name, prepared["name"])
            entry["doc"] = prepared
            final["name"] = prepared["name"]

        snap = self.change(principal, f"change object {name}", edit)
        return self.object_doc(snap, final["name"])

    def remove_object(self, principal: Principal, name: str) -> None:
        self.remove_objects(principal, [name])

    def remove_objects(self, principal: Principal, names: list[str]) -> None:
        """Move objects (with their records) to the recycle bin in one change; objects that
        refer to each other go together (a pack's), others must not refer to them."""
        def edit(data: Data, base: Snapshot) -> None:
            entries = [_entry(data, name) for name in names]
            leaving = set(names)
            refs = [f"{e['doc']['name']}.{f['name']}" for e in data["objects"]
                    if e["doc"]["name"] not in leaving for f in e["doc"]["fields"]
                    if f.get("target") in leaving or f.get("child") in leaving]
            if refs:
                raise Conflict(f"'{', '.join(names)}' is referenced by " + ", ".join(refs) +
                               "; remove those fields first", {"name": refs})
            for entry in entries:
                data["objects"].remove(entry)
                entry.update(removed_at=_now_text(), removed_by=principal.label)
                data.setdefault("removed_objects", []).append(entry)
                without_object(data, entry["doc"]["name"])  # apps never name a missing one

        self.change(principal, f"remove object {', '.join(names)}", edit)

    def restore_object(self, principal: Principal, name_or_id: str) -> Data:
        restored: dict[str, str] = {}

        def edit(data: Data, base: Snapshot) -> None:
            entry = _removed_object(data, name_or_id)
            if base.object(entry["doc"]["name"]) is not None:
                raise Conflict(f"an object named '{entry['doc']['name']}' exists again; rename it first")
            data["removed_objects"].remove(entry)
            entry.pop("removed_at", None)
            entry.pop("removed_by", None)
            data["objects"].append(entry)
            restored["name"] = entry["doc"]["name"]

        snap = self.change(principal, f"restore object {name_or_id}", edit)
        return self.object_doc(snap, restored["name"])

    def purge_object(self, principal: Principal, name_or_id: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            entry = _removed_object(data, name_or_id)
            data["removed_objects"].remove(entry)
            purge_files(self.tenant, stored_files.c.object_id == entry["doc"]["id"])

        self.change(principal, f"purge object {name_or_id}", edit)

    # -- fields -----------------------------------------------------------------------------
    def add_field(self, principal: Principal, object_name: str, field: Any) -> Data:
        if not isinstance(field, dict):
            raise BadRequest("a field must be a JSON object")
        added: dict[str, str] = {}

        def edit(data: Data, base: Snapshot) -> None:
            entry = _entry(data, object_name)
            names = {f["name"] for f in entry["doc"]["fields"]}
            if isinstance(field.get("name"), str) and field["name"] in names:  # else: 422 below
                raise Conflict(f"'{object_name}' already has a field named '{field['name']}'",
                               {"name": ["already exists"]})
            doc = copy.deepcopy(entry["doc"])
            new_field = copy.deepcopy(field)
            new_field.pop("id", None)
            doc["fields"].append(new_field)
            entry["doc"] = self._validated(doc, data, base, object_name)
            added["name"] = new_field["name"]

        snap = self.change(principal, f"add field {object_name}.{_name(field)}", edit)
        obj = snap.object(object_name)
        assert obj is not None
        f = obj.field(added["name"])
        assert f is not None
        return {**f.doc(), "version": snap.version}

    def update_field(
        self, principal: Principal, object_name: str, field_name: str, patch: Any,
        *, dry_run: bool = False,
    ) -> Data:
        if not isinstance(patch, dict):
            raise BadRequest("a change must be a JSON object")
        result: Data = {}

        def edit(data: Data, base: Snapshot) -> None:
            entry = _entry(data, object_name)
            doc = copy.deepcopy(entry["doc"])
            i = _field_index(doc, field_name)
            f = doc["fields"][i]
            designer_edits.apply_field_patch(f, patch)
            if f["name"] != field_name:
                scratch = {**data, "objects": [
                    {**e, "doc": doc} if e is entry else e for e in data["objects"]]}
                rename_field_everywhere(scratch, object_name, field_name, f["name"])
                data["objects"] = scratch["objects"]
                entry = _entry(data, object_name)
            prepared = designer_edits.validate_renamed(doc, data, base, object_name, field_name, f)
            entry["doc"] = prepared
            result["name"] = prepared["fields"][i]["name"]
            result["id"] = prepared["fields"][i]["id"]
            if prepared["fields"][i]["name"] != field_name:
                designer_edits.retarget_field(data, object_name, field_name, result["name"])

        if dry_run:
            # Validates the change and reports which values would not convert; writes nothing.
            would_be = self.change(principal, "dry run", edit, dry_run=True)
            return {"dry_run": True, **self._dry_run_report(would_be, object_name, result["id"])}
        with self.tenant.write():  # the metadata and the saved views change together
            snap = self.change(principal, f"change field {object_name}.{field_name}", edit)
            obj = snap.object(object_name)
            assert obj is not None
            if result["name"] != field_name:
                list_views.rename_field(self.tenant, obj.id, field_name, result["name"])
        fd = obj.field(result["name"])
        assert fd is not None
        return {**fd.doc(), "version": snap.version}

    def _dry_run_report(self, would_be: Snapshot, object_name: str, field_id: str) -> Data:
        current = self.snapshot()
        obj = current.object(object_name)
        assert obj is not None
        old = obj.field_by_id(field_id)
        new_obj = would_be.object_by_id(obj.id)
        new = new_obj.field_by_id(field_id) if new_obj else None
        assert old is not None and new is not None
        if not (old.stored and new.stored) or old.kind.column_type(old).__repr__() == \
                new.kind.column_type(new).__repr__():
            return {"convertible": True, "rows": None, "failures": [], "failure_count": 0}
        with self.tenant.read() as conn:
            return conversion_report(conn, obj.table, old.name, old, new)

    def remove_field(self, principal: Principal, object_name: str, field_name: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            entry = _entry(data, object_name)
            i = _field_index(entry["doc"], field_name)
            refs = [f"{e['doc']['name']}.{f['name']}" for e in data["objects"]
                    for f in e["doc"]["fields"]
                    if f.get("type") == "rollup" and f.get("child") == object_name
                    and f.get("field") == field_name]
            if entry["doc"].get("title_field") == field_name:
                refs.append(f"{object_name}.title_field")
            if refs:
                raise Conflict(f"'{field_name}' is used by " + ", ".join(refs), {field_name: refs})
            doc = copy.deepcopy(entry["doc"])
            removed = doc["fields"].pop(i)
            if doc.get("indexes"):  # an index goes with any of its fields
                doc["indexes"] = [s for s in doc["indexes"] if field_name not in s]
            if not doc["fields"]:
                raise ValidationFailed("an object needs at least one field", {field_name: ["last field"]})
            entry["doc"] = self._validated(doc, data, base, object_name)
            entry["removed_fields"].append(
                {"field": removed, "removed_at": _now_text(), "removed_by": principal.label})

        self.change(principal, f"remove field {object_name}.{field_name}", edit)

    def restore_field(self, principal: Principal, object_name: str, name_or_id: str) -> Data:
        restored: dict[str, str] = {}

        def edit(data: Data, base: Snapshot) -> None:
            entry = _entry(data, object_name)
            r = _removed_field(entry, object_name, name_or_id)
            if any(f["name"] == r["field"]["name"] for f in entry["doc"]["fields"]):
                raise Conflict(f"'{object_name}' has a field named '{r['field']['name']}' again; "
                               "rename it first")
            doc = copy.deepcopy(entry["doc"])
            doc["fields"].append(r["field"])
            entry["doc"] = self._validated(doc, data, base, object_name)
            entry["removed_fields"].remove(r)
            restored["name"] = r["field"]["name"]

        snap = self.change(principal, f"restore field {object_name}.{name_or_id}", edit)
        obj = snap.object(object_name)
        assert obj is not None
        f = obj.field(restored["name"])
        assert f is not None
        return {**f.doc(), "version": snap.version}

    def purge_field(self, principal: Principal, object_name: str, name_or_id: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            entry = _entry(data, object_name)
            removed = _removed_field(entry, object_name, name_or_id)
            entry["removed_fields"].remove(removed)
            if removed["field"].get("type") == "file":
                purge_files(self.tenant, stored_files.c.object_id == entry["doc"]["id"],
                            stored_files.c.field_id == removed["field"]["id"])

        self.change(principal, f"purge field {object_name}.{name_or_id}", edit)

    # -- versions ---------------------------------------------------------------------------
    def version(self, version: int) -> Snapshot:
        with self.tenant.read() as conn:
            return meta_store.load(conn, self.tenant.key, version)

    def rollback(self, principal: Principal, version: int) -> Snapshot:
        """Publish an earlier version again. Nothing is dropped: objects and fields the old
        version lacks go to the recycle bin with their data."""

        def edit(data: Data, base: Snapshot) -> None:
            with self.tenant.engine.connect() as conn:
                target = meta_store.load(conn, self.tenant.key, version)
            wanted = target.mutable_data()
            keep_ids = {e["doc"]["id"] for e in wanted["objects"]}
            removed_ids = {e["doc"]["id"] for e in wanted.get("removed_objects", [])}
            for name in list(base.objects):
                obj = base.objects[name]
                if obj.id in keep_ids or obj.id in removed_ids:
                    continue
                entry = _entry(data, name)
                entry.update(removed_at=_now_text(), removed_by=principal.label)
                wanted.setdefault("removed_objects", []).append(entry)
            for e in wanted["objects"]:
                cur = base.object_by_id(e["doc"]["id"])
                if cur is None:
                    continue
                target_ids = {f["id"] for f in e["doc"]["fields"]} | {
                    r["field"]["id"] for r in e["removed_fields"]}
                for f in cur.fields:
                    if f.id not in target_ids:
                        e["removed_fields"].append({"field": f.doc(), "removed_at": _now_text(),
                                                    "removed_by": principal.label})
            # Purged items of the current version cannot come back from an old version.
            data.clear()
            data.update(wanted)

        return self.change(principal, f"roll back to version {version}", edit)


__all__ = ["Designer"]
