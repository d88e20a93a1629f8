"""The composition root: what the layers above the runtime plug into it, in one place.

The runtime's write pipeline calls hooks and hands events to consumers it does not know
(DESIGN §1: it may not import the layers above it). ``wire`` gives an instance all of
them at once, explicitly, instead of each module registering itself when it happens to be
imported. Everything that serves an instance (the web app, the command line, the job
worker) wires it through here.
"""

from __future__ import annotations

from .integrations import webhooks
from .runtime import Instance, event_jobs
from .runtime.hooks import UNWIRED, Wiring
from .workflow import auto_submit
from .workflow.automation import AutomationConsumer


def wiring() -> Wiring:
    """The hooks and event consumers of a fully working instance."""
    return Wiring(after_save=(auto_submit,),
                  consumers=(AutomationConsumer(), webhooks.event_consumer),
                  events_hint=event_jobs.hint)


def wire(instance: Instance) -> Instance:
    """Give ``instance`` (and the tenants it opens) the full wiring, unless it was wired
    already (a server made for an instance a command or a test wired keeps that wiring);
    returns it."""
    if instance.wiring is UNWIRED:
        instance.wire(wiring())
    return instance


__all__ = ["wire", "wiring"]
