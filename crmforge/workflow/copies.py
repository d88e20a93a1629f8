"""Copies (抄送): people told about an approval who do not decide it.

A step's ``cc`` is sent when the flow reaches the step; the process's ``cc`` when the
approval ends approved or rejected. Each person copied gets an in-app notification and,
from then on, read access to the approval (``views.detail``) with the sight of the step
they were copied on (``sight.reader_sight``): no access to the record beyond that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..runtime.context import utcnow
from ..security.principal import SYSTEM
from . import people
from .notify import notify
from .tables import copies

if TYPE_CHECKING:
    from .run import Run


def copy_to(run: Run, spec: Mapping[str, Any], step: str | None) -> list[int]:
    """Copy the approval to the people ``spec`` names (users, role, user field)."""
    ids = people.resolve(run.conn, {k: v for k, v in spec.items()
                                    if k in ("users", "role", "field")}, run.record())
    already = set(run.conn.execute(sa.select(copies.c.user_id).where(
        copies.c.instance_id == run.row.id,
        copies.c.step.is_(None) if step is None else copies.c.step == step)).scalars())
    fresh = [i for i in ids if i not in already]
    if not fresh:
        return []
    now = utcnow()
    run.conn.execute(copies.insert(), [{"instance_id": run.row.id, "user_id": i, "step": step,
                                        "at": now} for i in fresh])
    title = run.title()
    for i in fresh:
        notify(run.conn, i, "cc", f"For your information: {title} (抄送)",
               f"{run.row.object} '{title}' is in approval (step {step})." if step else
               f"{run.row.object} '{title}': the approval has ended.",
               instance_id=run.row.id)
    run.log(SYSTEM, "cc", step=step, details={"users": fresh})
    return fresh


__all__ = ["copy_to"]
