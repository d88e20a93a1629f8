"""Lookup fields on record forms (decision 0037): the select starts with the current
choice, the reader's recently viewed records of the target and the first others, so it
works without JavaScript; typing in the search box beside it asks ``_options`` (htmx) for
the matching records, the current choice kept first. Each choice shows the record's title
and a second identifying field (``runtime.lookups``)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from ...runtime import forms, lookups
from ..context import current_tenant
from .display import Page


def _options(page: Page, wanted: dict[str, Any], text: str = "") -> dict[str, list[Any]]:
    return lookups.choices(current_tenant(), page.principal, page.obj.name, wanted, text)


def fill_choices(page: Page, form: Any, editable: list[str]) -> None:
    """Each editable lookup's select: blank, the current choice (from the record or from
    what was posted, so a refused save keeps the chosen record by its title), then recent
    and other records of the target the reader may read."""
    wanted = {}
    for name in editable:
        f = page.obj.field(name)
        if f is not None and f.type in ("lookup", "master_detail") and name in form:
            wanted[name] = form[name].data
    found = _options(page, wanted) if wanted else {}
    for name, current in wanted.items():
        choices = [forms.BLANK]
        offered = found.get(name, [])
        choices += [forms.choice(str(c.id), c.text) for c in offered]
        value = str(current) if current not in (None, "") else ""
        if value and value not in {str(c.id) for c in offered}:
            # Not visible (or no longer there): the bare number, so the save says why.
            choices.insert(1, forms.choice(value, f"#{value}"))
        form[name].choices = choices


def options_fragment(page: Page) -> str:
    """The ``<option>`` list of one lookup for the search text typed (``q_<field>``)."""
    name = request.args.get("field", "")
    f = page.obj.field(name)
    items: list[Any] = []
    current = ""
    if f is not None and f.type in ("lookup", "master_detail"):
        current = request.args.get(name, "")
        text = " ".join(v for k, v in request.args.items() if k.startswith("q_")).strip()
        items = _options(page, {name: current or None}, text).get(name, [])
    return render_template("_options.html", items=items, current=current)
