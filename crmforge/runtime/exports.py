"""Records as a spreadsheet user expects them: XLSX or CSV, labels as headers, lookups as
the titles of the records they point at, picklists as their labels, numbers as numbers.

The rows come from ``RecordService.export`` (the reader's visibility, readable fields,
derived values masked, every page audited); this module only shapes them. A lookup shows
the title of a record the reader may see, else its id; a title field hidden from the
reader shows the id too. Files are streamed: the XLSX is written by openpyxl's write-only
workbook to a temporary file, so memory stays flat whatever the number of rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import sqlalchemy as sa

from ..core.errors import BadRequest
from ..core.filters import ListQuery
from ..metadata.model import FieldDef, ObjectDef
from ..security.principal import Principal
from ..security.tables import users
from .context import open_ctx
from .records import RecordService

FORMATS = ("csv", "xlsx")
HEADERS = ("labels", "names")
REFERENCES = frozenset({"lookup", "master_detail"})
NUMERIC = frozenset({"integer", "decimal", "currency", "percent"})
#: Rows resolved together (lookup titles, owners): one query per target per batch.
BATCH = 500
#: System columns of every export, with their labels.
SYSTEM = (("created_at", {"en": "Created at", "zh": "创建时间"}),
          ("updated_at", {"en": "Updated at", "zh": "更新时间"}),
          ("owner_id", {"en": "Owner", "zh": "负责人"}))


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    field: FieldDef | None


class SheetExport:
    """One export: its columns, then its rows as Python values."""

    def __init__(self, service: RecordService, principal: Principal, object_name: str,
                 q: ListQuery, *, headers: str = "labels", lang: str = "en") -> None:
        if headers not in HEADERS:
            raise BadRequest("headers is labels or names", {"headers": ["labels or names"]})
        self.service, self.principal, self.q, self.lang = service, principal, q, lang
        tenant = service.tenant
        with tenant.read() as conn:
            ctx = open_ctx(tenant, service.permissions, conn, principal, object_name)
            ctx.access.check(ctx.obj, "export")
            readable = ctx.access.readable(ctx.obj)
        self.obj: ObjectDef = ctx.obj
        self.snapshot = ctx.snapshot
        self.access = ctx.access
        wanted = set(q.fields) if q.fields is not None else None
        by_label = headers == "labels"
        cols = [Column("id", "ID" if by_label else "id", None)]
        cols += [Column(f.name, f.label(lang) if by_label else f.name, f)
                 for f in self.obj.fields
                 if f.name in readable and f.type != "file"
                 and (wanted is None or f.name in wanted)]
        cols += [Column(name, str(labels.get(lang) or labels["en"]) if by_label else name, None)
                 for name, labels in SYSTEM if wanted is None or name in wanted]
        self.columns = cols

    def rows(self) -> Iterator[list[Any]]:
        batch: list[Mapping[str, Any]] = []
        for record in self.service.export(self.principal, self.obj.name, self.q):
            batch.append(record)
            if len(batch) >= BATCH:
                yield from self._shape(batch)
                batch = []
        if batch:
            yield from self._shape(batch)

    def _shape(self, records: list[Mapping[str, Any]]) -> Iterator[list[Any]]:
        titles = self._titles(records)
        owners = self._owners(records)
        for r in records:
            out: list[Any] = []
            for c in self.columns:
                value = r.get(c.name)
                if c.name == "owner_id":
                    out.append(owners.get(value, value))
                elif c.field is None:
                    out.append(_system_value(c.name, value))
                else:
                    out.append(self._value(c.field, value, titles))
            yield out

    def _value(self, f: FieldDef, value: Any, titles: Mapping[tuple[str, int], str]) -> Any:
        if value is None or value == "":
            return None
        if f.type in REFERENCES and f.target:
            return titles.get((f.target, value), value)
        if f.type == "picklist":
            return f.choice_label(value, self.lang)
        if f.type == "multipicklist" and isinstance(value, list):
            return ";".join(f.choice_label(v, self.lang) for v in value)
        if f.type == "boolean":
            return bool(value)
        result = str(f.options.get("result_type") or f.type) if f.type in ("formula", "rollup") \
            else f.type
        if result in NUMERIC or (f.type == "rollup" and result not in ("date", "datetime")):
            return _number(value)
        if result == "boolean":
            return bool(value)
        if result == "date":
            return _date(value)
        if result == "datetime":
            return _datetime(value)
        if isinstance(value, list):
            return ";".join(str(v) for v in value)
        return value

    def _titles(self, records: list[Mapping[str, Any]]) -> dict[tuple[str, int], str]:
        """Titles of the referenced records the reader may see (one list per target)."""
        wanted: dict[str, set[int]] = {}
        for c in self.columns:
            if c.field is not None and c.field.type in REFERENCES and c.field.target:
                wanted.setdefault(c.field.target, set()).update(
                    r[c.name] for r in records if isinstance(r.get(c.name), int))
        return self.service.titles(self.principal, wanted)

    def _owners(self, records: list[Mapping[str, Any]]) -> dict[Any, str]:
        ids = sorted({r["owner_id"] for r in records if isinstance(r.get("owner_id"), int)})
        if not ids or not any(c.name == "owner_id" for c in self.columns):
            return {}
        with self.service.tenant.read() as conn:
            return {row.id: row.username for row in conn.execute(
                sa.select(users.c.id, users.c.username).where(users.c.id.in_(ids)))}


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return value
    return int(number) if number == number.to_integral_value() and "." not in str(value) \
        else number


def _date(value: Any) -> Any:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return value


def _datetime(value: Any) -> Any:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return value


def _system_value(name: str, value: Any) -> Any:
    return _datetime(value) if name in ("created_at", "updated_at") and value else value


def _text(value: Any) -> str:
    """A cell as CSV text; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not isinstance(value, int | Decimal):
        return "'" + text
    return text


def csv_chunks(export: SheetExport) -> Iterator[bytes]:
    """The CSV, UTF-8 with a BOM (so Excel shows Chinese correctly), streamed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in export.columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for row in export.rows():
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_text(v) for v in row])
        yield buffer.getvalue().encode()


def xlsx_file(export: SheetExport) -> Iterable[bytes]:
    """The workbook, written row by row to a temporary file, then streamed from it."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=export.obj.label(export.lang)[:31] or "records")
    sheet.append([c.header for c in export.columns])
    for row in export.rows():
        sheet.append([typed_cell(sheet, value) for value in row])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the generator that streams it
    book.save(handle)
    handle.seek(0)
    return file_chunks(handle)


def typed_cell(sheet: Any, value: Any) -> Any:
    """A write-only cell that keeps text as text ("=1+1" is not a formula here) and shows
    dates and times as such (exports and import error files)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    elif isinstance(value, dt.datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, dt.date):
        cell.number_format = "yyyy-mm-dd"
    return cell


def file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """Stream a temporary file in blocks, closing it at the end."""
    with handle:
        while True:
            block = handle.read(65536)
            if not block:
                return
            yield block


__all__ = ["FORMATS", "HEADERS", "SheetExport", "csv_chunks", "xlsx_file"]
