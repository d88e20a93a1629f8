"""What a record's read view shows besides its fields: the header (title, owner, key
fields), the stage path, the activity timeline and the related lists (decision 0035).

Everything here shapes what the services already answered for this reader: the record
as they may read it, its history without hidden fields, the approval as they may see it,
the notes of a record they can see, and the children they may list. Nothing here reads
a field the reader cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.errors import CRMError
from ...core.filters import Condition, ListQuery
from ...metadata.layouts import SYSTEM_COLUMNS, layout_for
from ...runtime.context import utcnow
from ...runtime.notes import NoteService
from .display import Page, shown, titles

#: Key fields in the header: the first of the layout's list columns (what an
#: administrator chose to show of every record), the title excepted.
HIGHLIGHTS = 4
#: Columns of a related list (the child's first list columns, the parent lookup excepted)
#: and the rows it shows before "Show all".
RELATED_COLUMNS = 4
RELATED_LIMIT = 20
#: Picklists that make a stage path when the object has no status rules.
STAGE_NAMES = ("stage", "status")


def key_fields(page: Page) -> list[str]:
    """The header's key fields the reader may read: the layout's own choice
    (``record.highlights``, all of them), else the first of its list columns (what an
    administrator chose to show of every record), else of its form; never the title."""
    title_field = page.obj.title_field

    def usable(name: str) -> bool:
        return name != title_field and name in page.readable and page.obj.field(name) is not None

    if page.layout.highlights is not None:
        return [n for n in page.layout.highlights if usable(n)]
    names = [n for n in page.layout.columns if usable(n)] \
        or [n for n in page.layout.form_fields if usable(n)]
    return names[:HIGHLIGHTS]


def header(page: Page, record: Mapping[str, Any], found: Mapping[tuple[str, Any], str],
           service: NoteService, notes: list[dict[str, Any]]) -> dict[str, Any]:
    """The record's title, its owner's name, its key fields and the next follow-up date
    its notes ask for (today or later)."""
    title_field = page.obj.title_field
    title = record.get(title_field) if title_field in page.readable else None
    highlights = [{"name": n, "label": page.label(n), **shown(page, n, record, found)}
                  for n in key_fields(page)]
    today = utcnow().date().isoformat()
    due = sorted(str(n["follow_up"]) for n in notes
                 if n.get("follow_up") and str(n["follow_up"]) >= today)
    return {"title": str(title) if title not in (None, "") else f"#{record.get('id')}",
            "owner": service.owner_name(record.get("owner_id")),
            "highlights": highlights, "follow_up": due[0] if due else None}


def stage_field(page: Page) -> str | None:
    """The picklist the path follows: the layout's choice (``record.stage``), else the
    status rules' field, else a picklist named ``stage`` or ``status``; None when the
    reader cannot read it."""
    if page.layout.stage:
        f = page.obj.field(page.layout.stage)
        ok = f is not None and f.type == "picklist" and page.layout.stage in page.readable
        return page.layout.stage if ok else None
    rules = page.obj.options.get("status_rules") or {}
    candidates = [str(rules.get("field") or ""), *STAGE_NAMES]
    for name in candidates:
        f = page.obj.field(name)
        if f is not None and f.type == "picklist" and name in page.readable:
            return name
    return None


def stage_path(page: Page, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The choices as steps: those before the current one reached, the current one
    marked. A value not among the choices (an old one) marks none current."""
    name = stage_field(page)
    if name is None:
        return None
    f = page.obj.field(name)
    assert f is not None
    values = [str(c.get("value")) for c in f.options.get("choices") or []]
    if len(values) < 2:
        return None
    current = record.get(name)
    at = values.index(str(current)) if current is not None and str(current) in values else -1
    steps = [{"value": v, "label": f.choice_label(v, page.lang),
              "state": "done" if i < at else "current" if i == at else "todo"}
             for i, v in enumerate(values)]
    return {"field": name, "label": f.label(page.lang), "steps": steps}


def timeline(page: Page, history: list[dict[str, Any]], approval: Mapping[str, Any] | None,
             notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes (one entry per write, its fields with labels and shown values), approval
    steps and notes, newest first. ``history`` comes newest first and without the fields
    the reader cannot read (``RecordService.history``)."""
    out: list[dict[str, Any]] = []
    for h in history:
        last = out[-1] if out else None
        if h["field"] and last is not None and last["kind"] == "change" \
                and (last["version"], last["at"], last["by"], last["action"]) \
                == (h["version"], h["at"], h["by"], h["action"]):
            last["changes"].append(_change(page, h))
            continue
        entry = {"kind": "change", "at": h["at"], "by": h["by"], "action": h["action"],
                 "version": h["version"], "changes": [_change(page, h)] if h["field"] else [],
                 "file": (h.get("new") or h.get("old") or {}).get("name", "")
                 if str(h["action"]).startswith("attachment_") else ""}
        out.append(entry)
    steps = ((approval or {}).get("approval") or {}).get("history") or []
    out.extend({"kind": "approval", "at": a.get("at") or "", "by": a.get("by") or "",
                "action": a.get("action"), "step": a.get("step"),
                "comment": a.get("comment"), "on_behalf_of": a.get("on_behalf_of")}
               for a in steps)
    me, admin = page.principal.user_id, page.principal.is_admin
    out.extend({"kind": "note", "at": n["at"], "by": n["author"], "body": n["body"],
                "follow_up": n["follow_up"], "id": n["id"], "edited_at": n["edited_at"],
                "mine": n["author_id"] == me, "deletable": n["author_id"] == me or admin}
               for n in notes)
    order = {"note": 2, "approval": 1, "change": 0}
    out.sort(key=lambda e: (str(e["at"])[:19], order[e["kind"]]), reverse=True)
    return out


def _change(page: Page, h: Mapping[str, Any]) -> dict[str, Any]:
    return {"label": page.label(h["field"]), "old": h.get("old_text", ""),
            "new": h.get("new_text", "")}


def related(page: Page, rid: int) -> list[dict[str, Any]]:
    """Children of this record (objects whose lookup or master-detail points here) as
    tables of the child's first list columns, each with a "New" address that starts the
    child's form pointing here when the reader may create one."""
    out = []
    for child in sorted(page.snapshot.objects.values(), key=lambda o: o.name):
        if not page.access.allowed(child, "read"):
            continue
        readable = page.access.readable(child)
        for f in child.fields:
            if f.type not in ("lookup", "master_detail") or f.target != page.obj.name \
                    or f.name not in readable:
                continue
            sub = Page(page.principal, page.snapshot, child, page.access,
                       layout_for(page.snapshot, child, page.principal.roles), page.lang)
            columns = _related_columns(sub, f.name)
            q = ListQuery(conditions=(Condition(f.name, "eq", str(rid)),),
                          fields=tuple(c for c in columns if c not in SYSTEM_COLUMNS) or None,
                          limit=RELATED_LIMIT)
            try:
                items = page.service().list(page.principal, child.name, q)["items"]
            except CRMError:
                continue
            found = titles(sub, items, columns)
            may_new = page.access.allowed(child, "create") and f.name in sub.writable
            out.append({
                "object": child.name, "field": f.name,
                "label": f"{child.label(page.lang)} · {f.label(page.lang)}",
                "columns": [{"name": c, "label": sub.label(c)} for c in columns],
                "rows": [{"id": i["id"], "cells": [shown(sub, c, i, found) for c in columns]}
                         for i in items],
                "more": len(items) >= RELATED_LIMIT,
                "new": f"/records/{child.name}/new?{f.name}={rid}" if may_new else None})
    return out


def _related_columns(sub: Page, parent_field: str) -> list[str]:
    title = sub.obj.title_field
    names = [c for c in sub.layout.columns if c != parent_field and c in sub.readable
             and sub.obj.field(c) is not None]
    if title in sub.readable and title not in names:
        names.insert(0, title)
    return names[:RELATED_COLUMNS] or ["id"]


__all__ = ["header", "related", "stage_field", "stage_path", "timeline"]
