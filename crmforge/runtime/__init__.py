"""Storage, the record service, metadata changes and tenants."""

from .designer import Designer
from .instance import Instance, Tenant, tenant_name_problem
from .list_views import ListViews
from .records import RecordService

__all__ = ["Designer", "Instance", "ListViews", "RecordService", "Tenant", "tenant_name_problem"]
