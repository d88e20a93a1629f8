"""The parent side of triggers: a pool of warm worker processes and the run protocol.

A run borrows an idle worker (starting one when none is idle), sends the request, then
serves the worker's query/create calls through the ``TriggerHost`` until the worker says
it is done. The wall-clock deadline excludes the host's own time; when it passes, the
worker is killed (SIGKILL stops even a C loop) and replaced. A worker that hit any limit
is never reused.
"""

from __future__ import annotations

import contextvars
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from . import wire
from .host import (
    TriggerBudget,
    TriggerError,
    TriggerHost,
    TriggerLimitExceeded,
    TriggerRefused,
    TriggerResult,
    TriggerScriptError,
)

#: The worker's entry point. It registers ``crmforge.rules`` as a bare namespace before
#: importing the worker, so the package ``__init__`` (which wires the metadata checker and
#: pulls in SQLAlchemy and jsonschema) does not run there: the worker imports only the
#: sandbox and the function library, which makes it start several times faster and keeps
#: its address space (bounded by RLIMIT_AS) small.
_BOOTSTRAP = (
    "import sys, types, crmforge\n"
    "package = types.ModuleType('crmforge.rules')\n"
    "package.__path__ = [crmforge.__path__[0] + '/rules']\n"
    "sys.modules['crmforge.rules'] = package\n"
    "from crmforge.rules.triggers.worker import main\n"
    "main()\n"
)
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("trigger_depth", default=0)
_START_TIMEOUT = 30.0
_MARGIN = 0.5  # seconds the parent allows beyond the wall budget before killing


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and constant code
            [sys.executable, "-I", "-c", _BOOTSTRAP],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, cwd="/", env={"PATH": os.defpath},
            start_new_session=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        try:
            wire.write_frame(self.wfd, {"op": "hello", "memory_mb": memory_mb})
            ready = wire.read_frame(self.rfd, time.monotonic() + _START_TIMEOUT)
        except (OSError, EOFError, TimeoutError, wire.WireError) as exc:
            self.kill()
            raise TriggerError(f"the trigger worker did not start: {exc}") from None
        if ready.get("op") != "ready":
            self.kill()
            raise TriggerError("the trigger worker did not start")
        self.runs = 0
        self.alive = True

    def kill(self) -> None:
        self.alive = False
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class TriggerRunner:
    """Runs trigger scripts in worker processes. Thread-safe; one per process is enough."""

    def __init__(self, *, workers: int = 2, max_workers: int = 8,
                 budget: TriggerBudget | None = None, max_runs_per_worker: int = 500) -> None:
        self.budget = budget or TriggerBudget()
        self.max_workers = max_workers
        self.max_runs = max_runs_per_worker
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self.min_workers = workers
        self._cond = threading.Condition()
        for _ in range(workers):
            self._count += 1
            self._idle.append(self._spawn())

    def _spawn(self) -> _Worker:
        """A new worker; the caller has already counted it in ``_count``."""
        try:
            return _Worker(self.budget.memory_mb)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _acquire(self, deadline: float) -> _Worker:
        with self._cond:
            while not self._idle and self._count >= self.max_workers:
                waited = self._cond.wait(max(deadline - time.monotonic(), 0.01))
                if not waited and time.monotonic() >= deadline:
                    raise TriggerLimitExceeded("no trigger worker became free in time",
                                               limit="workers")
            if self._idle:
                return self._idle.pop()
            self._count += 1  # reserve the slot before the slow start, outside the lock
        return self._spawn()

    def _release(self, worker: _Worker) -> None:
        replace = retire = False
        with self._cond:
            if worker.alive and worker.runs < self.max_runs and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                retire = worker.alive
                replace = len(self._idle) < self.min_workers and not self._closed
            self._cond.notify()
        if retire:
            worker.kill()
        if replace:  # warm a replacement now, so the next run does not wait for a start
            threading.Thread(target=self._refill, daemon=True).start()

    def _refill(self) -> None:
        with self._cond:
            if self._count >= self.max_workers:
                return
            self._count += 1
        try:
            worker = self._spawn()
        except Exception:
            return
        with self._cond:
            if self._closed:
                self._count -= 1
                worker.kill()
                return
            self._idle.append(worker)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()

    def run(self, source: str, *, fields: list[str], record: Mapping[str, Any],
            old: Mapping[str, Any] | None = None, host: TriggerHost | None = None,
            when: str = "before", budget: TriggerBudget | None = None) -> TriggerResult:
        """Run one trigger script; raises TriggerRefused, TriggerLimitExceeded or
        TriggerScriptError when it does not finish normally."""
        budget = budget or self.budget
        depth = _depth.get()
        if depth >= budget.max_nesting:
            raise TriggerLimitExceeded(f"triggers may start other triggers at most "
                                       f"{budget.max_nesting} levels deep", limit="nesting")
        started = time.monotonic()
        worker = self._acquire(started + budget.wall_seconds)
        token = _depth.set(depth + 1)
        try:
            return self._run(worker, source, fields, record, old, host, when, budget, started)
        finally:
            _depth.reset(token)
            self._release(worker)

    def _run(self, worker: _Worker, source: str, fields: list[str], record: Mapping[str, Any],
             old: Mapping[str, Any] | None, host: TriggerHost | None, when: str,
             budget: TriggerBudget, started: float) -> TriggerResult:
        worker.runs += 1
        request = {"op": "run", "id": worker.runs, "source": source, "fields": list(fields),
                   "record": dict(record), "old": None if old is None else dict(old),
                   "when": when, "budget": budget.to_wire()}
        deadline = time.monotonic() + budget.wall_seconds + _MARGIN
        try:
            wire.write_frame(worker.wfd, request)
            while True:
                message = wire.read_frame(worker.rfd, deadline)
                if message.get("op") == "call":
                    host_started = time.monotonic()
                    reply = _serve(host, message)
                    deadline += time.monotonic() - host_started
                    wire.write_frame(worker.wfd, reply)
                    continue
                if message.get("op") == "done":
                    break
                raise wire.WireError("unexpected message from the worker")
        except TimeoutError:
            worker.kill()
            raise TriggerLimitExceeded(f"the trigger ran longer than {budget.wall_seconds} s",
                                       limit="time") from None
        except (EOFError, OSError, wire.WireError) as exc:
            worker.kill()
            code = worker.proc.returncode
            if code is not None and code < 0:
                raise TriggerLimitExceeded(
                    f"the trigger worker was stopped by signal {-code} (a resource limit)",
                    limit="resources") from None
            raise TriggerError(f"the trigger worker failed: {exc}") from None
        return _result(worker, message, time.monotonic() - started)


def _serve(host: TriggerHost | None, message: Mapping[str, Any]) -> dict[str, Any]:
    method, args = message.get("method"), message.get("args")
    if host is None:
        return {"op": "reply", "ok": False, "error": "this trigger cannot query or create"}
    try:
        if method == "query" and isinstance(args, list) and len(args) == 2 \
                and isinstance(args[0], str) and isinstance(args[1], dict):
            return {"op": "reply", "ok": True, "value": host.query(args[0], args[1])}
        if method == "create" and isinstance(args, list) and len(args) == 2 \
                and isinstance(args[0], str) and isinstance(args[1], dict):
            return {"op": "reply", "ok": True, "value": host.create(args[0], args[1])}
        if method == "update" and isinstance(args, list) and len(args) == 3 \
                and isinstance(args[0], str) and isinstance(args[1], int) \
                and not isinstance(args[1], bool) and isinstance(args[2], dict):
            return {"op": "reply", "ok": True, "value": host.update(*args)}
    except Exception as exc:
        return {"op": "reply", "ok": False, "error": str(exc)[:500]}
    return {"op": "reply", "ok": False, "error": "unknown call"}


def _result(worker: _Worker, message: Mapping[str, Any], seconds: float) -> TriggerResult:
    raw_line = message.get("line")
    line = raw_line if isinstance(raw_line, int) else 1
    text = str(message.get("message", ""))[:500]
    if not message.get("ok"):
        kind = message.get("kind")
        if kind == "limit":
            worker.kill()
            raise TriggerLimitExceeded(text, line, limit=str(message.get("limit", "")))
        if kind == "refused":
            raise TriggerRefused(text, line)
        raise TriggerScriptError(text, line)
    changes, errors = message.get("changes"), message.get("errors")
    if not isinstance(changes, dict) or not isinstance(errors, dict):
        raise TriggerError("the trigger worker sent a malformed result")
    clean_errors = {str(k): [str(m) for m in v] for k, v in errors.items()
                    if isinstance(v, list)}
    return TriggerResult(changes=dict(changes), errors=clean_errors,
                         output=str(message.get("output", "")),
                         queries=int(message.get("queries", 0)),
                         writes=int(message.get("writes", 0)), seconds=seconds)
