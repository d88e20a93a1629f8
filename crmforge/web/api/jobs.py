"""Background jobs over HTTP: ``GET /api/v1/jobs/<id>`` (DESIGN §9) and its cancel."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...runtime import jobs
from ..context import current_principal, current_tenant

bp = Blueprint("jobs", __name__)


@bp.get("/jobs/<jid>")
def job(jid: str) -> dict[str, Any]:
    """``{"id", "kind", "status", "processed", "total", ...}`` of a job the caller may see."""
    return jobs.JobStore(current_tenant()).read(current_principal(), jobs.job_id(jid)).as_dict()


@bp.post("/jobs/<jid>/cancel")
def cancel(jid: str) -> dict[str, Any]:
    """Stop a queued or running job at its next checkpoint (finished jobs stay as they are)."""
    store = jobs.JobStore(current_tenant())
    return store.cancel_for(current_principal(), jobs.job_id(jid)).as_dict()
