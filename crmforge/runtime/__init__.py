"""Storage, the record service, metadata changes and tenants."""

from .designer import Designer
from .instance import Instance, Tenant, tenant_name_problem
from .records import RecordService

__all__ = ["Designer", "Instance", "RecordService", "Tenant", "tenant_name_problem"]
