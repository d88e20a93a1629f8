"""Storage, the record service, metadata changes and tenants."""

from . import access_log, retention
from .designer import Designer
from .instance import Instance, Tenant, shared_reads, tenant_name_problem
from .list_views import ListViews
from .records import RecordService

__all__ = ["Designer", "Instance", "ListViews", "RecordService", "Tenant", "access_log", "retention",
           "shared_reads", "tenant_name_problem"]
