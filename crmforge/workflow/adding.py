"""Binding add-approver (加签) and the approver's own edits, on one open task.

``position`` says where the added person decides:

- ``before`` (前加签): the added person decides first; their approval hands the task back
  to the one who added them, who then decides; their rejection or return is the task's
  decision;
- ``after`` (后加签): the one adding approves now and the task passes to the added person,
  whose decision is the task's;
- ``parallel`` (会签): the added person joins the step as one more approver whose approval
  the step needs besides what its mode already needed (in a sequential step they come
  next in line).

An added approver's decision always counts: adding never lowers what the step needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..core.errors import ValidationFailed
from ..runtime import pipeline
from ..security.principal import Principal
from . import engine
from .run import Run
from .sight import step_sight
from .tables import tasks

POSITIONS = ("before", "after", "parallel")
#: The spiff task data key naming who gets the task back after a ``before`` approver.
BACK_TO = "back_to"


def position_of(body: Mapping[str, Any]) -> str:
    pos = body.get("position") or "parallel"
    if pos not in POSITIONS:
        raise ValidationFailed("position is before, after or parallel (加签位置: 前、后或并行)",
                               {"position": ["before, after or parallel"]})
    return str(pos)


def holders(run: Run, trow: Any, spiff: Any) -> set[int]:
    """Who already approves this step: its approvers and the open tasks' holders."""
    parent = spiff.parent
    out = {int(i) for i in parent.data.get("approvers_" + trow.step) or []}
    out |= {int(r) for r in run.conn.execute(sa.select(tasks.c.assignee_id).where(
        tasks.c.instance_id == run.row.id, tasks.c.step == trow.step,
        tasks.c.status == "open")).scalars()}
    return out


def add(run: Run, trow: Any, spiff: Any, principal: Principal, user: int, position: str
        ) -> None:
    step = trow.step
    if user in holders(run, trow, spiff) or user == principal.user_id:
        raise ValidationFailed("that user already approves in this step (此人已是本步审批人)",
                               {"user": ["already"]})
    sd = run.step_defs[step]
    mode = str(sd.get("mode", "single"))
    if position == "before":
        spiff.data[BACK_TO] = principal.user_id
        spiff.data["approver"] = user
        run.close(trow, "done", "add_approver")
        return
    if position == "after":
        run.log(principal, "approve", step=step, task_id=trow.id,
                details={"then": user}, snapshot=True)
        spiff.data["approver"] = user
        run.close(trow, "done", "approve")
        return
    parent = spiff.parent
    approvers = list(parent.data.get("approvers_" + step) or [])
    approvers.append(user)
    parent.data["approvers_" + step] = approvers
    added = int(parent.data.get("added_" + step) or 0) + 1
    parent.data["added_" + step] = added
    base = parent.data.get("base_" + step)
    if base is None:  # started before added approvers were counted apart
        parent.data["needed_" + step] = engine.needed(mode, sd.get("pass_rate"),
                                                      len(approvers))
    else:
        parent.data["needed_" + step] = engine.needed(mode, sd.get("pass_rate"),
                                                      int(base)) + added
    if mode == "sequential":
        remaining = list(parent.internal_data.get("remaining", []))
        parent.internal_data["remaining"] = [len(approvers) - 1, *remaining]
    else:
        parent.task_spec.create_child(parent, user, len(approvers) - 1)


def hand_back(run: Run, trow: Any, spiff: Any, principal: Principal,
              comment: str | None, details: Mapping[str, Any]) -> bool:
    """A ``before`` approver's approval returns the task to who added them (True);
    anything else is decided normally (False)."""
    back = spiff.data.get(BACK_TO)
    if back is None:
        return False
    run.log(principal, "approve", step=trow.step, task_id=trow.id, comment=comment,
            details={**details, "before": int(back)}, snapshot=True)
    del spiff.data[BACK_TO]
    spiff.data["approver"] = int(back)
    run.close(trow, "done", "approve")
    return True


def apply_edits(run: Run, trow: Any, values: Any) -> list[str]:
    """The approver's changes to the fields their step marks ``edit``, through the write
    pipeline (history, formulas, validation); any other field refuses the action."""
    if values is None:
        return []
    if not isinstance(values, Mapping):
        raise ValidationFailed('values is an object {"<field>": value}', {"values": ["not an object"]})
    obj = run.ctx.obj
    sight = step_sight(obj, run.ctx.snapshot, run.step_defs.get(trow.step))
    refused = {str(k): ["not editable in this step (本步不可修改)"] for k in values
               if sight.get(str(k)) != "edit"}
    if refused:
        raise ValidationFailed("this step lets its approvers change only "
                               + (", ".join(k for k, a in sight.items() if a == "edit") or
                                  "nothing"), refused)
    if not values:
        return []
    t = run.ctx.table
    row = run.conn.execute(sa.select(t).where(t.c.id == run.row.record_id)).one()
    changed = pipeline.update(run.ctx, row, dict(values), switches=pipeline.APPROVAL)
    run.forget_record()
    return sorted(changed)


__all__ = ["POSITIONS", "add", "apply_edits", "hand_back", "position_of"]
