"""Metadata history: every published version with its author, time and summary; the stored
diff of one version; rolling back to a version after a confirmation page.

A rollback publishes the old version again as a new one (nothing is dropped: objects and
fields it lacks go to the metadata recycle bin), so the history only grows.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import NotFound
from crmforge.metadata.model import Snapshot

from . import bp
from .base import admin, designer, lang

HISTORY_LIMIT = 200


@bp.get("/history")
def history() -> str:
    d = designer()
    return render_template("admin/history.html", versions=d.history(HISTORY_LIMIT),
                           current=d.snapshot().version)


def _entry(version: int) -> dict[str, Any]:
    d = designer()
    current = d.snapshot().version
    if not 1 <= version <= current:
        raise NotFound(f"metadata version {version} does not exist")
    entries = d.history(current - version + 1)
    return next(e for e in entries if e["version"] == version)


def _names(snap: Snapshot) -> dict[str, str]:
    """Ids of objects and fields (also removed ones) to names in the page language."""
    language = lang()
    names: dict[str, str] = {}
    objects = [*snap.objects.values(), *(r.obj for r in snap.removed_objects.values())]
    for o in objects:
        names[o.id] = o.label(language)
        for f in [*o.fields, *(r.field for r in o.removed_fields)]:
            names[f.id] = f"{f.label(language)} ({f.name})"
    return names


@bp.get("/history/<int:version>")
def version(version: int) -> str:
    entry = _entry(version)
    names = _names(designer().version(version))
    if version > 1:  # what a change removed is named in the version before it
        names = {**_names(designer().version(version - 1)), **names}
    return render_template("admin/version.html", entry=entry, names=names,
                           current=designer().snapshot().version)


@bp.get("/history/<int:version>/rollback")
def rollback_confirm(version: int) -> str:
    return render_template("admin/rollback.html", entry=_entry(version),
                           current=designer().snapshot().version)


@bp.post("/history/<int:version>/rollback")
def rollback(version: int) -> Response:
    _entry(version)
    snap = designer().rollback(admin(), version)
    flash(gettext("Rolled back: version %(new)s is version %(old)s again.",
                  new=snap.version, old=version), "ok")
    return redirect(url_for("admin_ui.history"), 303)
