"""Imports as the API and the wizard see them: submit (checked before anything is
stored), preview, status, which rows landed, the error file's rows, cancel and undo.

Who sees an import: the user who started it, and administrators (like jobs); anyone else
gets 404, as for an import that does not exist. Messages leave here in English, except
validation rule messages, which are in the language of the import; the web layer
translates the rest for its reader (``translate``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa

from ...core.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from ...security.principal import Principal
from .. import job_kinds, jobs
from ..context import Ctx, open_ctx
from ..instance import Tenant
from ..records import RecordService
from . import mapping
from .cells import DATE_ORDERS
from .reading import DELIMITERS, ENCODINGS, Sheet, data_rows, sniff
from .tables import PIECE, blobs, errors, imports, landed, tables

Translate = Callable[[str], str]
#: A refused row: its number in the file, its cells, its (field, message) problems.
FailedRow = tuple[int, list[Any], list[tuple[str | None, str]]]
#: Errors one status answer lists (all of them are in the error file and in /rows).
STATUS_ERRORS = 1000
PREVIEW_ROWS = 10


def max_bytes() -> int:
    """The largest file one import takes (``CRMFORGE_IMPORT_MAX_BYTES``, default 50 MiB)."""
    raw = os.environ.get("CRMFORGE_IMPORT_MAX_BYTES", "")
    return max(1, int(raw)) if raw.isdigit() else 50 * 1024 * 1024


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Options:
    """How to read and apply a file, as sent with it."""

    mode: str = "create"
    key: str | None = None
    mapping: Mapping[str, Any] | None = None
    dry_run: bool = False
    all_or_none: bool = True
    encoding: str = "auto"
    delimiter: str | None = None
    sheet: str | None = None
    date_order: str = "auto"
    blank_clears: bool = False

    @classmethod
    def parse(cls, form: Mapping[str, Any]) -> Options:
        """From a multipart form's fields (text) or a JSON object."""
        raw = form.get("mapping")
        parsed: Any = None
        if isinstance(raw, str) and raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise BadRequest("mapping is a JSON object {\"<column header>\": \"<field>\"}",
                                 {"mapping": ["not JSON"]}) from None
        elif isinstance(raw, Mapping):
            parsed = raw
        if parsed is not None and not isinstance(parsed, Mapping):
            raise BadRequest("mapping is a JSON object {\"<column header>\": \"<field>\"}",
                             {"mapping": ["not an object"]})
        encoding = str(form.get("encoding") or "auto").lower()
        if encoding not in ENCODINGS:
            raise BadRequest(f"encoding is one of {', '.join(ENCODINGS)}",
                             {"encoding": ["not a known encoding"]})
        delimiter = form.get("delimiter") or None
        if delimiter == "tab":
            delimiter = "\t"
        if delimiter is not None and delimiter not in DELIMITERS:
            raise BadRequest("delimiter is one of , ; | tab", {"delimiter": ["not a delimiter"]})
        date_order = str(form.get("date_order") or "auto")
        if date_order not in DATE_ORDERS:
            raise BadRequest("date_order is auto, dmy or mdy", {"date_order": ["not an order"]})
        key = form.get("key") or None
        return cls(mode=str(form.get("mode") or "create"),
                   key=str(key) if key is not None else None, mapping=parsed,
                   dry_run=_flag(form, "dry_run", False),
                   all_or_none=_flag(form, "all_or_none", True), encoding=encoding,
                   delimiter=delimiter, sheet=str(form.get("sheet") or "") or None,
                   date_order=date_order, blank_clears=_flag(form, "blank_clears", False))


def _flag(form: Mapping[str, Any], name: str, default: bool) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"{name} is true or false", {name: ["true or false"]})


class ImportService:
    def __init__(self, tenant: Tenant, service: RecordService | None = None) -> None:
        self.tenant = tenant
        self.records = service or RecordService(tenant)

    def _ctx(self, conn: sa.Connection, principal: Principal, object_name: Any) -> Ctx:
        if not isinstance(object_name, str) or not object_name:
            raise BadRequest("object names the object to import into", {"object": ["required"]})
        return open_ctx(self.tenant, self.records.permissions, conn, principal, object_name)

    # -- before the job ----------------------------------------------------------------
    def _prepare(self, principal: Principal, object_name: Any, fh: IO[bytes], size: int,
                 options: Options) -> tuple[Ctx, Sheet, str, str | None]:
        if size > max_bytes():
            raise PayloadTooLarge(f"the file is larger than the limit of {max_bytes():,} bytes")
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name)
            mode, key = mapping.check_mode(ctx, options.mode, options.key)
        sheet = sniff(fh, encoding=options.encoding, delimiter=options.delimiter,
                      sheet=options.sheet)
        return ctx, sheet, mode, key

    def preview(self, principal: Principal, object_name: Any, fh: IO[bytes], size: int,
                options: Options) -> dict[str, Any]:
        """What the wizard's mapping step shows: the headers, the proposed (or sent)
        mapping, the fields a column may map to and the first rows."""
        ctx, sheet, mode, key = self._prepare(principal, object_name, fh, size, options)
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name)
            proposal = mapping.propose(ctx, sheet.headers, mode, key)
            if options.mapping is not None:
                proposal = {h: (options.mapping.get(h) or None) for h in sheet.headers}
            fields = [_field_entry(ctx, f) for f in mapping.importable(ctx)]
            readable = ctx.access.readable(ctx.obj)
            keys = [f.name for f in ctx.obj.fields if f.unique and f.name in readable]
        rows = []
        for _, cells in data_rows(fh, sheet):
            rows.append([_shown(c) for c in cells[:len(sheet.headers)]])
            if len(rows) >= PREVIEW_ROWS:
                break
        mapped = {v for v in proposal.values() if v}
        missing = [f["name"] for f in fields
                   if f["required"] and f["name"] not in {str(m).partition(".")[0] for m in mapped}]
        return {"object": ctx.obj.name, "format": sheet.format, "encoding": sheet.encoding,
                "delimiter": sheet.delimiter, "sheet": sheet.sheet, "sheets": sheet.sheets,
                "headers": sheet.headers, "mapping": proposal, "fields": fields,
                "keys": (["id"] if mode == "update" else []) + keys, "rows": rows,
                "missing_required": missing if mode != "update" else []}

    def submit(self, principal: Principal, object_name: Any, fh: IO[bytes], file_name: str,
               size: int, options: Options, lang: str = "en") -> dict[str, Any]:
        """Check everything that can be checked up front, store the file and its import,
        and start the job; 202 ``{"id", "status"}``."""
        ctx, sheet, mode, key = self._prepare(principal, object_name, fh, size, options)
        with self.tenant.read() as conn:
            ctx = self._ctx(conn, principal, object_name)
            plan = mapping.plan(ctx, sheet.headers, options.mapping, mode, key)
        _ensure(self.tenant)
        stored = {"dry_run": options.dry_run, "all_or_none": options.all_or_none,
                  "encoding": sheet.encoding, "delimiter": sheet.delimiter,
                  "sheet": sheet.sheet, "date_order": options.date_order,
                  "blank_clears": options.blank_clears}
        with self.tenant.write() as conn:
            jid = job_kinds.submit(self.tenant, "import", {"object": ctx.obj.name},
                                   by=principal.label)
            digest = hashlib.sha256()
            fh.seek(0)
            seq = 0
            while True:
                piece = fh.read(PIECE)
                if not piece:
                    break
                digest.update(piece)
                conn.execute(blobs.insert().values(import_id=jid, seq=seq, data=piece))
                seq += 1
            conn.execute(imports.insert().values(
                id=jid, object=ctx.obj.name, mode=mode, key=key,
                mapping=json.dumps(plan.as_json(), ensure_ascii=False),
                options=json.dumps(stored, ensure_ascii=False),
                file_name=(file_name or "upload")[:255], file_size=size,
                file_format=sheet.format, headers=json.dumps(sheet.headers, ensure_ascii=False),
                lang=lang if lang in ("zh", "en") else "en", created_by=principal.label,
                created_by_id=principal.user_id, created_at=_now(), processed=0, created=0,
                updated=0, failed=0, rolled_back=0, undone=0))
        return {"id": jid, "status": jobs.QUEUED}

    # -- reading an import -------------------------------------------------------------
    def _row(self, principal: Principal, import_id: int) -> tuple[Any, jobs.Job]:
        _ensure(self.tenant)
        job = jobs.JobStore(self.tenant).read(principal, import_id)
        with self.tenant.read() as conn:
            row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).first()
        if row is None or job.kind != "import":
            raise NotFound(f"no import {import_id}")
        return row, job

    def status(self, principal: Principal, import_id: int, translate: Translate = _same,
               limit: int = STATUS_ERRORS) -> dict[str, Any]:
        row, job = self._row(principal, import_id)
        with self.tenant.read() as conn:
            found = conn.execute(sa.select(errors.c.row, errors.c.errors).where(
                errors.c.import_id == import_id).order_by(errors.c.row).limit(limit + 1)).all()
            undo = _undo_state(conn, row)
        listed: list[dict[str, Any]] = []
        if row.file_error:
            listed.append({"row": None, "field": None, "message": translate(row.file_error)})
        for r in found[:limit]:
            listed.extend({"row": int(r.row), "field": f, "message": translate(m)}
                          for f, m in json.loads(r.errors))
        return {**_summary(row, job), "errors": listed, "errors_truncated": len(found) > limit,
                "undo": undo}

    def recent(self, principal: Principal, limit: int = 50) -> list[dict[str, Any]]:
        """The caller's imports (administrators: everyone's), newest first."""
        _ensure(self.tenant)
        j = jobs.job_rows
        with self.tenant.read() as conn:
            q = sa.select(imports, j.c.status.label("job_status"),
                          j.c.processed.label("job_processed"), j.c.error.label("job_error")
                          ).join(j, j.c.id == imports.c.id)
            if not (principal.is_admin or principal.is_system):
                q = q.where(imports.c.created_by == principal.label)
            rows = conn.execute(q.order_by(imports.c.id.desc()).limit(max(1, min(limit, 200))))
            out = []
            for r in rows:
                job = jobs.Job(int(r.id), "import", r.job_status, {}, None,
                               int(r.job_processed or 0), None, 0, r.job_error)
                out.append(_summary(r, job))
        return out

    def rows(self, principal: Principal, import_id: int, after: int = 0,
             limit: int = 500) -> dict[str, Any]:
        """Row by row what became of the file's rows: created or updated (with the record
        id) or failed, after file row ``after``."""
        self._row(principal, import_id)
        limit = max(1, min(limit, 5000))
        items: list[dict[str, Any]] = []
        with self.tenant.read() as conn:
            for r in conn.execute(sa.select(landed).where(
                    landed.c.import_id == import_id, landed.c.last_row > after)
                    .order_by(landed.c.first_row)):
                items += [{"row": n, "status": "created", "id": rid}
                          for n, rid in json.loads(r.created) if n > after]
                items += [{"row": n, "status": "updated", "id": rid}
                          for n, rid in json.loads(r.updated) if n > after]
                if len(items) > limit * 2:
                    break
            items += [{"row": int(r.row), "status": "failed", "id": None}
                      for r in conn.execute(sa.select(errors.c.row).where(
                          errors.c.import_id == import_id, errors.c.row > after)
                          .order_by(errors.c.row).limit(limit + 1))]
        items.sort(key=lambda i: int(i["row"]))
        page = items[:limit]
        return {"items": page, "next_after": page[-1]["row"] if len(items) > limit else None}

    def failed_rows(self, principal: Principal, import_id: int
                    ) -> tuple[list[str], Iterator[FailedRow], dict[str, str]]:
        """The file's headers, its refused rows (row, cells, messages) and, per field, the
        header of the column that filled it: what the error file is made of."""
        row, _ = self._row(principal, import_id)
        headers: list[str] = json.loads(row.headers)
        columns = {str(name).partition(".")[0]: str(header)
                   for _, header, name in json.loads(row.mapping)}

        def rows() -> Iterator[FailedRow]:
            after = 0
            while True:
                with self.tenant.read() as conn:
                    page = conn.execute(sa.select(errors).where(
                        errors.c.import_id == import_id, errors.c.row > after)
                        .order_by(errors.c.row).limit(500)).all()
                if not page:
                    return
                for r in page:
                    cells = [_cell_value(c) for c in json.loads(r.cells)]
                    yield int(r.row), cells, [(f, m) for f, m in json.loads(r.errors)]
                after = int(page[-1].row)

        return headers, rows(), columns

    def cancel(self, principal: Principal, import_id: int) -> dict[str, Any]:
        self._row(principal, import_id)
        jobs.JobStore(self.tenant).cancel_for(principal, import_id)
        return self.status(principal, import_id)

    def undo(self, principal: Principal, import_id: int) -> dict[str, Any]:
        """Move the records the import created to the recycle bin, as a job."""
        row, job = self._row(principal, import_id)
        if job.status != jobs.DONE or row.outcome != "done":
            raise Conflict("only a finished import can be undone")
        options = json.loads(row.options)
        if options.get("dry_run"):
            raise Conflict("a dry run created nothing to undo")
        if row.undo_job is not None:
            raise Conflict("the import is already undone (or being undone)")
        if not row.created:
            raise Conflict("the import created no records")
        with self.tenant.write() as conn:
            ctx = self._ctx(conn, principal, row.object)
            ctx.access.check(ctx.obj, "delete")
            jid = job_kinds.submit(self.tenant, "import_undo", {"import": import_id},
                                   by=principal.label)
            taken = conn.execute(imports.update().where(
                imports.c.id == import_id, imports.c.undo_job.is_(None))
                .values(undo_job=jid)).rowcount
            if taken != 1:
                raise Conflict("the import is already undone (or being undone)")
        return self.status(principal, import_id)


def _ensure(tenant: Tenant) -> None:
    """The import tables and the job tables they refer to (both made on first use)."""
    jobs.JobStore(tenant)
    tables.ensure(tenant)


def _summary(row: Any, job: jobs.Job) -> dict[str, Any]:
    options = json.loads(row.options)
    if job.status in (jobs.QUEUED, jobs.RUNNING, jobs.CANCELLED):
        status = job.status
    elif job.status == jobs.FAILED:
        status = jobs.FAILED
    else:
        status = row.outcome or jobs.DONE
    processed = int(row.processed or 0)
    if job.status == jobs.RUNNING:
        processed = max(processed, job.processed)
    return {"id": int(row.id), "object": row.object, "status": status, "mode": row.mode,
            "key": row.key, "dry_run": bool(options.get("dry_run")),
            "all_or_none": bool(options.get("all_or_none", True)),
            "file": {"name": row.file_name, "size": int(row.file_size),
                     "format": row.file_format},
            "total": None if row.total is None else int(row.total), "processed": processed,
            "created": int(row.created or 0), "updated": int(row.updated or 0),
            "failed": int(row.failed or 0), "rolled_back": int(row.rolled_back or 0),
            "error": row.file_error or (job.error if job.status == jobs.FAILED else None),
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(timespec="seconds") + "Z",
            "finished_at": row.finished_at.isoformat(timespec="seconds") + "Z"
            if row.finished_at else None}


def _undo_state(conn: sa.Connection, row: Any) -> dict[str, Any] | None:
    if row.undo_job is None:
        return None
    status = conn.execute(sa.select(jobs.job_rows.c.status).where(
        jobs.job_rows.c.id == row.undo_job)).scalar()
    failed = json.loads(row.undo_failed or "[]")
    return {"job": int(row.undo_job), "status": status, "deleted": int(row.undone or 0),
            "failed": [{"id": rid, "message": m} for rid, m in failed]}


def _field_entry(ctx: Ctx, f: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f.name, "label": {k: str(v) for k, v in
                                                      (f.options.get("label") or {}).items()},
                             "type": f.type, "required": f.required, "unique": f.unique}
    if f.type in mapping.REFERENCES:
        parent = ctx.snapshot.object(f.target or "")
        if parent is not None and ctx.access.allowed(parent, "read"):
            readable = ctx.access.readable(parent)
            entry["matches"] = [p.name for p in parent.fields
                                if p.unique and p.name in readable]
    return entry


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _cell_value(value: Any) -> Any:
    if isinstance(value, dict) and "d" in value:
        text = str(value["d"])
        for parse in (dt.datetime.fromisoformat, dt.date.fromisoformat):
            try:
                return parse(text)
            except ValueError:
                continue
        return text
    return value


__all__ = ["ImportService", "Options", "max_bytes"]
