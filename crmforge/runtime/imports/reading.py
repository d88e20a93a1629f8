"""Reading an uploaded file: what it is (CSV in any common encoding, or an XLSX workbook),
its header row, then its data rows as ``(row number, cells)``, streamed.

- XLSX is read by openpyxl in read-only (streaming) mode for values only: a formula cell
  gives the value Excel cached when it last saved the file, never a computation of ours;
  a formula without a cached value is an ``Uncomputed`` cell (a per-row error later). A
  password-protected workbook (an encrypted OLE file), a legacy ``.xls`` and a damaged
  archive are refused with a message that says which.
- CSV: the encoding is a byte order mark (UTF-8, UTF-16), else UTF-8 when every byte
  decodes as UTF-8, else GB18030 (which includes GBK and GB2312); the caller may name it.
  The delimiter is the most frequent of comma, semicolon, tab and bar in the header line.
- Rows are numbered as in the file: the header is row 1 (the first row of an XLSX sheet
  holding a value; in a CSV a quoted cell may span lines, a record is one row). Blank
  rows are skipped. The number of rows and columns and a cell's length are limited.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ...core.errors import ValidationFailed

#: Columns a file may have, and characters a header may have.
MAX_COLUMNS = 500
MAX_HEADER = 200
#: Characters one CSV cell may hold (a textarea holds at most 1,000,000).
MAX_CELL = 1_100_000
#: Uncompressed bytes of the sheet an XLSX may unpack to (a zip bomb stops here).
MAX_UNPACKED = 2 * 1024**3
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "big5", "utf-16",
             "shift_jis", "latin-1", "cp1252")
DELIMITERS = (",", ";", "\t", "|")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"

csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL))


def max_rows() -> int:
    """Data rows one import may have (``CRMFORGE_IMPORT_MAX_ROWS``, default 1,000,000)."""
    raw = os.environ.get("CRMFORGE_IMPORT_MAX_ROWS", "")
    return max(1, int(raw)) if raw.isdigit() else 1_000_000


class FileProblem(ValidationFailed):
    """The file cannot be read as a whole (not only one of its rows)."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message, {"file": [message]}, details={"row": row} if row else None)
        self.row = row


@dataclass(frozen=True)
class Uncomputed:
    """An XLSX formula cell whose file holds no computed value (saved by a program that
    does not calculate): we never evaluate formulas, so its row cannot be imported."""

    formula: str

    def __str__(self) -> str:
        return self.formula if self.formula.startswith("#") else "=" + self.formula


@dataclass
class Sheet:
    """What the file is and how to read it."""

    format: str  # csv | xlsx
    headers: list[str]
    header_row: int = 1
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    estimated_rows: int | None = None


def sniff(fh: IO[bytes], *, encoding: str = "auto", delimiter: str | None = None,
          sheet: str | None = None) -> Sheet:
    """Recognise the file and read its header row; a problem raises ``FileProblem``."""
    fh.seek(0)
    head = fh.read(8)
    fh.seek(0)
    if not head:
        raise FileProblem("the file is empty")
    if head.startswith(OLE_MAGIC):
        raise FileProblem(_ole_message(fh))
    if head.startswith(ZIP_MAGIC):
        return _sniff_xlsx(fh, sheet)
    return _sniff_csv(fh, encoding, delimiter)


def _ole_message(fh: IO[bytes]) -> str:
    """An OLE compound file is a password-protected Office file (its streams are named
    EncryptionInfo and EncryptedPackage) or a legacy Excel 97-2003 workbook."""
    fh.seek(0)
    data = fh.read(4 * 1024 * 1024)
    fh.seek(0)
    if "EncryptionInfo".encode("utf-16-le") in data or \
            "EncryptedPackage".encode("utf-16-le") in data:
        return ("the workbook is password-protected; remove the password in Excel "
                "(File, Info, Protect Workbook) and upload it again")
    return "the file is an Excel 97-2003 workbook (.xls); save it as .xlsx or CSV and upload it again"


# -- XLSX --------------------------------------------------------------------------------
def _open_workbook(fh: IO[bytes]) -> Any:
    from openpyxl import load_workbook

    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" not in names:
                raise FileProblem("the file is a ZIP archive but not an XLSX workbook; "
                                  "save it as .xlsx or CSV")
            if sum(i.file_size for i in archive.infolist()
                   if i.filename.startswith("xl/worksheets/")) > MAX_UNPACKED:
                raise FileProblem("the workbook unpacks to more than 2 GB; split it")
        fh.seek(0)
        return load_workbook(fh, read_only=True, data_only=True, keep_links=False)
    except FileProblem:
        raise
    except Exception as exc:  # a damaged archive or XML: openpyxl raises many kinds
        raise FileProblem("the XLSX workbook is damaged and cannot be read "
                          f"({type(exc).__name__}); open it in Excel, save it again and "
                          "upload it again") from None


def _worksheet(book: Any, name: str | None) -> Any:
    sheets = [ws for ws in book.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
    if name:
        if name not in book.sheetnames:
            raise FileProblem(f"the workbook has no sheet named '{name[:40]}'")
        return book[name]
    if not sheets:
        raise FileProblem("the workbook has no visible worksheet")
    return sheets[0]


def _sniff_xlsx(fh: IO[bytes], sheet: str | None) -> Sheet:
    book = _open_workbook(fh)
    try:
        ws = _worksheet(book, sheet)
        for number, cells in _xlsx_rows(ws):
            headers = _headers(cells, number)
            try:  # the size the workbook records, if it does: only an estimate of the total
                rows = ws.max_row if isinstance(ws.max_row, int) else None
            except Exception:  # an unsized sheet: counted as it is read
                rows = None
            return Sheet("xlsx", headers, number, sheet=ws.title, sheets=list(book.sheetnames),
                         estimated_rows=max(0, rows - number) if rows else None)
        raise FileProblem(f"the sheet '{ws.title}' is empty")
    finally:
        book.close()


def _xlsx_rows(ws: Any) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of the non-blank rows of a read-only worksheet, with
    formulas that hold no cached value as ``Uncomputed``."""
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class Parser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            if cell["value"] is None and element.find(FORMULA_TAG) is not None:
                cell["value"] = Uncomputed(element.findtext(FORMULA_TAG) or "")
            return cell

    book = ws.parent
    try:
        with ws._get_source() as src:
            parser = Parser(src, ws._shared_strings, data_only=True, epoch=book.epoch,
                            date_formats=book._date_formats,
                            timedelta_formats=book._timedelta_formats)
            for number, row in parser.parse():
                values: dict[int, Any] = {}
                for cell in row:
                    value = cell["value"]
                    if value is not None and cell["data_type"] != "e":
                        values[int(cell["column"])] = value
                    elif cell["data_type"] == "e":  # #N/A, #DIV/0!: no value to import
                        values[int(cell["column"])] = Uncomputed(str(value))
                if not any(_present(v) for v in values.values()):
                    continue
                width = max(values)
                if width > MAX_COLUMNS:
                    raise FileProblem(f"row {number} has more than {MAX_COLUMNS} columns",
                                      number)
                yield int(number), [values.get(i) for i in range(1, width + 1)]
    except FileProblem:
        raise
    except Exception as exc:
        raise FileProblem("the XLSX workbook is damaged and cannot be read "
                          f"({type(exc).__name__}); open it in Excel, save it again and "
                          "upload it again") from None


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# -- CSV ---------------------------------------------------------------------------------
def _detect_encoding(fh: IO[bytes]) -> str:
    fh.seek(0)
    head = fh.read(4)
    fh.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = fh.read(65536)
    fh.seek(0)
    if b"\x00" in sample:
        raise FileProblem("the file is neither a CSV text file nor an XLSX workbook")
    for candidate in ("utf-8", "gb18030"):
        if _decodes(fh, candidate) is None:
            return candidate
    raise FileProblem("the file is not UTF-8 or GB18030 (GBK) text; save it as "
                      "\"CSV UTF-8\" or choose its encoding")


def _decodes(fh: IO[bytes], encoding: str) -> int | None:
    """None when the whole file decodes, else the line of the first undecodable byte."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    fh.seek(0)
    lines = 1
    try:
        while True:
            block = fh.read(1024 * 1024)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return lines + block[: max(0, exc.start)].count(b"\n")
            if not block:
                return None
            lines += block.count(b"\n")
    finally:
        fh.seek(0)


def _sniff_csv(fh: IO[bytes], encoding: str, delimiter: str | None) -> Sheet:
    if encoding not in ENCODINGS:
        raise FileProblem(f"the encoding is one of {', '.join(ENCODINGS)}")
    if encoding == "auto":
        encoding = _detect_encoding(fh)
    else:
        line = _decodes(fh, encoding)
        if line is not None:
            raise FileProblem(f"the file is not valid {encoding} text (line {line}); "
                              "choose its encoding", line)
    text = io.TextIOWrapper(fh, encoding=encoding, newline="")
    try:
        first = text.readline(1_000_000)
    finally:
        text.detach()
        fh.seek(0)
    first = first.lstrip("\ufeff")
    if delimiter not in DELIMITERS:
        counts = {d: first.count(d) for d in DELIMITERS}
        delimiter = max(DELIMITERS, key=lambda d: counts[d]) if any(counts.values()) else ","
    sheet = Sheet("csv", [], encoding=encoding, delimiter=delimiter)
    for number, cells in csv_rows(fh, sheet):
        sheet.headers = _headers(cells, number)
        sheet.header_row = number
        return sheet
    raise FileProblem("the file has no header row")


def csv_rows(fh: IO[bytes], sheet: Sheet) -> Iterator[tuple[int, list[Any]]]:
    """(record number, cells) of the non-blank records of a CSV file, header included."""
    fh.seek(0)
    text = io.TextIOWrapper(fh, encoding=sheet.encoding or "utf-8", newline="")
    reader = csv.reader(text, delimiter=sheet.delimiter or ",")
    number = 0
    try:
        for cells in reader:
            number += 1
            if number == 1 and cells and cells[0].startswith("\ufeff"):
                cells[0] = cells[0][1:]
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > MAX_COLUMNS:
                raise FileProblem(f"row {number} has more than {MAX_COLUMNS} columns", number)
            yield number, list(cells)
    except UnicodeDecodeError:
        raise FileProblem(f"the file is not valid {sheet.encoding} text (row {number + 1}); "
                          "choose its encoding", number + 1) from None
    except csv.Error as exc:
        raise FileProblem(f"row {number + 1} cannot be read as CSV: {exc}", number + 1) from None
    finally:
        text.detach()


def _headers(cells: list[Any], number: int) -> list[str]:
    out = []
    for cell in cells:
        text = "" if cell is None else str(cell).strip()
        if len(text) > MAX_HEADER:
            raise FileProblem(f"a header of row {number} is longer than {MAX_HEADER} "
                              "characters; is the first row the header?", number)
        out.append(text)
    while out and not out[-1]:
        out.pop()
    if not any(out):
        raise FileProblem("the header row is empty", number)
    return out


def data_rows(fh: IO[bytes], sheet: Sheet) -> Iterator[tuple[int, list[Any]]]:
    """The data rows (after the header), at most ``max_rows()`` of them."""
    limit = max_rows()
    seen = 0
    if sheet.format == "xlsx":
        book = _open_workbook(fh)
        try:
            source = _xlsx_rows(_worksheet(book, sheet.sheet))
            yield from _after_header(source, sheet.header_row, limit)
        finally:
            book.close()
        return
    for number, cells in csv_rows(fh, sheet):
        if number <= sheet.header_row:
            continue
        seen += 1
        if seen > limit:
            raise FileProblem(f"the file has more than {limit:,} rows; split it", number)
        yield number, cells


def _after_header(source: Iterator[tuple[int, list[Any]]], header_row: int,
                  limit: int) -> Iterator[tuple[int, list[Any]]]:
    seen = 0
    for number, cells in source:
        if number <= header_row:
            continue
        seen += 1
        if seen > limit:
            raise FileProblem(f"the file has more than {limit:,} rows; split it", number)
        yield number, cells


def count_rows(fh: IO[bytes], sheet: Sheet) -> int:
    """The number of data rows to show progress against, before the rows are read: an
    XLSX's recorded size, a CSV's line breaks after the header (exact unless quoted cells
    hold line breaks or lines are blank; the run's end puts the exact number)."""
    if sheet.format == "xlsx":
        if sheet.estimated_rows is not None:
            return sheet.estimated_rows
        return sum(1 for _ in data_rows(fh, sheet))
    encoding = (sheet.encoding or "utf-8").replace("-", "").lower()
    if encoding.startswith("utf16"):  # a line break is two bytes there: read the text
        return sum(1 for _ in data_rows(fh, sheet))
    fh.seek(0)
    breaks, last = 0, b""
    while True:
        block = fh.read(1024 * 1024)
        if not block:
            break
        breaks += block.count(b"\n")
        last = block
    fh.seek(0)
    lines = breaks + (1 if last and not last.endswith(b"\n") else 0)
    return max(0, lines - sheet.header_row)


__all__ = ["DELIMITERS", "ENCODINGS", "FileProblem", "Sheet", "Uncomputed", "count_rows",
           "data_rows", "max_rows", "sniff"]
