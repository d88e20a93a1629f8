"""What layers above the runtime plug into the write path, handed over explicitly.

The runtime may not import the layers above it (DESIGN §1), yet a save whose entry
criteria now hold must start an approval in the same transaction, and events must reach
webhooks and automation rules. So the composition root (``crmforge.composition``) builds
one ``Wiring`` and gives it to the instance, which hands it to every tenant it opens; the
write pipeline calls what it holds. Nothing registers itself by being imported: an
instance wired by nobody runs the runtime's own steps and nothing else, which a test or a
tool may want and which is visible where the instance is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from .context import Ctx
    from .events import EventConsumer
    from .instance import Tenant

#: ``fn(ctx, record_id, created)``, called after every record create and update inside the
#: write transaction: what it raises rolls the whole write back.
AfterSave = Callable[["Ctx", int, bool], None]


@dataclass(frozen=True)
class EventsHint:
    """How a transaction that adds events makes sure a job will hand them on.

    Split in two so the database can answer ``waiting`` together with the events'
    insert (``Dialect.append_outbox``: one round trip on PostgreSQL), which every
    listened-to write pays; ``queue`` runs only when nothing is waiting yet."""

    #: Makes what ``waiting`` reads exist (a tenant's first events; cheap once done).
    ready: Callable[[Tenant], None]
    #: Whose first row, if any, says the consumers' job already waits to start.
    waiting: sa.Select[tuple[int]]
    #: Queue that job, in the events' transaction (so it commits with them).
    queue: Callable[[Tenant], None]


@dataclass(frozen=True)
class Wiring:
    """The hooks of the layers above the runtime, as one immutable value."""

    #: In the write's transaction, after the row, its history and its derived values.
    after_save: tuple[AfterSave, ...] = ()
    #: What handles record events after commit (webhooks, automation rules).
    consumers: tuple[EventConsumer, ...] = ()
    #: Asked by a transaction that adds events (wakes the consumers); None: nothing
    #: wakes them (a test or a tool drains the outbox itself).
    events_hint: EventsHint | None = None


#: The wiring of an instance nobody wired.
UNWIRED = Wiring()


def after_save(ctx: Ctx, record_id: int, created: bool) -> None:
    for fn in ctx.tenant.wiring.after_save:
        fn(ctx, record_id, created)


__all__ = ["UNWIRED", "AfterSave", "EventsHint", "Wiring", "after_save"]
