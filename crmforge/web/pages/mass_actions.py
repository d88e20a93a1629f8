"""Mass actions on the list page: ``POST /records/<object>/_mass`` with an action and the
ticked record ids (at most ``MAX_IDS``).

Each record goes through the record service (delete, transfer) or the approval service
(submit) exactly as its own page's button would, each in its own transaction: record-level
permissions, status rules and approval locks decide per record, a refused record changes
nothing, and the others go ahead (decision 0011). The answer reports how many succeeded
and, for each refused record, its title and the service's reason. When none is refused the
browser is sent back to the list with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...core.errors import BadRequest, CRMError, Forbidden
from ...core.filters import Condition, ListQuery
from ...workflow import ApprovalService
from ..context import current_tenant
from . import bp, confirmations
from .display import Page, page_for
from .lists import list_href, mass_actions_for, render_list

#: The most records one request acts on (a list page shows 50).
MAX_IDS = 200


def _ids() -> list[int]:
    """The ticked ids, each once, in the order sent; anything else is a 400."""
    raw = request.form.getlist("id")
    if len(raw) > MAX_IDS:
        raise BadRequest(gettext("At most %(max)s records at once; %(n)s were selected.",
                                 max=MAX_IDS, n=len(raw)))
    ids: list[int] = []
    for value in raw:
        if not (value.isascii() and value.isdigit() and len(value) < 19):
            raise BadRequest(gettext("'%(value)s' is not a record id.", value=value[:20]))
        if int(value) not in ids:
            ids.append(int(value))
    if not ids:
        raise BadRequest(gettext("Select at least one record."))
    return ids


def _titles(page: Page, ids: list[int]) -> dict[int, str]:
    """Titles of the records the user may see, read before acting (a deleted record's
    title is gone afterwards); the others are named by id."""
    title = page.obj.title_field
    fields = (title,) if title in page.readable else ("id",)
    q = ListQuery(conditions=(Condition("id", "in", tuple(str(i) for i in ids)),),
                  fields=fields, limit=len(ids))
    try:
        items = page.service().list(page.principal, page.obj.name, q)["items"]
    except CRMError:
        return {}
    return {int(r["id"]): str(r.get(title) or f"#{r['id']}") for r in items}


def _runner(page: Page, action: str) -> Callable[[int], Any]:
    """One record's action, as the single-record endpoints call the services."""
    if action == "delete":
        return lambda rid: page.service().delete(page.principal, page.obj.name, rid)
    if action == "transfer":
        owner = request.form.get("owner", "").strip()
        if not owner:
            raise BadRequest(gettext("Enter the user name of the new owner."))
        return lambda rid: page.service().transfer(page.principal, page.obj.name, rid, owner)
    approvals = ApprovalService(current_tenant())
    return lambda rid: approvals.submit(page.principal, page.obj.name, rid)


@bp.post("/records/<object_name>/_mass")
def mass_action(object_name: str) -> Response | tuple[str, int]:
    page = page_for(object_name)
    action = request.form.get("action", "")
    try:
        if action not in ("delete", "transfer", "submit"):
            raise BadRequest(gettext("Choose an action."))
        if action not in mass_actions_for(page):
            raise Forbidden(gettext("You may not do this with these records."))
        ids = _ids()
        run = _runner(page, action)
    except CRMError as exc:
        return render_list(page, problem=exc, status=exc.status)
    found = _titles(page, ids)
    if action == "delete":
        asked = confirmations.ask(
            gettext("Delete the selected records (%(n)s)?", n=len(ids)),
            gettext("They move to the recycle bin, with the records that belong to them, and "
                    "can be restored from there."),
            list_href(page.obj.name), gettext("Yes, move them to the recycle bin"),
            [found.get(rid, f"#{rid}") for rid in ids])
        if asked is not None:
            return asked, 200
    done = 0
    refused: list[dict[str, Any]] = []
    first_status = 200
    for rid in ids:
        try:
            run(rid)  # its own transaction: all of this record's change, or none of it
        except CRMError as exc:
            refused.append({"id": rid, "title": found.get(rid, f"#{rid}"),
                            "message": exc.message})
            first_status = exc.status if first_status == 200 else first_status
        else:
            done += 1
    if not refused:
        flash(gettext("%(n)s of %(total)s records done.", n=done, total=len(ids)), "ok")
        return redirect(list_href(object_name), 303)
    report = {"action": action, "done": done, "total": len(ids), "refused": refused}
    return render_list(page, report=report, status=200 if done else first_status)
