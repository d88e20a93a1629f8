"""Hooks that layers above the runtime plug into the record write path.

The runtime may not import the workflow layer (DESIGN §1), yet a save whose entry criteria
now hold must start an approval in the same transaction. So the workflow registers an
``after_save`` function here when it is imported, and the record service calls
``after_save`` after each create and update, inside the write transaction: what a hook
raises rolls the whole write back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Ctx

AfterSave = Callable[["Ctx", int, bool], None]
_after_save: list[AfterSave] = []


def register_after_save(fn: AfterSave) -> None:
    """Call ``fn(ctx, record_id, created)`` after every record create and update."""
    if fn not in _after_save:
        _after_save.append(fn)


def after_save(ctx: Ctx, record_id: int, created: bool) -> None:
    for fn in tuple(_after_save):
        fn(ctx, record_id, created)


__all__ = ["AfterSave", "after_save", "register_after_save"]
