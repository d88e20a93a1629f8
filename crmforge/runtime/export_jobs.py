"""Large exports as durable jobs: the file is written in the background with progress, kept
in the tenant's file store, and downloaded by whoever asked for it.

``submit`` checks what a direct export checks (the object, the ``export`` permission, the
list query, the format) before anything is queued, so a refusal answers at once. The job
runs as its requester, resolved again when it runs (a user deactivated meanwhile exports
nothing), through ``SheetExport``: the same visibility, readable fields, masking and access
audit as ``GET .../export``. Progress (``processed`` of ``total``) is reported every page
and a cancel stops the export at the next one. The finished file's description is the job's
checkpoint; ``download`` serves it to the requester (or an administrator) and answers 404 to
anyone else, like a job they cannot see.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from ..core.errors import BadRequest, NotFound
from ..core.filters import ListQuery, parse_list_query
from ..security import accounts
from ..security.principal import Principal
from . import jobs
from .exports import FORMATS, HEADERS, SheetExport, csv_chunks, xlsx_file
from .files.storage import Blob, new_key
from .instance import Tenant
from .records import RecordService

KIND = "export"
CONTENT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "csv": "text/csv; charset=utf-8"}
#: Rows between two progress reports (a report is one small write).
REPORT_EVERY = 500


def prepare(tenant: Tenant, principal: Principal, object_name: str,
            query: list[tuple[str, str]], fmt: str, headers: str,
            lang: str) -> tuple[dict[str, Any], int]:
    """Check the export as a direct one would be checked; the job's payload and total
    (``job_kinds.submit_export`` queues it)."""
    if fmt not in FORMATS:
        raise BadRequest("format is xlsx or csv", {"format": ["xlsx or csv"]})
    if headers not in HEADERS:
        raise BadRequest("headers is labels or names", {"headers": ["labels or names"]})
    if principal.user_id is None:
        raise BadRequest("an export job is asked for by a signed-in user")
    if tenant.file_store is None:
        raise BadRequest("no file store is configured, so exports cannot be kept")
    q = parse_list_query(query)
    export = SheetExport(RecordService(tenant), principal, object_name, q,
                         headers=headers, lang=lang)  # object, permission, fields
    total = _count(tenant, principal, object_name, q)
    return {"user": principal.username, "object": export.obj.name,
            "query": [list(pair) for pair in query], "format": fmt, "headers": headers,
            "lang": lang}, total


def _count(tenant: Tenant, principal: Principal, object_name: str, q: ListQuery) -> int:
    counted = ListQuery(q.conditions, q.sort, ("id",), 1, None, True, q.search)
    total = RecordService(tenant).list(principal, object_name, counted).get("total")
    return min(int(total or 0), 100_000)


def handle(ctx: jobs.JobContext) -> None:
    """Write the export, keep it, and record where it is as the job's checkpoint."""
    data = ctx.job.payload
    tenant = ctx.tenant
    with tenant.read() as conn:
        principal = accounts.principal_of(conn, str(data["user"]))
    q = parse_list_query([(str(k), str(v)) for k, v in data["query"]])
    export = SheetExport(RecordService(tenant), principal, str(data["object"]), q,
                         headers=str(data["headers"]), lang=str(data["lang"]))
    rows = export.rows
    done = 0

    def counted() -> Iterator[list[Any]]:
        nonlocal done
        for row in rows():
            yield row
            done += 1
            if done % REPORT_EVERY == 0:
                ctx.report(done, {"rows": done})  # raises Cancelled when cancelled
        ctx.report(done, {"rows": done}, done)

    export.rows = counted  # type: ignore[method-assign]
    fmt = str(data["format"])
    chunks = xlsx_file(export) if fmt == "xlsx" else csv_chunks(export)
    with tempfile.TemporaryFile() as handle:
        size = 0
        for chunk in chunks:
            handle.write(chunk)
            size += len(chunk)
        handle.seek(0)
        key = new_key()
        store = tenant.file_store
        assert store is not None  # checked at submit; a later setting change fails the job
        store().put(tenant.name, key, handle, size, CONTENT_TYPES[fmt])
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    ctx.report(done, {"rows": done, "file": {
        "key": key, "size": size, "content_type": CONTENT_TYPES[fmt],
        "name": f"{export.obj.name}-{stamp}.{fmt}"}}, done)


def download(tenant: Tenant, principal: Principal, job_id: Any) -> tuple[Blob, Mapping[str, Any]]:
    """The finished export's content and description, for its requester or an
    administrator (``JobStore.read`` answers 404 to anyone else)."""
    job = jobs.JobStore(tenant).read(principal, jobs.job_id(job_id))
    done = job.kind == KIND and job.status == jobs.DONE
    found = (job.checkpoint or {}).get("file") if done else None
    if not found or tenant.file_store is None:
        raise NotFound(f"no finished export {job.id}")
    return tenant.file_store().open(tenant.name, str(found["key"])), found


def as_stream(blob: Blob) -> Iterator[bytes]:
    try:
        yield from blob
    finally:
        blob.close()


__all__ = ["KIND", "as_stream", "download", "handle", "prepare"]
