"""Triggers: before-save and after-save restricted-Python statements (DESIGN §6).

Scripts run in worker processes with resource limits (see ``worker``), compiled by our
AST pass and RestrictedPython (``compile``), with guarded globals (``script``). The parent
side (``pool.TriggerRunner``) serves ``query``/``create`` through a ``TriggerHost`` that
the runtime implements with the acting user's permissions.

    runner = TriggerRunner()
    result = runner.run("if record.amount > 1000: set_field('vip', True)",
                        fields=["amount", "vip"], record={"amount": Decimal(5000)},
                        host=my_host)
    result.changes  # {"vip": True}
"""

from .compile import check_trigger, compile_trigger
from .host import (
    TriggerBudget,
    TriggerError,
    TriggerHost,
    TriggerLimitExceeded,
    TriggerRefused,
    TriggerResult,
    TriggerScriptError,
)
from .pool import TriggerRunner

__all__ = [
    "TriggerBudget",
    "TriggerError",
    "TriggerHost",
    "TriggerLimitExceeded",
    "TriggerRefused",
    "TriggerResult",
    "TriggerRunner",
    "TriggerScriptError",
    "check_trigger",
    "compile_trigger",
]
