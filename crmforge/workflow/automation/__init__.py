"""Automation rules (DESIGN §9, second part): when a record is created, updated, saved,
deleted, or a date of it comes near, and a condition holds, run actions: update the
record, create a related one, notify users, send an e-mail, call a webhook.

- ``documents``: the rule document, checked when saved (JSON Schema, names, expressions,
  merge fields), stored in the snapshot's ``automations`` list;
- ``service``: create, change, remove through the Designer (versioned metadata);
- ``compiled``: rules compiled once per snapshot;
- ``consumer``: the event consumer that runs record rules after commit;
- ``dates``: the periodic scan of date rules;
- ``actions``, ``runner``, ``recipients``, ``templates``, ``delivery``: running them.

See docs/automation.md and decision 0025.
"""

from __future__ import annotations

from .consumer import AutomationConsumer
from .dates import run_all as run_date_rules
from .dates import scan as scan_date_rules
from .delivery import deliver_due as deliver_webhook_calls
from .documents import automation_docs, prepare_automation
from .service import AutomationService

__all__ = ["AutomationConsumer", "AutomationService", "automation_docs",
           "deliver_webhook_calls", "prepare_automation", "run_date_rules", "scan_date_rules"]
