"""The error file of an import: the refused rows as they were in the file, with the file's
row number and an error column, as XLSX or CSV (UTF-8 with a BOM, like exports). Fix the
rows and import the file again: the two added columns map to no field.

Nothing in it runs in a spreadsheet: XLSX cells holding text are written as text (``=1+1``
stays text), and in the CSV text a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@``) gets an apostrophe in front, as exports do (the import takes it off again);
a plain number such as ``-5`` is left as it is.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

from ..exports import _text, file_chunks, typed_cell
from .cells import NUMBERED

Row = tuple[int, list[Any], list[tuple[str | None, str]]]


def messages(problems: list[tuple[str | None, str]], columns: Mapping[str, str],
             translate: Callable[[str], str]) -> str:
    """The error column: each message after the column (or field) it is about."""
    parts = []
    for name, message in problems:
        text = translate(message)
        where = columns.get(name or "", name)
        parts.append(f"{where}: {text}" if where else text)
    return "; ".join(parts)


def _csv_cell(value: Any) -> str:
    if isinstance(value, str) and NUMBERED.match(value.strip()):
        return value
    return _text(value)


def csv_file(headers: list[str], rows: Iterable[Row], columns: Mapping[str, str],
             translate: Callable[[str], str], row_header: str, error_header: str) -> IO[bytes]:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the caller streams and closes it
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow([_csv_cell(h) for h in headers] + [row_header, error_header])
    width = len(headers)
    for number, cells, problems in rows:
        padded = (cells + [None] * width)[:width]
        writer.writerow([_csv_cell(c) for c in padded] + [number, _text(
            messages(problems, columns, translate))])
    text.flush()
    text.detach()
    handle.seek(0)
    return handle


def xlsx_file(headers: list[str], rows: Iterable[Row], columns: Mapping[str, str],
              translate: Callable[[str], str], row_header: str, error_header: str,
              title: str) -> IO[bytes]:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "errors")

    def cell(value: Any) -> Any:
        return typed_cell(sheet, value)

    sheet.append([cell(h) for h in headers] + [cell(row_header), cell(error_header)])
    width = len(headers)
    for number, cells, problems in rows:
        padded = (cells + [None] * width)[:width]
        sheet.append([cell(c) for c in padded]
                     + [cell(number), cell(messages(problems, columns, translate))])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the caller streams and closes it
    book.save(handle)
    handle.seek(0)
    return handle


def chunks(handle: IO[bytes]) -> Iterator[bytes]:
    return file_chunks(handle)


__all__ = ["chunks", "csv_file", "messages", "xlsx_file"]
