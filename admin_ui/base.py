"""What every designer view needs: the tenant's Designer and record service, the signed-in
administrator, the page language and an object of the current metadata."""

from __future__ import annotations

from crmforge.core.errors import NotFound
from crmforge.metadata.model import ObjectDef, Snapshot
from crmforge.runtime import Designer, RecordService
from crmforge.security.principal import Principal
from crmforge.web.context import current_principal, current_tenant
from crmforge.web.pages.i18n import current_lang


def designer() -> Designer:
    return Designer(current_tenant())


def records() -> RecordService:
    return RecordService(current_tenant())


def admin() -> Principal:
    """The signed-in user (the blueprint has already refused everyone else)."""
    return current_principal()


def lang() -> str:
    return current_lang()


def object_or_404(snap: Snapshot, name: str) -> ObjectDef:
    obj = snap.object(name)
    if obj is None:
        raise NotFound(f"no object named '{name[:40]}'")
    return obj
