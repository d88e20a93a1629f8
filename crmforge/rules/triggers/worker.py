"""The trigger worker process: ``python -m crmforge.rules.triggers.worker``.

It reads run requests from the parent, executes each script under RestrictedPython with
per-run budgets, and answers. Its resource limits are the real wall behind the sandbox:
RLIMIT_AS caps memory (a bomb ends in MemoryError), RLIMIT_CPU sends SIGXCPU (turned
into a budget error for Python loops) and kills at the hard limit (for C loops), and the
parent kills it after the wall-clock deadline whatever it is doing. query/create go back
to the parent, which answers with the acting user's permissions.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import sys
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..library.base import LibraryFailure, SizeLimitFailure
from . import wire
from .compile import compile_trigger
from .host import TriggerRefused
from .script import Budget, BudgetExceeded, Record, SandboxViolation, make_globals

_BASE_RECURSION = 60  # frames the worker itself needs around a script


class _Parent:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd

    def call(self, method: str, *args: Any) -> Any:
        wire.write_frame(self.wfd, {"op": "call", "method": method, "args": list(args)})
        reply = wire.read_frame(self.rfd)
        if not reply.get("ok"):
            raise ValueError(str(reply.get("error", "refused"))[:500])
        return reply.get("value")


def _plain(value: Any) -> Any:
    """A value a script hands out, as a wire value (int -> Decimal, no floats)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, Decimal)):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Record):
        raise TypeError("a record cannot be a field value")
    import datetime as dt

    if isinstance(value, (dt.date, dt.datetime)):
        return value
    raise TypeError(f"{type(value).__name__} cannot be a field value")


def run(request: Mapping[str, Any], parent: _Parent) -> dict[str, Any]:
    budget_cfg = request["budget"]
    fields = set(request.get("fields") or [])
    when = request.get("when", "before")
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    counts = {"queries": 0, "writes": 0}

    def set_field(name: str, value: Any) -> None:
        if when != "before":
            raise SandboxViolation("only before-save triggers can set fields")
        if name not in fields:
            raise SandboxViolation(f"no field '{str(name)[:40]}'")
        changes[name] = _plain(value)

    def add_error(field: str, message: str) -> None:
        key = field if field in fields else "__all__"
        errors.setdefault(key, []).append(str(message)[:500])

    def query(object_name: str, **filters: Any) -> list[Record]:
        counts["queries"] += 1
        if counts["queries"] > budget_cfg["max_queries"]:
            raise BudgetExceeded("the trigger ran too many queries", "queries")
        rows = parent.call("query", str(object_name), {k: _plain(v) for k, v in filters.items()})
        return [Record(r) for r in rows]

    def create(object_name: str, values: Mapping[str, Any]) -> Record:
        counts["writes"] += 1
        if counts["writes"] > budget_cfg["max_writes"]:
            raise BudgetExceeded("the trigger created too many records", "writes")
        if not isinstance(values, dict):
            raise TypeError("create() takes a dict of values")
        row = parent.call("create", str(object_name),
                          {str(k): _plain(v) for k, v in values.items()})
        return Record(row)

    def update(object_name: str, record_id: Any, values: Mapping[str, Any]) -> Record:
        counts["writes"] += 1
        if counts["writes"] > budget_cfg["max_writes"]:
            raise BudgetExceeded("the trigger changed too many records", "writes")
        if not isinstance(values, dict):
            raise TypeError("update() takes a record id and a dict of values")
        if isinstance(record_id, Record):
            record_id = record_id.read("id")
        if isinstance(record_id, bool) or not isinstance(record_id, (int, Decimal)):
            raise TypeError("update() takes a record id and a dict of values")
        row = parent.call("update", str(object_name), int(record_id),
                          {str(k): _plain(v) for k, v in values.items()})
        return Record(row)

    old = request.get("old")
    api = {"record": Record(request.get("record") or {}), "old": Record(old or {}),
           "is_new": old is None, "set_field": set_field, "add_error": add_error,
           "query": query, "create": create, "update": update}
    code = compile_trigger(request["source"])
    budget = Budget(budget_cfg["max_iterations"])
    glb = make_globals(budget, api)
    used = resource.getrusage(resource.RUSAGE_SELF)
    # Whole seconds only: the run gets between cpu_seconds and cpu_seconds + 1 of CPU.
    soft = math.ceil(used.ru_utime + used.ru_stime + budget_cfg["cpu_seconds"])
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
    sys.setrecursionlimit(_BASE_RECURSION + budget_cfg["max_recursion"])
    try:
        exec(code, glb)  # noqa: S102 - restricted code with guarded globals
    finally:
        sys.setrecursionlimit(1000)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    printed = glb.get("_print")
    output = str(printed()) if callable(printed) else ""
    return {"op": "done", "ok": True, "changes": changes, "errors": errors,
            "output": output[: budget_cfg["max_output"]], **counts}


def _line(exc: BaseException) -> int:
    tb = exc.__traceback__
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<trigger>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TriggerRefused):
        return {"op": "done", "ok": False, "kind": "refused", "message": exc.detail,
                "line": exc.line}
    if isinstance(exc, BudgetExceeded):
        return {"op": "done", "ok": False, "kind": "limit", "limit": exc.limit,
                "message": str(exc), "line": _line(exc)}
    if isinstance(exc, MemoryError):
        return {"op": "done", "ok": False, "kind": "limit", "limit": "memory",
                "message": "the trigger used too much memory", "line": _line(exc)}
    if isinstance(exc, RecursionError):
        return {"op": "done", "ok": False, "kind": "limit", "limit": "recursion",
                "message": "the trigger recursed too deeply", "line": _line(exc)}
    if isinstance(exc, SizeLimitFailure):
        return {"op": "done", "ok": False, "kind": "limit", "limit": "size",
                "message": str(exc)[:500], "line": _line(exc)}
    if isinstance(exc, LibraryFailure):
        return {"op": "done", "ok": False, "kind": "script", "message": str(exc)[:500],
                "line": _line(exc)}
    if isinstance(exc, SandboxViolation):
        return {"op": "done", "ok": False, "kind": "refused", "message": str(exc)[:500],
                "line": _line(exc)}
    return {"op": "done", "ok": False, "kind": "script", "line": _line(exc),
            "message": f"{type(exc).__name__}: {exc}"[:500]}


def _on_xcpu(signum: int, frame: Any) -> None:
    raise BudgetExceeded("the trigger used too much CPU time", "cpu")


def main() -> None:
    """Serve run requests on fds 0/1 until the parent closes the pipe."""
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    hello = wire.read_frame(rfd)
    memory = int(hello.get("memory_mb", 256)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu_total = int(hello.get("cpu_total", 600))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_total, cpu_total))
    signal.signal(signal.SIGXCPU, _on_xcpu)
    os.chdir("/")
    parent = _Parent(rfd, wfd)
    wire.write_frame(wfd, {"op": "ready", "pid": os.getpid()})
    while True:
        try:
            request = wire.read_frame(rfd)
        except EOFError:
            return
        started = time.perf_counter()
        try:
            answer = run(request, parent)
        except BaseException as exc:
            answer = _failure(exc)
        answer["seconds"] = time.perf_counter() - started
        answer["id"] = request.get("id")
        try:
            wire.write_frame(wfd, answer)
        except (TypeError, ValueError, wire.WireError) as exc:
            wire.write_frame(wfd, {"op": "done", "ok": False, "kind": "script", "line": 1,
                                   "id": request.get("id"),
                                   "message": f"the trigger's result cannot be sent: {exc}"})
        if answer.get("kind") == "limit":
            return  # a worker that hit a limit is not reused: the parent starts a fresh one


if __name__ == "__main__":
    main()
