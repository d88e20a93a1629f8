"""Many records in one request: create, update (with versions) or upsert by a unique field.

Every record goes through the record service exactly as a single write does (permissions,
rules, formulas, roll-ups, triggers, history), so a bulk write can do nothing a client
could not do one record at a time.

- ``all_or_none`` (the default): one transaction; each record runs in its own savepoint,
  so every record is tried and every refusal reported, and if any is refused nothing is
  kept (the others answer ``rolled_back``).
- otherwise: each record in its own transaction; what succeeded stays.

Upsert finds the record by the ``key`` field among the records the caller may see: found,
it is updated (with the sent ``version`` when there is one, else the current one); not
found, it is created, and a value already held by a record the caller cannot see is
refused like any unique conflict (decision 0015).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import BadRequest, CRMError
from ..security.principal import Principal
from .context import open_ctx
from .records import RecordService

#: Records one request may carry.
MAX_RECORDS = 1000
MODES = ("create", "update", "upsert")


class _Refused(Exception):
    """Some record was refused: leave the transaction so that it rolls back."""


def _error(exc: CRMError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "fields": exc.fields}


class BulkWriter:
    def __init__(self, service: RecordService) -> None:
        self.service = service
        self.tenant = service.tenant

    def run(self, principal: Principal, object_name: str, body: Any,
            lang: str = "en") -> dict[str, Any]:
        records, mode, key, all_or_none = _parse(body)
        if mode == "upsert":
            self._check_key(principal, object_name, key)
        steps = [self._step(principal, object_name, mode, key, r, lang) for r in records]
        if not all_or_none:
            results = [_attempt(i, step) for i, step in enumerate(steps)]
            return {"results": results,
                    "applied": all(r["status"] != "error" for r in results)}
        return self._all_or_none(steps)

    def _all_or_none(self, steps: list[Callable[[], tuple[str, int]]]) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        try:
            with self.tenant.write() as conn:
                for i, step in enumerate(steps):
                    savepoint = conn.begin_nested()
                    try:
                        status, rid = step()
                    except CRMError as exc:
                        savepoint.rollback()
                        results.append({"index": i, "status": "error", "id": None,
                                        "error": _error(exc)})
                        continue
                    savepoint.commit()
                    results.append({"index": i, "status": status, "id": rid, "error": None})
                if any(r["status"] == "error" for r in results):
                    raise _Refused
        except _Refused:
            for r in results:
                if r["status"] != "error":
                    r["status"], r["id"] = "rolled_back", None
            return {"results": results, "applied": False}
        return {"results": results, "applied": True}

    def _check_key(self, principal: Principal, object_name: str, key: Any) -> None:
        with self.tenant.read() as conn:
            ctx = open_ctx(self.tenant, self.service.permissions, conn, principal, object_name)
            f = ctx.obj.field(key) if isinstance(key, str) else None
            if f is None or not f.unique or key not in ctx.access.readable(ctx.obj):
                raise BadRequest("an upsert needs \"key\": a unique field you may read",
                                 {"key": ["not a unique field"]})

    def _step(self, principal: Principal, object_name: str, mode: str, key: str | None,
              record: Any, lang: str) -> Callable[[], tuple[str, int]]:
        svc = self.service

        def create() -> tuple[str, int]:
            return "created", int(svc.create(principal, object_name, record, lang)["id"])

        def update() -> tuple[str, int]:
            if not isinstance(record, Mapping) or record.get("id") is None:
                raise BadRequest("an update needs the record's \"id\" and \"version\"",
                                 {"id": ["required"]})
            data = {k: v for k, v in record.items() if k != "id"}
            return "updated", int(svc.update(principal, object_name, record["id"], data,
                                             None, lang)["id"])

        def upsert() -> tuple[str, int]:
            if not isinstance(record, Mapping) or record.get(key) is None:
                raise BadRequest(f"each record needs its \"{key}\"", {str(key): ["required"]})
            found = self._find(principal, object_name, str(key), record[key])
            if found is None:
                return create()
            rid, version = found
            data = {k: v for k, v in record.items() if k != "id"}
            data.setdefault("version", version)
            return "updated", int(svc.update(principal, object_name, rid, data, None,
                                             lang)["id"])

        return {"create": create, "update": update, "upsert": upsert}[mode]

    def _find(self, principal: Principal, object_name: str, key: str,
              value: Any) -> tuple[int, int] | None:
        """The visible, live record holding ``value`` in ``key`` (id, version)."""
        with self.tenant.read() as conn:
            ctx = open_ctx(self.tenant, self.service.permissions, conn, principal, object_name)
            f = ctx.obj.field(key)
            assert f is not None
            try:
                typed = f.kind.to_python(f, value)
            except Exception:
                return None  # the create that follows reports the value's problem
            t = ctx.table
            row = conn.execute(sa.select(t.c.id, t.c.version).where(
                t.c[key] == typed, t.c.deleted_at.is_(None),
                ctx.access.visibility(ctx.obj, t))).first()
        return None if row is None else (int(row.id), int(row.version))


def _attempt(index: int, step: Callable[[], tuple[str, int]]) -> dict[str, Any]:
    try:
        status, rid = step()
    except CRMError as exc:
        return {"index": index, "status": "error", "id": None, "error": _error(exc)}
    return {"index": index, "status": status, "id": rid, "error": None}


def _parse(body: Any) -> tuple[list[Any], str, str | None, bool]:
    if not isinstance(body, Mapping):
        raise BadRequest('send {"records": [...], "mode": "create|update|upsert", "key", '
                         '"all_or_none"}')
    records = body.get("records")
    if not isinstance(records, list) or not records:
        raise BadRequest('"records" is a non-empty list of records', {"records": ["required"]})
    if len(records) > MAX_RECORDS:
        raise BadRequest(f"at most {MAX_RECORDS} records in one request",
                         {"records": [f"at most {MAX_RECORDS}"]})
    mode = body.get("mode", "create")
    if mode not in MODES:
        raise BadRequest('"mode" is create, update or upsert', {"mode": ["not a mode"]})
    key = body.get("key")
    if mode == "upsert" and not isinstance(key, str):
        raise BadRequest('an upsert needs "key": a unique field', {"key": ["required"]})
    all_or_none = body.get("all_or_none", True)
    if not isinstance(all_or_none, bool):
        raise BadRequest('"all_or_none" is true or false', {"all_or_none": ["not a boolean"]})
    return records, str(mode), key if isinstance(key, str) else None, all_or_none


__all__ = ["MAX_RECORDS", "MODES", "BulkWriter"]
