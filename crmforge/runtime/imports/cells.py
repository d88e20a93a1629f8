"""From cells to record payloads: what a spreadsheet user writes becomes what the record
service takes, and whatever cannot be understood is a message on the row's field.

- Numbers: thousands separators, blanks, currency signs and (for percent fields) a
  trailing ``%`` are dropped; full-width digits read as digits. An XLSX number keeps
  Excel's 15 significant digits (so 0.1 + 0.2 imports as 0.3).
- Dates: ``2024-03-05``, ``2024/3/5``, ``2024.3.5``, ``20240305``, ``2024年3月5日``,
  ``5 Mar 2024``, ``March 5, 2024``; ``05/03/2024`` needs the file's date order
  (``date_order``: dmy or mdy) unless one part is above 12. Times may follow a date
  (``2024-03-05 14:30``, ISO 8601 with an offset); without an offset a time is UTC, as in
  the API. XLSX dates are dates already.
- Yes/no: true/false, yes/no, y/n, 1/0, 是/否.
- Picklists by value or by a label in any language (multi-select: separated by ``;``).
- Lookups and master-detail parents by title, by a unique field of the parent or by id,
  among the parent records the user may see (a title held by two of them is refused as
  ambiguous); user fields by user name, department fields by department name.
- A CSV cell is data, whatever it starts with: ``=1+1`` is the text "=1+1". The
  apostrophe that exports put before such text (so that spreadsheets do not run it) is
  taken off again. An XLSX formula without a value Excel computed refuses its row.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from ...metadata.model import FieldDef
from ...security.tables import departments, users
from ..context import Ctx
from .mapping import REFERENCES, Plan, Target, norm
from .reading import Uncomputed

DATE_ORDERS = ("auto", "dmy", "mdy")
_CURRENCY = re.compile(r"^[¥￥$€£]|(?:\s*(?:CNY|RMB|USD|EUR|元))$", re.IGNORECASE)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "y": True, "n": False,
             "1": True, "0": False, "是": True, "否": False, "t": True, "f": False}
_ISO_TIME = re.compile(
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$")
NUMBERED = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class CellError(ValueError):
    """A cell that cannot become a value of its field; the message goes to its row."""


@dataclass
class Work:
    """One data row on its way: its payload, and what went wrong with it."""

    row: int
    cells: list[Any]
    payload: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str | None, str]] = field(default_factory=list)
    key: Any = None
    record_id: int | None = None  # update/upsert: the record the key found
    settled: bool = False  # refused as a whole (its key): nothing more to check

    def refuse(self, field_name: str | None, message: str) -> None:
        self.errors.append((field_name, message))


def text_of(value: Any) -> str:
    """A cell as text (what a text field stores)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) \
            else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return format(Decimal(format(value, ".15g")), "f")


def clean(value: Any, csv: bool) -> Any:
    """A cell with its surrounding blanks removed (and an export's apostrophe before
    text a spreadsheet would run); None when blank."""
    if isinstance(value, str):
        value = value.strip()
        if csv and len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
            value = value[1:]
        return value or None
    return value


class Converter:
    """Turns chunks of rows into payloads for one import."""

    def __init__(self, ctx: Ctx, plan: Plan, *, csv: bool, date_order: str = "auto",
                 blank_clears: bool = False) -> None:
        self.ctx, self.plan, self.csv = ctx, plan, csv
        self.date_order = date_order
        self.blank_clears = blank_clears
        self._choices: dict[str, dict[str, str]] = {}

    def convert(self, rows: Sequence[tuple[int, list[Any]]]) -> list[Work]:
        works = [Work(n, cells) for n, cells in rows]
        resolved = {t.column: self._resolve(t, works) for t in self.plan.targets
                    if t.field is not None and (t.field.type in REFERENCES
                                                or t.field.type in ("user", "department"))}
        steps: list[tuple[Target, str | None, Any, bool]] = []
        for t in self.plan.targets:
            if t.field is None:
                steps.append((t, None, None, True))
                continue
            if t.column in resolved:
                found = resolved[t.column]
                steps.append((t, t.field.name, lambda raw, t=t, found=found: _found(found, raw, t),
                              self.plan.key == t.name))
            else:
                steps.append((t, t.field.name, self.converter(t.field), self.plan.key == t.name))
        csv, clears = self.csv, self.blank_clears
        for w in works:
            cells, width, payload = w.cells, len(w.cells), w.payload
            for t, name, fn, is_key in steps:
                raw = cells[t.column] if t.column < width else None
                if type(raw) is str:  # clean(), inlined: most cells are text
                    raw = raw.strip()
                    if not raw:
                        raw = None
                    elif csv and raw[0] == "'" and len(raw) > 1 and raw[1] in "=+-@":
                        raw = raw[1:]
                elif raw is not None:
                    raw = clean(raw, csv)
                if name is None or is_key:
                    w.key = raw
                    if name is None:  # the record id (update by id)
                        continue
                if raw is None:
                    if clears:
                        payload[name] = None
                    continue
                if isinstance(raw, Uncomputed):
                    w.refuse(name, f"the cell holds the formula {str(raw)[:60]} without a "
                                   "computed value; open the file in Excel and save it again")
                    continue
                try:
                    payload[name] = fn(raw)
                except CellError as exc:
                    w.refuse(name, str(exc))
        return works

    # -- scalars -------------------------------------------------------------------------
    def converter(self, f: FieldDef) -> Any:
        """The function that turns a cell into a value of ``f`` (with fast paths for the
        plain forms: a whole number, a plain decimal, an ISO date)."""
        kind = f.type
        if kind in ("text", "textarea", "email", "phone", "url"):
            return lambda raw: raw if type(raw) is str else text_of(raw)
        if kind == "integer":
            return lambda raw: int(raw) if type(raw) is str and raw.isascii() \
                and raw.isdigit() else _integer(raw)
        if kind in ("decimal", "currency", "percent"):
            percent = kind == "percent"
            return lambda raw: raw if type(raw) is str and _PLAIN.match(raw) \
                else _decimal(raw, percent)
        if kind == "date":
            return lambda raw: _iso_date(raw) or _date(raw, self.date_order)
        if kind == "boolean":
            return _boolean
        if kind == "picklist":
            return lambda raw: self._choice(f, raw if type(raw) is str else text_of(raw))
        return lambda raw: self.value(f, raw)

    def value(self, f: FieldDef, raw: Any) -> Any:
        kind = f.type
        if kind in ("text", "textarea", "email", "phone", "url"):
            return text_of(raw)
        if kind == "integer":
            return _integer(raw)
        if kind in ("decimal", "currency", "percent"):
            return _decimal(raw, kind == "percent")
        if kind == "boolean":
            return _boolean(raw)
        if kind == "date":
            return _date(raw, self.date_order)
        if kind == "datetime":
            return _datetime(raw, self.date_order)
        if kind == "picklist":
            return self._choice(f, text_of(raw))
        if kind == "multipicklist":
            parts = re.split(r"[;；\n]", text_of(raw))
            return [self._choice(f, p.strip()) for p in parts if p.strip()]
        return raw

    def _choice(self, f: FieldDef, text: str) -> str:
        table = self._choices.get(f.name)
        if table is None:
            table = {}
            for c in f.options.get("choices") or []:
                table.setdefault(norm(str(c.get("value"))), str(c.get("value")))
                for label in (c.get("label") or {}).values():
                    table.setdefault(norm(str(label)), str(c.get("value")))
            table.update({str(c.get("value")): str(c.get("value"))
                          for c in f.options.get("choices") or []})  # a value is itself
            self._choices[f.name] = table
        found = table.get(text)
        return found if found is not None else table.get(norm(text), text)

    # -- references ------------------------------------------------------------------------
    def _resolve(self, t: Target, works: list[Work]) -> dict[str, list[int]]:
        """Cell text -> ids of the records (users, departments) it names, for one chunk."""
        assert t.field is not None
        wanted: set[str] = set()
        for w in works:
            raw = clean(w.cells[t.column], self.csv) if t.column < len(w.cells) else None
            if raw is not None and not isinstance(raw, Uncomputed):
                wanted.add(text_of(raw))
        if not wanted:
            return {}
        conn = self.ctx.conn
        if t.field.type == "user":
            return _group(conn.execute(sa.select(users.c.username, users.c.id).where(
                users.c.username.in_(sorted(wanted)))))
        if t.field.type == "department":
            return _group(conn.execute(sa.select(departments.c.name, departments.c.id).where(
                departments.c.name.in_(sorted(wanted)))))
        assert t.parent is not None
        table = self.ctx.schema.table(t.parent.name)
        via = t.via or t.parent.title_field
        col = table.c[via]
        typed: dict[Any, str] = {}
        pf = t.parent.field(via)
        for text in wanted:
            try:
                if via == "id":
                    typed[int(Decimal(text))] = text
                elif pf is not None and pf.type not in ("text", "textarea", "email", "phone",
                                                        "url", "autonumber", "picklist"):
                    typed[pf.kind.to_python(pf, text, lenient=True)] = text
                else:
                    typed[text] = text
            except Exception:  # noqa: S112 - cannot be a value of that field: found nowhere
                continue
        if not typed:
            return {}
        visible = self.ctx.access.visibility(t.parent, table)
        found: dict[str, list[int]] = {}
        keys = list(typed)
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            for value, rid in conn.execute(sa.select(col, table.c.id).where(
                    col.in_(part), table.c.deleted_at.is_(None), visible)):
                found.setdefault(typed.get(value, str(value)), []).append(int(rid))
        return found


def _group(rows: Iterable[Any]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, rid in rows:
        out.setdefault(str(name), []).append(int(rid))
    return out


def _found(found: Mapping[str, list[int]], raw: Any, t: Target) -> int:
    assert t.field is not None
    text = text_of(raw)
    ids = found.get(text, [])
    shown = text[:60]
    if len(ids) == 1:
        return ids[0]
    if t.field.type == "user":
        raise CellError(f"no user named '{shown}'")
    if t.field.type == "department":
        raise CellError(f"no department named '{shown}'")
    assert t.parent is not None
    how = f"with {t.via} '{shown}'" if t.via else f"titled '{shown}'"
    if not ids:
        raise CellError(f"no {t.parent.name} record {how}")
    raise CellError(f"'{shown}' matches {len(ids)} {t.parent.name} records; "
                    f"map the column to {t.field.name}.<unique field> to tell them apart")


# -- numbers, yes/no, dates ------------------------------------------------------------
def _number_text(raw: Any, percent: bool = False) -> str:
    text = unicodedata.normalize("NFKC", text_of(raw)).strip()
    text = _CURRENCY.sub("", text).strip()
    if percent and text.endswith("%"):
        text = text[:-1]
    return text.replace(",", "").replace(" ", "").replace("_", "")


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise CellError(f"'{text_of(raw)}' is not a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    text = _number_text(raw)
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise CellError(f"'{text_of(raw)[:40]}' is not a whole number") from None
    if not d.is_finite() or d != d.to_integral_value() or d.adjusted() >= 19:
        raise CellError(f"'{text_of(raw)[:40]}' is not a whole number")
    return int(d)


def _decimal(raw: Any, percent: bool) -> Any:
    if isinstance(raw, bool):
        raise CellError(f"'{text_of(raw)}' is not a number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return Decimal(format(raw, ".15g"))
    return _number_text(raw, percent)  # the service checks the number, scale and range


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    answer = _BOOLEANS.get(unicodedata.normalize("NFKC", text_of(raw)).strip().casefold())
    if answer is None:
        raise CellError(f"'{text_of(raw)[:40]}' is not yes or no (true or false)")
    return answer


_PLAIN = re.compile(r"-?\d{1,15}(?:\.\d{1,15})?\Z")


def _iso_date(raw: Any) -> dt.date | None:
    """``YYYY-MM-DD`` read at once (most files), else None."""
    if type(raw) is str and len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _excel_serial(value: float) -> dt.datetime:
    if not 0 < value < 2958466:
        raise CellError(f"'{_float_text(value)}' is not a date")
    return dt.datetime(1899, 12, 30) + dt.timedelta(days=value)


def _date(raw: Any, order: str) -> dt.date:
    if isinstance(raw, dt.datetime):
        if raw.time() != dt.time(0):
            raise CellError(f"'{text_of(raw)}' is a date and time; the field holds a date")
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _date(_excel_serial(float(raw)), order)
    text = unicodedata.normalize("NFKC", text_of(raw)).strip()
    day, rest = _date_part(text, order)
    if rest:
        moment = _time_part(rest, text)
        if moment.time() != dt.time(0) or moment.tzinfo is not None:
            raise CellError(f"'{text[:40]}' is a date and time; the field holds a date")
    return day


def _datetime(raw: Any, order: str) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, dt.date):
        return dt.datetime.combine(raw, dt.time(0))
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _excel_serial(float(raw)).replace(microsecond=0)
    text = unicodedata.normalize("NFKC", text_of(raw)).strip()
    day, rest = _date_part(text, order)
    if not rest:
        return dt.datetime.combine(day, dt.time(0))
    moment = _time_part(rest, text)
    return moment.replace(year=day.year, month=day.month, day=day.day)


_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?!\d)")
_XYZ = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_D_MON_Y = re.compile(r"(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ -,]+(\d{4})")
_MON_D_Y = re.compile(r"([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})")


def _date_part(text: str, order: str) -> tuple[dt.date, str]:
    """The date at the start of ``text`` and what follows it."""
    for pattern in (_YMD, _COMPACT):
        m = pattern.match(text)
        if m:
            return _make(text, int(m[1]), int(m[2]), int(m[3])), text[m.end():].strip(" T")
    m = _XYZ.match(text)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        if order == "dmy" or (order == "auto" and a > 12 >= b):
            day, month = a, b
        elif order == "mdy" or (order == "auto" and b > 12 >= a) or a == b:
            month, day = a, b
        else:
            raise CellError(f"'{text[:40]}' could be either day or month first; set the "
                            "date order of the file (day/month/year or month/day/year)")
        return _make(text, year, month, day), text[m.end():].strip(" T")
    for pattern, parts in ((_D_MON_Y, (3, 2, 1)), (_MON_D_Y, (3, 1, 2))):
        m = pattern.match(text)
        if m:
            named = _MONTHS.get(m[parts[1]][:3].casefold())
            if named is not None:
                return _make(text, int(m[parts[0]]), named, int(m[parts[2]])), \
                    text[m.end():].strip()
    raise CellError(f"'{text[:40]}' is not a date")


def _make(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise CellError(f"'{text[:40]}' is not a date") from None


def _time_part(rest: str, text: str) -> dt.datetime:
    m = _ISO_TIME.match(rest)
    if not m:
        raise CellError(f"'{text[:40]}' is not a date and time")
    try:
        moment = dt.datetime(2000, 1, 1, int(m["h"]), int(m["mi"]), int(m["s"] or 0),
                             int((m["f"] or "0").ljust(6, "0")))
    except ValueError:
        raise CellError(f"'{text[:40]}' is not a date and time") from None
    tz = m["tz"]
    if tz:
        if tz == "Z":
            return moment.replace(tzinfo=dt.UTC)
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return moment.replace(tzinfo=dt.timezone(sign * offset))
    return moment


__all__ = ["DATE_ORDERS", "NUMBERED", "CellError", "Converter", "Work", "clean", "text_of"]
