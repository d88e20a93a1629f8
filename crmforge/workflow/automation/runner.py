"""Running one rule for one record: the condition, then each action in its own savepoint,
every outcome in the run log.

Why a savepoint per action: the caller's transaction also moves the event consumer's
cursor (or records a date rule's firing), so it must commit even when an action fails;
a refused update rolls back its own writes only, is written to ``sys_automation_runs``
as ``failed``, and the next action runs. An event is thus handled exactly once, whatever
its actions do.
"""

from __future__ import annotations

import logging

from ...core.errors import CRMError, ValidationFailed
from ...rules import ExpressionError
from ...runtime.context import utcnow
from . import actions
from .actions import Firing
from .tables import runs, webhook_calls

log = logging.getLogger("crmforge.automation")


def record_run(firing: Firing, status: str, message: str, index: int | None = None,
               action: str | None = None) -> int:
    """One line of the run log; its id."""
    return int(firing.conn.execute(runs.insert().values(
        rule=firing.rule.name, rule_version=firing.rule.version, object=firing.rule.obj.name,
        record_id=firing.record_id, trigger=firing.trigger[:40], event_id=firing.event_id,
        depth=firing.depth, action_index=index, action=action, status=status,
        message=message[:2000], at=utcnow()).returning(runs.c.id)).scalar_one())


def run_rule(firing: Firing) -> bool:
    """Run the rule if its condition holds; whether it ran (False: condition false, or the
    record is gone). Queued webhook calls are left for ``delivery.deliver_due``."""
    record = firing.record()
    if record is None:
        return False
    condition = firing.rule.condition
    if condition is not None:
        try:
            holds = condition.evaluate(record, firing.resolver())
        except ExpressionError as exc:
            record_run(firing, "failed", f"condition: {exc}")
            return False
        if holds is not True:
            return False
    for index, action in enumerate(firing.rule.actions):
        kind = str(action["type"])
        firing.call = None
        try:
            with firing.conn.begin_nested():
                message = actions.run(firing, index)
        except (CRMError, ExpressionError) as exc:
            firing.forget()
            record_run(firing, "failed", _describe(exc), index, kind)
            continue
        except Exception as exc:  # a failing action must not block the others for ever
            log.exception("automation %s action %d failed", firing.rule.name, index)
            firing.forget()
            record_run(firing, "failed", f"{type(exc).__name__}: {exc}", index, kind)
            continue
        status = "pending" if firing.call is not None else "ok"
        run_id = record_run(firing, status, message, index, kind)
        if firing.call is not None:
            firing.conn.execute(webhook_calls.update().where(
                webhook_calls.c.id == firing.call).values(run_id=run_id))
    return True


def stopped(firing: Firing) -> None:
    """The loop guard refused to run the rule (the event is at ``MAX_DEPTH``)."""
    record_run(firing, "stopped", f"stopped: the chain of automated writes reached depth "
                                  f"{firing.depth} (the limit); the rule did not run")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed) and exc.fields:
        parts = [f"{k}: {'; '.join(v)}" for k, v in exc.fields.items()]
        return f"{exc.message} ({', '.join(parts)})"
    if isinstance(exc, CRMError):
        return exc.message
    return str(exc)


__all__ = ["record_run", "run_rule", "stopped"]
