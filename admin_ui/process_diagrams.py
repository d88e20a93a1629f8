"""The BPMN editor of a process (bpmn-js Modeler): open the saved version's BPMN, or an
empty diagram for a process drawn from scratch, and save the edited diagram.

The browser sends the diagram's XML in a plain form; the server reads it with
``import_bpmn`` (the same reading as ``POST /api/v1/meta/processes/import``) and saves
the document through ``ProcessService``, so a drawn process is checked and compiled like
any other and nothing of the XML runs as it is.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, NotFound, ValidationFailed
from crmforge.workflow.importer import read_bpmn

from . import bp
from .base import admin, designer, lang
from .processes import process_label, service


def _render(name: str, object_name: str, xml: str | None, doc: dict[str, Any] | None, *,
            general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    snap = designer().snapshot()
    language = lang()
    obj = snap.object(object_name)
    user_fields = [(f.name, f"{f.label(language)} ({f.name})")
                   for f in (obj.fields if obj else []) if f.type == "user"]
    roles = sorted(str(r["name"]) for r in snap.data.get("roles", []))
    return render_template(
        "admin/process_diagram.html", name=name, object_name=object_name,
        object_label=obj.label(language) if obj else object_name, proc=doc,
        title=process_label(doc) if doc else name, designer_data={"xml": xml, "lang": language},
        roles=roles, user_fields=user_fields, general=general or [], status=status), status


def _saved(name: str) -> dict[str, Any] | None:
    try:
        return service().get(name)
    except NotFound:
        return None


@bp.get("/processes/draw")
def draw_process() -> tuple[str, int]:
    """An empty diagram for a new process (``?name=...&object=...``)."""
    name = (request.args.get("name") or "").strip()
    object_name = (request.args.get("object") or "").strip()
    general = [] if name and object_name else [gettext("Give the process a name and an object.")]
    return _render(name, object_name, None, None, general=general)


@bp.route("/processes/<name>/diagram", methods=["GET", "POST"])
def process_diagram(name: str) -> Response | tuple[str, int]:
    current = _saved(name)
    if request.method == "GET":
        if current is None:
            raise NotFound(f"no process named '{name[:40]}'")
        return _render(name, current["object"], service().bpmn(name).decode(), current)
    xml = request.form.get("bpmn") or ""
    object_name = current["object"] if current else (request.form.get("object") or "").strip()
    try:
        imported = read_bpmn(xml.encode(), name, object_name)
        doc = imported.doc
        if current is None:
            service().create(admin(), doc)
        else:  # what the diagram no longer holds goes away
            gone = {k: None for k in current if k not in doc and k != "version"}
            service().update(admin(), name, {**gone, **doc})
    except (ValidationFailed, Conflict) as exc:
        general = [m for k, v in exc.fields.items()  # each refused element on its own
                   for m in (v if k == "bpmn" else [f"{k}: {'; '.join(v)}"])] or [exc.message]
        return _render(name, object_name, xml or None, current, general=general,
                       status=exc.status)
    flash(gettext("Diagram saved."), "ok")
    for left_out in imported.warnings:
        flash(left_out.message, "warn")
    return redirect(url_for("admin_ui.process_diagram", name=name), 303)
