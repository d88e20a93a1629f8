"""Webhooks (DESIGN §9): signed JSON POSTs of record events to registered receivers.

- ``documents``: what may be registered (the document, the URL rules);
- ``store``: the tables (``sys_webhooks``, ``sys_webhook_deliveries``);
- ``sealing``, ``signing``: the secret at rest, the signature of a body;
- ``consumer``: the event consumer writing one delivery per matching webhook and event;
- ``runner``, ``delivery``: the job sending them in order, with retries and disabling;
- ``service``: what administrators do (the web layer's ``/api/v1/admin/webhooks``).
See docs/api.md ("Webhooks") and decision 0024.
"""

from __future__ import annotations

from .consumer import WebhookConsumer
from .consumer import consumer as event_consumer
from .runner import KIND, handle, next_due, run, run_due
from .service import WebhookService

#: Job kind -> handler, for the composition root's table (``crmforge.tasks``).
HANDLERS = {KIND: handle}

__all__ = ["HANDLERS", "KIND", "WebhookConsumer", "WebhookService", "event_consumer",
           "handle", "next_due", "run", "run_due"]
