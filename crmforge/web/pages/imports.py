"""The import wizard at ``/imports`` (DESIGN §9): choose the object and the file, check the
proposed mapping (a select per column offering only the fields the user may edit),
choose the mode, key, dry run and all or none, run, watch the progress, read the per-row
errors, download the error file, undo; and the user's past imports.

The page is rendered here; ``static/imports.js`` drives the steps through the JSON API
(``/api/v1/imports``: preview, start, status, undo) with the session and its CSRF token,
so the wizard does nothing the API would not let the user do. Its texts come from this
page in the page's language (a JSON block: data, never run).
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext

from ...runtime.imports.service import ImportService, max_bytes
from ...security import engine as permissions
from ..context import current_principal, current_tenant
from . import bp
from .i18n import current_lang


def _texts() -> dict[str, str]:
    """What the script shows, in the page's language."""
    texts = {
        "ignore": "(do not import)", "by_title": "by title", "by": "by %(field)s",
        "by_id": "by ID", "queued": "Waiting to start…", "running": "Importing…",
        "checking": "Checking every row…", "done": "Finished.",
        "failed": "Nothing was imported.", "cancelled": "Cancelled.",
        "dry_done": "Dry run finished: nothing was changed.", "row": "Row",
        "field": "Field", "message": "Message", "file_problem": "The file",
        "undo_done": "Undone: %(n)s records moved to the recycle bin.",
        "undo_running": "Undoing…",
        "undo_confirm": "Move the %(n)s records this import created to the recycle bin?",
        "required": "required", "missing": "Required fields without a column: %(fields)s",
        "error": "Error",
        "truncated": "Only the first errors are listed; the error file has them all.",
        "progress": "%(processed)s of %(total)s rows", "choose_file": "Choose a file first.",
    }
    # Placeholders stay for the script to fill: gettext with no values leaves them as they are.
    return {key: str(gettext(text)) for key, text in texts.items()}


@bp.get("/imports")
def imports_page() -> str:
    principal = current_principal()
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    access = permissions.access(principal, snap)
    lang = current_lang()
    objects = sorted(({"name": o.name, "label": o.label(lang)} for o in snap.objects.values()
                      if access.allowed(o, "import")), key=lambda o: str(o["label"]).lower())
    labels = {o.name: o.label(lang) for o in snap.objects.values()}
    recent: list[dict[str, Any]] = ImportService(tenant).recent(principal, 20)
    for item in recent:
        item["label"] = labels.get(item["object"], item["object"])
    opened = request.args.get("id", "")
    return render_template("imports.html", objects=objects, recent=recent, texts=_texts(),
                           opened=int(opened) if opened.isdigit() else None,
                           max_mb=max_bytes() // (1024 * 1024))
