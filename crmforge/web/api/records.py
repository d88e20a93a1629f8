"""Record endpoints: thin HTTP adapters over the record service (all logic lives there)."""

from __future__ import annotations

import itertools
from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from ...core.errors import BadRequest
from ...core.filters import parse_list_query
from ...runtime import RecordService, job_kinds
from ...runtime.bulk import BulkWriter
from ...runtime.exports import FORMATS, SheetExport, csv_chunks, xlsx_file
from ..context import current_principal, current_tenant
from ..languages import request_lang
from .util import json_body

bp = Blueprint("records", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _service() -> RecordService:
    return RecordService(current_tenant())


def _fields_param() -> list[str] | None:
    raw = request.args.get("fields")
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


@bp.get("/records/<object_name>")
def list_records(object_name: str) -> dict[str, Any]:
    q = parse_list_query(list(request.args.items(multi=True)))
    return _service().list(current_principal(), object_name, q)


@bp.post("/records/<object_name>")
def create_record(object_name: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    record = _service().create(current_principal(), object_name, json_body(), request_lang())
    return record, 201, {"ETag": f'"{record["version"]}"',
                         "Location": f"/api/v1/records/{object_name}/{record['id']}"}


@bp.post("/records/<object_name>/bulk")
def bulk_records(object_name: str) -> dict[str, Any]:
    """Up to 1,000 records created, updated or upserted; per-record results (DESIGN §9)."""
    return BulkWriter(_service()).run(current_principal(), object_name, json_body(),
                                      request_lang())


@bp.get("/records/<object_name>/<record_id>")
def get_record(object_name: str, record_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    record = _service().get(current_principal(), object_name, record_id, _fields_param(),
                            opened=True)
    return record, 200, {"ETag": f'"{record["version"]}"'}


def _if_match() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise BadRequest("If-Match takes the record's version number")
    return int(value)


@bp.patch("/records/<object_name>/<record_id>")
def update_record(object_name: str, record_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    record = _service().update(current_principal(), object_name, record_id, json_body(),
                               _if_match(), request_lang())
    return record, 200, {"ETag": f'"{record["version"]}"'}


@bp.delete("/records/<object_name>/<record_id>")
def delete_record(object_name: str, record_id: str) -> tuple[str, int]:
    _service().delete(current_principal(), object_name, record_id)
    return "", 204


@bp.post("/records/<object_name>/<record_id>/restore")
def restore_record(object_name: str, record_id: str) -> dict[str, Any]:
    return _service().restore(current_principal(), object_name, record_id)


@bp.get("/records/<object_name>/<record_id>/history")
def record_history(object_name: str, record_id: str) -> dict[str, Any]:
    return {"items": _service().history(current_principal(), object_name, record_id)}


@bp.get("/recycle-bin")
def recycle_bin() -> dict[str, Any]:
    return {"items": _service().recycle_bin(current_principal())}


@bp.delete("/recycle-bin/<object_name>/<record_id>")
def purge_record(object_name: str, record_id: str) -> tuple[str, int]:
    _service().purge(current_principal(), object_name, record_id)
    return "", 204


@bp.get("/records/<object_name>/<record_id>/shares")
def list_shares(object_name: str, record_id: str) -> dict[str, Any]:
    return {"items": _service().shares(current_principal(), object_name, record_id)}


@bp.post("/records/<object_name>/<record_id>/shares")
def add_share(object_name: str, record_id: str) -> tuple[dict[str, Any], int]:
    return _service().share(current_principal(), object_name, record_id, json_body()), 201


@bp.delete("/records/<object_name>/<record_id>/shares/<int:share_id>")
def remove_share(object_name: str, record_id: str, share_id: int) -> tuple[str, int]:
    _service().unshare(current_principal(), object_name, record_id, share_id)
    return "", 204


@bp.post("/records/<object_name>/<record_id>/transfer")
def transfer(object_name: str, record_id: str) -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict) or body.get("owner") is None:
        raise BadRequest("send {\"owner\": <username or user id>}")
    return _service().transfer(current_principal(), object_name, record_id, body["owner"])


@bp.post("/records/<object_name>/export")
def export_job(object_name: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A large export as a background job (same parameters as the GET, in the query
    string): 202 with the job; ``GET /api/v1/jobs/<id>`` reports its progress and
    ``GET /api/v1/jobs/<id>/file`` gives the file once it is done."""
    params = [(k, v) for k, v in request.args.items(multi=True)
              if k not in ("format", "headers", "lang")]
    job_id = job_kinds.submit_export(current_tenant(), current_principal(), object_name,
                                     params, request.args.get("format", "xlsx"),
                                     request.args.get("headers", "labels"), request_lang())
    return {"id": job_id, "status": "queued"}, 202, {"Location": f"/api/v1/jobs/{job_id}"}


@bp.get("/records/<object_name>/export")
def export(object_name: str) -> Response:
    """Every matching record the caller may export, as XLSX or CSV (``format``), headers as
    labels or API names (``headers``), lookups as titles, picklists as labels."""
    fmt = request.args.get("format", "csv")
    if fmt not in FORMATS:
        raise BadRequest("format is csv or xlsx", {"format": ["csv or xlsx"]})
    params = [(k, v) for k, v in request.args.items(multi=True)
              if k not in ("format", "headers", "lang")]
    sheet = SheetExport(_service(), current_principal(), object_name, parse_list_query(params),
                        headers=request.args.get("headers", "labels"), lang=request_lang())
    if fmt == "xlsx":
        return Response(xlsx_file(sheet), mimetype=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{object_name}.xlsx"'})
    chunks = csv_chunks(sheet)
    # The header and the first row now: the first page is read (and audited) before the
    # answer starts, so a refusal is still a proper error answer.
    first = [next(chunks), next(chunks, b"")]
    return Response(stream_with_context(itertools.chain(first, chunks)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{object_name}.csv"'})
