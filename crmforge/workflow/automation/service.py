"""Automation rules as versioned metadata: create, change, enable, remove, read, and the
run log.

Every change goes through ``Designer.change`` (one transaction, a new metadata version
with author and diff), like approval processes: history, rollback and packs treat rules
as they treat every other document. Each rule carries its own ``version``, raised on every
change, which the run log records.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ...core.errors import BadRequest, NotFound
from ...metadata.model import Snapshot
from ...runtime import Designer
from ...runtime.designer_documents import merge_patch, named_index
from ...runtime.instance import Tenant
from ...security.principal import Principal
from .documents import automation_docs, prepare_automation
from .tables import ensure_tables, runs

Data = dict[str, Any]
MAX_RUNS = 500


class AutomationService:
    """Automation rule documents of one tenant."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.designer = Designer(tenant)

    def list(self) -> list[Data]:
        snap = self.designer.snapshot()
        return [copy.deepcopy(dict(a)) for a in snap.data.get("automations", [])]

    def get(self, name: str, snap: Snapshot | None = None) -> Data:
        found = automation_docs(snap or self.designer.snapshot()).get(name)
        if found is None:
            raise NotFound(f"no automation rule named '{str(name)[:40]}'")
        return copy.deepcopy(dict(found))

    def _prepare(self, doc: Any, base: Snapshot, existing: str | None, version: int) -> Data:
        with self.tenant.engine.connect() as conn:
            prepared = prepare_automation(doc, base, conn, existing=existing)
        prepared["version"] = version
        return prepared

    def create(self, principal: Principal, doc: Any) -> Data:
        def edit(data: Data, base: Snapshot) -> None:
            data.setdefault("automations", []).append(self._prepare(doc, base, None, 1))

        snap = self.designer.change(principal, f"create automation {_name(doc)}", edit)
        return self.get(str(doc["name"]), snap)

    def update(self, principal: Principal, name: str, patch: Any) -> Data:
        """Merge-patch a rule (top-level keys replace, null removes one); its version goes
        up by one."""
        if not isinstance(patch, Mapping):
            raise BadRequest("a change must be a JSON object")

        def edit(data: Data, base: Snapshot) -> None:
            rules = data.setdefault("automations", [])
            i = named_index(rules, name, "automation rule")
            doc = merge_patch(rules[i], patch, keep=frozenset({"version"}))
            rules[i] = self._prepare(doc, base, name, int(rules[i].get("version", 1)) + 1)

        snap = self.designer.change(principal, f"change automation {name}", edit)
        return self.get(name, snap)

    def delete(self, principal: Principal, name: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            rules = data.setdefault("automations", [])
            named_index(rules, name, "automation rule")
            data["automations"] = [r for r in rules if r["name"] != name]

        self.designer.change(principal, f"delete automation {name}", edit)

    def runs(self, name: str, limit: int = 100) -> builtins.list[Data]:
        """The rule's latest run log lines, newest first."""
        self.get(name)
        ensure_tables(self.tenant)
        with self.tenant.read() as conn:
            rows = conn.execute(sa.select(runs).where(runs.c.rule == name)
                                .order_by(runs.c.id.desc()).limit(max(1, min(limit, MAX_RUNS))))
            return [{"id": r.id, "rule_version": r.rule_version, "object": r.object,
                     "record": r.record_id, "trigger": r.trigger, "depth": r.depth,
                     "action_index": r.action_index, "action": r.action, "status": r.status,
                     "message": r.message,
                     "at": r.at.isoformat(timespec="seconds") + "Z"} for r in rows]


def _name(doc: Any) -> str:
    return str(doc.get("name"))[:40] if isinstance(doc, dict) else "?"


__all__ = ["AutomationService"]
