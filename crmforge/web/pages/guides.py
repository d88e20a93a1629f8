"""A pack's guide page, ``/guides/<pack>``: what its objects are, which process does what,
which role sees what, written from the installed metadata in the page's language.

A guide written by hand goes stale the first time an administrator renames a field or
changes a role; this one is read off the same documents the platform enforces, so it is
right for this tenant today, customizations included. It shows what the reader may see:
the objects and dashboards they can read, the processes on those objects, and the roles
(all of them to an administrator, their own to anybody else: what other roles may see is
an administrator's business).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import render_template
from flask_babel import gettext

from ...core.errors import NotFound
from ...installer import state as pack_state
from ...metadata.model import ObjectDef, Snapshot
from ...metadata.packs import dashboards
from ...security import engine as permissions
from ...security.engine import Access
from ..context import current_principal, current_tenant
from . import bp
from .display import chart_visible, translated
from .i18n import current_lang


def _operation(op: str) -> str:
    words: dict[str, str] = {"create": gettext("create"), "read": gettext("read"), "update": gettext("edit"),
            "delete": gettext("delete"), "transfer": gettext("transfer"),
            "share": gettext("share"), "submit": gettext("submit for approval"),
            "export": gettext("export")}
    return words.get(op, op)


def _scope(scope: str) -> str:
    words: dict[str, str] = {"own": gettext("their own records"),
            "department": gettext("their department's records"),
            "department_tree": gettext("their department's and sub-departments' records"),
            "all": gettext("all records"), "none": gettext("no records")}
    return words.get(scope, scope)


def pack_objects(snap: Snapshot, name: str) -> list[ObjectDef]:
    return [o for o in snap.objects.values() if o.options.get("pack") == name]


def visible_guides(snap: Snapshot, access: Access) -> list[dict[str, str]]:
    """The packs with an object the user may read, by label: one statement, and none
    for a tenant without packs."""
    names = sorted({str(o.options["pack"]) for o in snap.objects.values()
                    if o.options.get("pack") and access.allowed(o, "read")})
    if not names:
        return []
    lang = current_lang()
    with current_tenant().read() as conn:
        found = pack_state.labels(conn, names)
    return sorted(({"name": n, "label": translated(found.get(n), lang, n)} for n in names),
                  key=lambda g: g["label"].lower())


def _role(snap: Snapshot, doc: Mapping[str, Any], lang: str) -> dict[str, Any]:
    grants = []
    for object_name, grant in sorted((doc.get("permissions") or {}).items()):
        obj = snap.object(object_name)
        if obj is None:
            continue
        hidden = [f.label(lang) for f in obj.fields
                  if (grant.get("fields") or {}).get(f.name) == "hidden"]
        read_only = [f.label(lang) for f in obj.fields
                     if (grant.get("fields") or {}).get(f.name) == "read"]
        grants.append({"object": obj.label(lang), "name": obj.name,
                       "operations": [_operation(o) for o in grant.get("operations", [])],
                       "scope": _scope(str(grant.get("scope", "own"))),
                       "hidden": hidden, "read_only": read_only})
    return {"name": doc["name"], "label": translated(doc.get("label"), lang, str(doc["name"])),
            "description": translated(doc.get("description"), lang, ""), "grants": grants}


def _process(snap: Snapshot, doc: Mapping[str, Any], lang: str) -> dict[str, Any]:
    obj = snap.object(str(doc.get("object")))
    steps: Sequence[Mapping[str, Any]] = doc.get("steps") or []
    return {"name": doc["name"], "label": translated(doc.get("label"), lang, str(doc["name"])),
            "description": translated(doc.get("description"), lang, ""),
            "object": obj.label(lang) if obj else str(doc.get("object")),
            "steps": [translated(s.get("label"), lang, str(s.get("name"))) for s in steps]}


@bp.get("/guides/<name>")
def guide(name: str) -> str:
    tenant = current_tenant()
    principal = current_principal()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
        access = permissions.access(principal, snap)
        objects = pack_objects(snap, name)
        readable = [o for o in objects if access.allowed(o, "read")]
        if not readable and not (objects and principal.is_admin):
            raise NotFound(f"no guide named '{name[:40]}'")
        pack = pack_state.presented(conn, name)
    lang = current_lang()
    label, description = pack if pack is not None else (None, None)
    shown = {o.name for o in readable}
    roles = [_role(snap, r, lang) for r in snap.data.get("roles", [])
             if r.get("pack") == name and (principal.is_admin or r["name"] in principal.roles)]
    processes = [_process(snap, p, lang) for p in snap.data.get("processes", [])
                 if p.get("pack") == name and p.get("object") in shown]
    boards = [{"name": n, "label": translated(d.get("label"), lang, n)}
              for n, d in dashboards(snap).items() if d.get("pack") == name
              and any(chart_visible(access, snap, c) for c in d.get("charts", []))]
    return render_template(
        "guide.html", name=name,
        title=translated(label, lang, name),
        description=translated(description, lang, ""),
        objects=[{"name": o.name, "label": o.label(lang),
                  "description": translated(o.options.get("description"), lang, "")}
                 for o in readable],
        processes=processes, dashboards=boards, roles=roles,
        all_roles=principal.is_admin)
