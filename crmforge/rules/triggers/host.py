"""The contract between trigger runs and the platform: budgets, results, errors, and the
``TriggerHost`` the runtime implements to query and create records *with the acting
user's permissions* (the trigger worker never touches the database itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ExpressionError


class TriggerHost(Protocol):
    """What a trigger may do outside its record. Implementations check permissions."""

    def query(self, object_name: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Records of ``object_name`` matching ``filters`` (field=value, field__op=value)."""
        ...

    def create(self, object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create a record through the record service; returns it (with ``id``)."""
        ...

    def update(self, object_name: str, record_id: int, values: Mapping[str, Any]
               ) -> dict[str, Any]:
        """Change a record through the record service; returns it as it is now."""
        ...


@dataclass(frozen=True)
class TriggerBudget:
    """Per-run limits. Wall time excludes time the host spends answering query/create."""

    wall_seconds: float = 2.0
    cpu_seconds: int = 1            # RLIMIT_CPU granularity is whole seconds
    memory_mb: int = 256            # address space of the worker (RLIMIT_AS)
    max_queries: int = 20
    max_writes: int = 10
    max_iterations: int = 100_000   # loop iterations plus items iterated, per run
    max_recursion: int = 50         # Python call depth inside the script
    max_nesting: int = 3            # triggers started by records a trigger created
    max_output: int = 10_000        # characters of print() output kept

    def to_wire(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class TriggerResult:
    """What a run asks the record service to do: field changes (before-save) and errors."""

    changes: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    output: str = ""
    queries: int = 0
    writes: int = 0
    seconds: float = 0.0


class TriggerError(ExpressionError):
    """A trigger could not run to its end."""

    code = "trigger_error"
    reason = "trigger"


class TriggerRefused(TriggerError):
    """The script uses something the sandbox refuses (found when compiled or on access)."""

    reason = "forbidden"


class TriggerLimitExceeded(TriggerError):
    """A budget ran out: time, CPU, memory, iterations, recursion, queries, writes, size."""

    reason = "limit"

    def __init__(self, message: str, line: int = 1, column: int = 1, *,
                 limit: str = "") -> None:
        super().__init__(message, line, column)
        self.limit = limit


class TriggerScriptError(TriggerError):
    """The script raised an exception (a bug in the script, or a host refusal)."""

    reason = "script"
