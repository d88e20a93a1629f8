"""The permission engine: the one place that decides who may do what (DESIGN §5).

Every read and write of the record service asks this engine. It answers operation checks,
compiles row visibility into a SQL predicate (never a filter after fetching) and names the
fields a principal may read or write. Today it knows administrators and the system
principal; roles, departments, shares, field and status rules plug in here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..core.errors import Forbidden
from ..metadata.model import ObjectDef
from .principal import Principal


class PermissionEngine:
    def allowed(self, principal: Principal, obj: ObjectDef, operation: str) -> bool:
        return principal.is_admin or principal.is_system

    def check(self, principal: Principal, obj: ObjectDef, operation: str) -> None:
        if not self.allowed(principal, obj, operation):
            raise Forbidden(f"you may not {operation} {obj.label()} records")

    def visibility(self, principal: Principal, obj: ObjectDef, table: sa.Table) -> Any:
        """A SQL predicate of the rows ``principal`` may see in ``table``."""
        if principal.is_admin or principal.is_system:
            return sa.true()
        return sa.false()

    def readable_fields(self, principal: Principal, obj: ObjectDef) -> frozenset[str]:
        return frozenset(f.name for f in obj.fields)

    def writable_fields(self, principal: Principal, obj: ObjectDef) -> frozenset[str]:
        return frozenset(f.name for f in obj.fields if f.kind.writable)

    def can_manage_metadata(self, principal: Principal) -> bool:
        return principal.is_admin or principal.is_system


engine = PermissionEngine()
