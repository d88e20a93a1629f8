"""The import job (kind ``import``): the stored file's rows through the record service, as
the importing user, in chunks.

- **All or none** (the default) and **dry runs**: one write transaction for the whole
  file; every row is tried (the record service writes each chunk's good rows together,
  and a refused row leaves nothing), and at the end the transaction commits only when no
  row was refused and it is not a dry run. The refused rows are then recorded in a short
  transaction of their own. On PostgreSQL progress is reported as chunks pass; SQLite has
  one writer, so there the progress shows when the transaction ends.
- **Per-row commits** (``all_or_none=false``): each chunk commits on its own with its
  report (which rows landed with which ids, which were refused and why, the counts), so a
  crash or a cancel between chunks leaves an exact account and the job resumes after the
  last chunk recorded. Other writers get the lock between chunks.

Every row is converted (``cells``), checked against the rows before it in the file
(a key or unique value twice is refused on the later row), matched by its key (update and
upsert, among the records the user may see) and written by ``RecordService.create_each``
or ``update_each``: permissions, defaults, validation rules, formulas, roll-ups, triggers,
history and approvals as for any other write.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa

from ...core import clock
from ...core.errors import CRMError, NotFound, Unavailable
from ...security.accounts import principal_of
from ...security.principal import Principal
from ..context import Ctx, open_ctx
from ..jobs import Cancelled, JobContext
from ..records import RecordService
from . import mapping
from .cells import Converter, Work, text_of
from .reading import FileProblem, Sheet, count_rows, data_rows, sniff
from .tables import blobs, errors, imports, landed, tables


def chunk_size() -> int:
    """Rows per chunk (``CRMFORGE_IMPORT_CHUNK``, default 1,000)."""
    raw = os.environ.get("CRMFORGE_IMPORT_CHUNK", "")
    return max(1, int(raw)) if raw.isdigit() else 1000


def _now() -> dt.datetime:
    return clock.now().replace(tzinfo=None)


class _RollBack(Exception):
    """Leave the all-or-none transaction so that it rolls back."""


@dataclass
class Tally:
    """What the rows came to: landed pairs, refused rows, counts."""

    created: list[tuple[int, int]] = field(default_factory=list)
    updated: list[tuple[int, int]] = field(default_factory=list)
    refused: list[Work] = field(default_factory=list)
    processed: int = 0
    last_row: int = 0

    def add(self, other: Tally) -> None:
        self.created += other.created
        self.updated += other.updated
        self.refused += other.refused
        self.processed += other.processed
        self.last_row = max(self.last_row, other.last_row)


@dataclass
class Seen:
    """Key and unique values met so far in the file: value -> first row."""

    values: dict[str, dict[Any, int]] = field(default_factory=dict)


class Importer:
    """One run of one import."""

    def __init__(self, jctx: JobContext, row: Any, principal: Principal) -> None:
        self.jctx = jctx
        self.tenant = jctx.tenant
        self.row = row
        self.principal = principal
        self.options: dict[str, Any] = json.loads(row.options)
        self.names = {str(header): str(name) for _, header, name in json.loads(row.mapping)}
        self.headers: list[str] = json.loads(row.headers)
        self.service = RecordService(self.tenant)
        self.seen = Seen()

    # -- the file ----------------------------------------------------------------------------
    def open_file(self) -> IO[bytes]:
        handle = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        with self.tenant.read() as conn:
            for (data,) in conn.execute(sa.select(blobs.c.data).where(
                    blobs.c.import_id == self.row.id).order_by(blobs.c.seq)):
                handle.write(data)
        handle.seek(0)
        return handle

    def sheet(self, fh: IO[bytes]) -> Sheet:
        return sniff(fh, encoding=self.options.get("encoding") or "auto",
                     delimiter=self.options.get("delimiter"), sheet=self.options.get("sheet"))

    def chunks(self, fh: IO[bytes], sheet: Sheet, after: int) -> Iterator[list[tuple[int, list[Any]]]]:
        size = chunk_size()
        batch: list[tuple[int, list[Any]]] = []
        for number, cells in data_rows(fh, sheet):
            if number <= after:
                continue
            batch.append((number, cells))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- one chunk -----------------------------------------------------------------------
    def chunk(self, conn: sa.Connection, rows: list[tuple[int, list[Any]]]) -> Tally:
        ctx = open_ctx(self.tenant, self.service.permissions, conn, self.principal,
                       self.row.object)
        plan = mapping.plan(ctx, self.headers, self.names, self.row.mode, self.row.key)
        works = Converter(ctx, plan, csv=self.row.file_format == "csv",
                          date_order=self.options.get("date_order") or "auto",
                          blank_clears=bool(self.options.get("blank_clears"))).convert(rows)
        self._duplicates(ctx, works)
        if plan.mode != "create":
            self._match(ctx, plan, works)
        # Rows refused for cells that could not be read (not for their key): the record
        # service checks their other cells too, so the report names every problem at once.
        unread = [w for w in works if w.errors and not w.settled and w.record_id is None
                  and plan.mode != "update"]
        creates = [w for w in works if not w.errors and w.record_id is None]
        updates = [w for w in works if not w.errors and w.record_id is not None]
        lang = self.row.lang
        tally = Tally(processed=len(works), last_row=works[-1].row if works else 0)
        if creates:
            for w, result in zip(creates, self.service.create_each(
                    self.principal, self.row.object, [w.payload for w in creates], lang),
                    strict=True):
                if isinstance(result, CRMError):
                    _refuse(w, result)
                else:
                    tally.created.append((w.row, result))
        if updates:
            key = self.row.key
            items = [(int(w.record_id or 0), {k: v for k, v in w.payload.items() if k != key})
                     for w in updates]
            for w, result in zip(updates, self.service.update_each(
                    self.principal, self.row.object, items, lang), strict=True):
                if isinstance(result, CRMError):
                    _refuse(w, result)
                else:
                    tally.updated.append((w.row, result))
        if unread:
            self._more_problems(unread)
        tally.refused = [w for w in works if w.errors]
        return tally

    def _more_problems(self, unread: list[Work]) -> None:
        """What the record service says of the rest of rows whose cells could not all be
        read (a required field left empty, a validation rule), without the fields whose
        cells were refused."""
        payloads = [{k: v for k, v in w.payload.items()
                     if k not in {f for f, _ in w.errors}} for w in unread]
        for w, result in zip(unread, self.service.check_each(
                self.principal, self.row.object, payloads, self.row.lang), strict=True):
            if result is None:
                continue
            bad = {f for f, _ in w.errors}
            before = list(w.errors)
            _refuse(w, result)
            # the cells already refused are not "required" again
            w.errors = before + [(f, m) for f, m in w.errors[len(before):] if f not in bad]

    def _duplicates(self, ctx: Ctx, works: list[Work]) -> None:
        """A key or unique value met in an earlier row of the file refuses the row."""
        names = [f.name for f in ctx.obj.fields if f.unique]
        key = self.row.key
        for w in works:
            if w.errors:
                continue
            checks = [(n, w.payload.get(n)) for n in names if w.payload.get(n) is not None]
            if key == "id" and w.key is not None:
                checks.append(("id", text_of(w.key)))
            for name, value in checks:
                first = self.seen.values.setdefault(name, {}).setdefault(_hashable(value), w.row)
                if first != w.row:
                    w.refuse(name, f"the value is also in row {first} of the file")
                    w.settled = True

    def _match(self, ctx: Ctx, plan: mapping.Plan, works: list[Work]) -> None:
        """The records the rows' keys find, among those the user may see."""
        key = plan.key or "id"
        t = ctx.table
        f = ctx.obj.field(key)
        wanted: dict[Any, list[Work]] = {}
        for w in works:
            if w.errors:
                continue
            value = w.payload.get(key) if f is not None else w.key
            if value is None:
                w.refuse(key, "is required to find the record")
                w.settled = True
                continue
            if f is None:  # the record id
                try:
                    value = int(text_of(value).strip())
                except ValueError:
                    w.refuse("id", f"'{text_of(value)[:40]}' is not a record id")
                    w.settled = True
                    continue
            elif not isinstance(value, str):
                try:
                    value = f.kind.to_python(f, value, lenient=True)
                except Exception:  # noqa: S112 - the service names the value's problem
                    continue
            wanted.setdefault(_hashable(value), []).append(w)
        col = t.c[key]
        visible = ctx.access.visibility(ctx.obj, t)
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            for value, rid in ctx.conn.execute(sa.select(col, t.c.id).where(
                    col.in_(keys[start:start + 500]), t.c.deleted_at.is_(None), visible)):
                for w in wanted.get(_hashable(value), []):
                    w.record_id = int(rid)
        if plan.mode == "update":
            for w in works:
                if not w.errors and w.record_id is None:
                    shown = text_of(w.payload.get(key) if f is not None else w.key)[:60]
                    w.refuse(key, f"no {ctx.obj.name} record with {key} '{shown}'")

    # -- running ------------------------------------------------------------------------
    def run(self) -> None:
        fh = self.open_file()
        try:
            try:
                sheet = self.sheet(fh)
                total = count_rows(fh, sheet)
            except FileProblem as exc:
                self.finish_failed(exc.message)
                return
            self.set_total(total)
            self.jctx.report(0, None, total)
            if self.options.get("dry_run") or self.options.get("all_or_none", True):
                self.run_atomic(fh, sheet, total)
            else:
                self.run_chunked(fh, sheet, total)
        finally:
            fh.close()

    def run_atomic(self, fh: IO[bytes], sheet: Sheet, total: int) -> None:
        tally = Tally()
        problem: str | None = None
        dry = bool(self.options.get("dry_run"))
        committed = False
        try:
            with self.tenant.write() as conn:
                try:
                    for rows in self.chunks(fh, sheet, 0):
                        tally.add(self.chunk(conn, rows))
                        self.jctx.report(tally.processed, None, max(total, tally.processed),
                                         detached=True)
                except FileProblem as exc:
                    problem = exc.message
                if problem is not None or dry or tally.refused:
                    raise _RollBack
                self.record(conn, tally, outcome="done", total=tally.processed)
                self.jctx.beat(conn)
                committed = True
        except _RollBack:
            pass
        except Unavailable:
            raise  # the database is busy or full for now: the job is tried again
        except CRMError as exc:  # the object or a field went away meanwhile
            problem = exc.message
        if committed:
            return
        with self.tenant.write() as conn:
            if dry and problem is None:  # what would have happened
                self.record(conn, tally, outcome="done", total=tally.processed, landed_rows=False)
            else:
                kept = Tally(refused=tally.refused, processed=tally.processed)
                self.record(conn, kept, outcome="failed", total=tally.processed,
                            rolled_back=len(tally.created) + len(tally.updated),
                            file_error=problem)

    def run_chunked(self, fh: IO[bytes], sheet: Sheet, total: int) -> None:
        # Resuming after a crash: the rows of committed chunks are done (their unique
        # values are held by their records now, which the record service checks).
        after, processed = self.resume_point()
        try:
            for rows in self.chunks(fh, sheet, after):
                with self.tenant.write() as conn:
                    tally = self.chunk(conn, rows)
                    self.record(conn, tally)
                processed += tally.processed
                self.jctx.report(processed, {"row": tally.last_row}, max(total, processed))
        except FileProblem as exc:
            self.finish_failed(exc.message)
            return
        except Cancelled:
            with self.tenant.write() as conn:
                conn.execute(imports.update().where(imports.c.id == self.row.id).values(
                    outcome="cancelled", finished_at=_now()))
            raise
        with self.tenant.write() as conn:
            conn.execute(imports.update().where(imports.c.id == self.row.id).values(
                outcome="done", finished_at=_now(), total=imports.c.processed))

    def resume_point(self) -> tuple[int, int]:
        """The last file row a committed chunk reported, and how many rows were done."""
        with self.tenant.read() as conn:
            last = conn.execute(sa.select(sa.func.max(landed.c.last_row)).where(
                landed.c.import_id == self.row.id)).scalar()
            last_error = conn.execute(sa.select(sa.func.max(errors.c.row)).where(
                errors.c.import_id == self.row.id)).scalar()
            processed = conn.execute(sa.select(imports.c.processed).where(
                imports.c.id == self.row.id)).scalar()
        return max(int(last or 0), int(last_error or 0)), int(processed or 0)

    def record(self, conn: sa.Connection, tally: Tally, *, outcome: str | None = None,
               total: int | None = None, rolled_back: int = 0, file_error: str | None = None,
               landed_rows: bool = True) -> None:
        """The chunk's (or the run's) report, in the transaction of its rows."""
        pairs = tally.created + tally.updated
        if landed_rows and pairs:
            size = chunk_size()
            created, updated = sorted(tally.created), sorted(tally.updated)
            rows = sorted(r for r, _ in pairs)
            for start in range(0, len(rows), size):
                lo, hi = rows[start], rows[min(start + size, len(rows)) - 1]
                conn.execute(landed.insert().values(
                    import_id=self.row.id, first_row=lo, last_row=hi,
                    created=json.dumps([p for p in created if lo <= p[0] <= hi]),
                    updated=json.dumps([p for p in updated if lo <= p[0] <= hi])))
        if tally.refused:
            conn.execute(errors.insert(), [
                {"import_id": self.row.id, "row": w.row,
                 "errors": json.dumps(w.errors, ensure_ascii=False),
                 "cells": json.dumps([_cell_json(c) for c in w.cells], ensure_ascii=False)}
                for w in tally.refused])
        values: dict[str, Any] = {
            "processed": imports.c.processed + tally.processed,
            "created": imports.c.created + len(tally.created),
            "updated": imports.c.updated + len(tally.updated),
            "failed": imports.c.failed + len(tally.refused),
            "rolled_back": imports.c.rolled_back + rolled_back}
        if outcome is not None:
            values.update(outcome=outcome, finished_at=_now())
        if total is not None:
            values["total"] = total
        if file_error is not None:
            values["file_error"] = file_error
        conn.execute(imports.update().where(imports.c.id == self.row.id).values(**values))

    def set_total(self, total: int) -> None:
        with self.tenant.write() as conn:
            conn.execute(imports.update().where(imports.c.id == self.row.id).values(total=total))

    def finish_failed(self, message: str) -> None:
        with self.tenant.write() as conn:
            conn.execute(imports.update().where(imports.c.id == self.row.id).values(
                outcome="failed", file_error=message[:2000], finished_at=_now()))


def _refuse(w: Work, exc: CRMError) -> None:
    if exc.fields:
        for key, messages in exc.fields.items():
            for message in messages:
                w.refuse(None if key == "__all__" else key, message)
    else:
        w.refuse(None, exc.message)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _cell_json(value: Any) -> Any:
    """A cell as stored for the error file: JSON values, dates as ISO text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return {"d": value.isoformat()}
    return str(value)


def handle(jctx: JobContext) -> None:
    """The ``import`` job's handler."""
    tenant = jctx.tenant
    tables.ensure(tenant)
    with tenant.read() as conn:
        row = conn.execute(sa.select(imports).where(imports.c.id == jctx.job.id)).first()
        if row is None:
            return  # nothing to import (the import row went with its tenant's reset)
        if row.outcome is not None:
            return  # finished before a crash kept the job from saying so
        try:
            principal = principal_of(conn, row.created_by)
        except NotFound:
            principal = None
    importer = Importer(jctx, row, principal) if principal is not None else None
    if importer is None:
        with tenant.write() as conn:
            conn.execute(imports.update().where(imports.c.id == row.id).values(
                outcome="failed", finished_at=_now(),
                file_error=f"the user '{row.created_by}' who started the import is no longer "
                           "active"))
        return
    importer.run()


__all__ = ["Importer", "chunk_size", "handle"]
