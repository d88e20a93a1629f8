"""The benchmark object and its rows: one definition shared by every benchmark.

The object has eight user fields of the common kinds (indexed text, indexed picklist,
decimal, integer, date, boolean, text, textarea) and no lookups, so the figures measure
the record pipeline itself rather than reference checks. Rows are deterministic per seed:
two runs (and the measured and baseline side of one run) see the same data.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

STATUSES = ("open", "won", "lost", "on_hold")
REGIONS = ("north", "south", "east", "west", "central")
WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay",
         "Soylent", "Tyrell", "Cyberdyne", "Wonka", "Gringotts", "Oceanic", "Monarch")
FIRST_DATE = dt.date(2024, 1, 1)
#: The list filter: ``status=open`` (1/4 of rows) and ``amount >= 5000`` (1/2 of rows).
FILTER_STATUS = "open"
FILTER_AMOUNT = "5000"
SORT_FIELD = "title"
#: A fixed creation time, so loaded rows are reproducible byte for byte.
LOADED_AT = dt.datetime(2024, 1, 1, 9, 0, 0)


def _label(text: str) -> dict[str, str]:
    return {"en": text}


def object_doc(name: str) -> dict[str, Any]:
    """The object document the designer receives (DESIGN §9 format)."""
    choices = [{"value": s, "label": _label(s.replace("_", " ").title())} for s in STATUSES]
    return {
        "name": name,
        "label": _label("Benchmark deal"),
        "fields": [
            {"name": "title", "type": "text", "required": True, "max_length": 120,
             "indexed": True, "label": _label("Title")},
            {"name": "status", "type": "picklist", "indexed": True, "choices": choices,
             "label": _label("Status")},
            {"name": "amount", "type": "decimal", "scale": 2, "min": 0, "label": _label("Amount")},
            {"name": "quantity", "type": "integer", "label": _label("Quantity")},
            {"name": "close_date", "type": "date", "label": _label("Close date")},
            {"name": "is_priority", "type": "boolean", "label": _label("Priority")},
            {"name": "region", "type": "text", "max_length": 40, "label": _label("Region")},
            {"name": "notes", "type": "textarea", "label": _label("Notes")},
        ],
    }


def typed_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` rows of user fields as Python values (what the database stores)."""
    rr = rng.randrange
    out = []
    for _ in range(count):
        out.append({
            "title": f"{WORDS[rr(len(WORDS))]} {rr(10**9):09d}",
            "status": STATUSES[rr(len(STATUSES))],
            "amount": Decimal(rr(1_000_000)).scaleb(-2),
            "quantity": rr(1_000),
            "close_date": FIRST_DATE + dt.timedelta(days=rr(730)),
            "is_priority": rr(10) == 0,
            "region": REGIONS[rr(len(REGIONS))],
            "notes": None if rr(4) else "Follow up after the trade fair.",
        })
    return out


def as_request(values: dict[str, Any]) -> dict[str, Any]:
    """A typed row as an API client or an import sends it (decimals and dates as text)."""
    out = dict(values)
    out["amount"] = str(values["amount"])
    out["close_date"] = values["close_date"].isoformat()
    return out


def system_values(user_id: int | None, at: dt.datetime) -> dict[str, Any]:
    """System columns as the record service fills them on create."""
    return {"owner_id": user_id, "department_id": None, "created_at": at, "created_by": user_id,
            "updated_at": at, "updated_by": user_id, "version": 1}


def _placeholder(conn: sa.Connection) -> str:
    style = conn.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise RuntimeError(f"the fast loader does not know the '{style}' parameter style")


def bulk_load(conn: sa.Connection, table: sa.Table, total: int, *, seed: int = 1,
              chunk: int = 20_000) -> Iterator[int]:
    """Insert ``total`` generated rows straight into ``table`` with driver-level executemany.

    This is setup, not a measurement: it skips the record service (and SQLAlchemy's
    per-row statement handling) on purpose, converting values once with each column's own
    bind processor so the stored form is exactly what SQLAlchemy would write. Runs inside
    the caller's transaction; yields the running row count after each chunk.
    """
    rng = random.Random(seed)
    system = system_values(None, LOADED_AT)
    columns = [*typed_rows(random.Random(0), 1)[0].keys(), *system.keys()]
    processors = [table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                  for name in columns]
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join([_placeholder(conn)] * len(columns))})")
    done = 0
    while done < total:
        rows = typed_rows(rng, min(chunk, total - done))
        params = [tuple(v if p is None or v is None else p(v)
                        for v, p in zip((*r.values(), *system.values()), processors, strict=True))
                  for r in rows]
        conn.exec_driver_sql(sql, params)
        done += len(rows)
        yield done
