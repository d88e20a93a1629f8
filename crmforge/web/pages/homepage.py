"""The home page's sections (decision 0037): the signed-in user's approval tasks, what
needs their attention, their recently viewed records and the dashboards their roles may
see. The sections come from ``workflow.home.HomeService`` (a fixed number of statements
whatever the data); this module only adds links for the page."""

from __future__ import annotations

from typing import Any

from flask import url_for

from ...workflow.home import HomeService
from ..context import current_principal, current_tenant
from .i18n import current_lang


def sections() -> dict[str, Any]:
    """``tasks``, ``attention`` and ``recent`` with each entry's ``href``."""
    home = HomeService(current_tenant()).home(current_principal(), current_lang())
    for entry in [*home.attention, *home.recent]:
        entry["href"] = url_for("pages.record_page", object_name=entry["object"],
                                record_id=entry["id"])
    for task in home.tasks:
        task["href"] = url_for("pages.record_page", object_name=task["object"],
                               record_id=task["record_id"]) if task["object"] else None
    return {"tasks": home.tasks, "attention": home.attention, "recent": home.recent}
