"""Background jobs over HTTP: ``GET /api/v1/jobs/<id>`` (DESIGN §9), its cancel, and the
file an export job wrote (``GET /api/v1/jobs/<id>/file``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response

from ...runtime import export_jobs, jobs
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


@bp.get("/jobs/<jid>/file")
def job_file(jid: str) -> Response:
    """The file a finished export job wrote, for whoever asked for it (or an administrator);
    404 for anyone else and for a job that wrote none."""
    blob, found = export_jobs.download(current_tenant(), current_principal(), jid)
    name = str(found["name"])
    return Response(export_jobs.as_stream(blob), mimetype=str(found["content_type"]), headers={
        "Content-Length": str(found["size"]), "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
