"""App documents of the Designer (decision 0034): create, replace, patch and delete the
groups of objects the top bar shows. Each change goes through ``Designer.change`` like any
other metadata, so it is validated against the whole snapshot and published as a new
version; renaming or removing an object edits the apps in the same change
(``designer_edits.retarget``, ``Designer.remove_objects``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import BadRequest, NotFound
from ..metadata.apps import prepare_app
from ..metadata.model import Snapshot
from ..security.principal import Principal
from .designer_documents import Data, _name, merge_patch, named_index


class AppChanges:
    """The app operations of the Designer."""

    if TYPE_CHECKING:
        def change(self, principal: Principal, summary: str,
                   edit: Callable[[Data, Snapshot], None], *,
                   dry_run: bool = False) -> Snapshot: ...

        def snapshot(self) -> Snapshot: ...

    def apps(self, snap: Snapshot | None = None) -> list[Data]:
        snap = snap or self.snapshot()
        return [copy.deepcopy(dict(a)) for a in snap.data.get("apps", [])]

    def app(self, name: str, snap: Snapshot | None = None) -> Data:
        for a in self.apps(snap):
            if a["name"] == name:
                return a
        raise NotFound(f"no app named '{name[:40]}'")

    def create_app(self, principal: Principal, doc: Any) -> Data:
        def edit(data: Data, base: Snapshot) -> None:
            data.setdefault("apps", []).append(prepare_app(doc, base))

        snap = self.change(principal, f"create app {_name(doc)}", edit)
        return self.app(str(doc["name"]), snap)

    def set_app(self, principal: Principal, doc: Any) -> Data:
        """Create or replace an app in its place (a pack's install and upgrade)."""
        def edit(data: Data, base: Snapshot) -> None:
            apps = data.setdefault("apps", [])
            name = doc.get("name") if isinstance(doc, dict) else None
            at = next((i for i, a in enumerate(apps) if a["name"] == name), None)
            if at is None:
                apps.append(prepare_app(doc, base))
            else:
                apps[at] = prepare_app(doc, base, existing=str(name))

        snap = self.change(principal, f"change app {_name(doc)}", edit)
        return self.app(str(doc["name"]), snap)

    def update_app(self, principal: Principal, name: str, patch: Any) -> Data:
        """Merge-patch an app: top-level keys replace its own, None removes one."""
        if not isinstance(patch, dict):
            raise BadRequest("a change must be a JSON object")

        def edit(data: Data, base: Snapshot) -> None:
            apps = data.setdefault("apps", [])
            i = named_index(apps, name, "app")
            apps[i] = prepare_app(merge_patch(apps[i], patch), base, existing=name)

        snap = self.change(principal, f"change app {name}", edit)
        return self.app(name, snap)

    def delete_app(self, principal: Principal, name: str) -> None:
        def edit(data: Data, base: Snapshot) -> None:
            apps = data.setdefault("apps", [])
            named_index(apps, name, "app")
            data["apps"] = [a for a in apps if a["name"] != name]

        self.change(principal, f"delete app {name}", edit)
