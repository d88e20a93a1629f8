"""Integrations: what carries CRM events to systems outside the instance (webhooks).

A layer between ``workflow`` and ``installer`` (DESIGN §1, docs/ARCHITECTURE.md): it reads
records through the runtime's record service, with the permissions of the user an
integration acts for, tells administrators through the workflow's notifications, and never
takes part in a record write: it consumes the runtime's event outbox after commit.
"""
