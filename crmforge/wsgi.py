"""The WSGI entry point for servers other than ``crmforge serve``:

    CRMFORGE_INSTANCE=/srv/crmforge gunicorn 'crmforge.wsgi:app' --workers 4 --timeout 300

Each worker process opens the instance itself on import (after the fork, so no database
connection is shared between processes). Approval reminders and escalations are not
started here: run them once per deployment (``crmforge serve`` does it in its master
process).
"""

from __future__ import annotations

import os

from flask import Flask

from .web import create_app


def make_app() -> Flask:
    path = os.environ.get("CRMFORGE_INSTANCE")
    if not path:
        raise RuntimeError("set CRMFORGE_INSTANCE to the instance folder (crmforge init made)")
    return create_app(path)


app = make_app() if os.environ.get("CRMFORGE_INSTANCE") else None

__all__ = ["app", "make_app"]
