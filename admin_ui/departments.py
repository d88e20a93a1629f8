"""Departments in the designer: the tree with each department's head, creating one under a
parent, relabelling, choosing a head, moving it under another parent, deleting an empty one.

Departments keep their API name (records and scopes refer to it), so "renaming" changes the
zh/en labels. Every change goes through ``security.people`` like the REST API's, which
refuses a move below the department itself and deleting one with members or
sub-departments; the refusal comes back beside its input, in the page's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.security import org, people
from crmforge.web.context import current_tenant

from . import bp
from .base import admin, lang
from .forms import label_of

#: The inputs of the department forms (errors of other keys are shown above the form).
INPUTS = ("name", "label_zh", "label_en", "parent", "head")
#: What marks one level of depth in a department select.
INDENT = "\u3000"


def title_of(doc: Mapping[str, Any], language: str) -> str:
    labels = doc.get("label") or {}
    return str(labels.get(language) or labels.get("en") or labels.get("zh") or doc["name"])


def tree(docs: Sequence[Mapping[str, Any]], language: str) -> list[dict[str, Any]]:
    """Departments as nested ``{"name", "title", "head", "below"}`` nodes, top ones first;
    a department whose parent is missing is shown at the top rather than lost."""
    names = {str(d["name"]) for d in docs}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for d in sorted(docs, key=lambda d: title_of(d, language).lower()):
        parent = d.get("parent") if d.get("parent") in names else None
        children.setdefault(parent, []).append(d)

    def node(d: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": d["name"], "title": title_of(d, language), "head": d.get("head"),
                "below": [node(c) for c in children.get(str(d["name"]), [])]}

    return [node(d) for d in children.get(None, [])]


def choices(docs: Sequence[Mapping[str, Any]], language: str,
            leave_out: str | None = None) -> list[tuple[str, str]]:
    """(name, title indented by depth) for a select, in tree order."""
    out: list[tuple[str, str]] = []

    def walk(nodes: list[dict[str, Any]], depth: int) -> None:
        for n in nodes:
            if n["name"] != leave_out:
                out.append((str(n["name"]), f"{INDENT * depth}{n['title']} ({n['name']})"))
            walk(n["below"], depth + 1)

    walk(tree(docs, language), 0)
    return out


def refusal(exc: ValidationFailed | Conflict) -> tuple[dict[str, list[str]], list[str]]:
    """The service's message beside each input it names (its field entries are short
    codes such as ``cycle``); a refusal naming no input is shown above the form."""
    placed: dict[str, list[str]] = {}
    for key in exc.fields:
        key = "label_zh" if key == "label" else key
        if key in INPUTS:
            placed[key] = [exc.message]
    return placed, [] if placed else [exc.message]


def _user_choices() -> list[tuple[str, str]]:
    with current_tenant().read() as conn:
        return [(str(u["username"]), str(u["display_name"] or u["username"])
                 + (f" ({u['username']})" if u["display_name"] else ""))
                for u in org.list_users(conn) if u["active"]]


# -- the tree -------------------------------------------------------------------------------
@bp.get("/departments")
def departments() -> tuple[str, int]:
    return render_tree()


def render_tree(values: dict[str, str] | None = None,
                errors: dict[str, list[str]] | None = None,
                general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    language = lang()
    with current_tenant().read() as conn:
        docs = org.list_departments(conn)
    return render_template(
        "admin/departments.html", tree=tree(docs, language), users=_user_choices(),
        parents=choices(docs, language), values=values or {}, errors=errors or {},
        general=general or [], status=status), status


@bp.post("/departments")
def create_department() -> Response | tuple[str, int]:
    form = request.form
    body: dict[str, Any] = {"name": (form.get("name") or "").strip(),
                            "parent": form.get("parent") or None,
                            "head": form.get("head") or None}
    if label_of(form):
        body["label"] = label_of(form)
    try:
        with current_tenant().write() as conn:
            doc = people.add_department(conn, admin(), body)
    except (ValidationFailed, Conflict) as exc:
        errors, general = refusal(exc)
        return render_tree(dict(form), errors, general, exc.status)
    flash(gettext("Department created."), "ok")
    return redirect(url_for("admin_ui.department_page", name=doc["name"]), 303)


# -- one department ---------------------------------------------------------------------------
@bp.get("/departments/<name>")
def department_page(name: str) -> tuple[str, int]:
    return render_department(name)


def render_department(name: str, *, values: dict[str, str] | None = None,
                      errors: dict[str, list[str]] | None = None,
                      general: list[str] | None = None, confirm_delete: bool = False,
                      status: int = 200) -> tuple[str, int]:
    """The department form; ``values`` are the inputs as typed when they were refused."""
    language = lang()
    with current_tenant().read() as conn:
        doc = org.get_department(conn, name)
        docs = org.list_departments(conn)
        members = [u for u in org.list_users(conn) if u["department"] == name]
    labels = doc.get("label") or {}
    form = values if values is not None else {
        "label_zh": str(labels.get("zh", "")), "label_en": str(labels.get("en", "")),
        "parent": str(doc.get("parent") or ""), "head": str(doc.get("head") or "")}
    below = _subtree(tree(docs, language), name)
    return render_template(
        "admin/department.html", department=doc, title=title_of(doc, language), form=form,
        parents=choices(docs, language, leave_out=name), users=_user_choices(),
        members=members, below=below, errors=errors or {}, general=general or [],
        confirm_delete=confirm_delete, status=status), status


def _subtree(nodes: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The departments directly below ``name`` (as tree nodes)."""
    for n in nodes:
        if n["name"] == name:
            return list(n["below"])
        found = _subtree(n["below"], name)
        if found:
            return found
    return []


@bp.post("/departments/<name>")
def save_department(name: str) -> Response | tuple[str, int]:
    """Set the labels, the parent and the head as the form shows them."""
    form = request.form
    body = {"label": label_of(form) or None, "parent": form.get("parent") or None,
            "head": form.get("head") or None}
    try:
        with current_tenant().write() as conn:
            people.change_department(conn, admin(), name, body)
    except (ValidationFailed, Conflict) as exc:
        errors, general = refusal(exc)
        return render_department(name, values=dict(form), errors=errors, general=general,
                                 status=exc.status)
    flash(gettext("Department saved."), "ok")
    return redirect(url_for("admin_ui.department_page", name=name), 303)


@bp.get("/departments/<name>/delete")
def department_delete_confirm(name: str) -> tuple[str, int]:
    return render_department(name, confirm_delete=True)


@bp.post("/departments/<name>/delete")
def delete_department(name: str) -> Response | tuple[str, int]:
    """Delete a department; the service refuses while it has members or sub-departments."""
    try:
        with current_tenant().write() as conn:
            people.remove_department(conn, admin(), name)
    except Conflict as exc:
        return render_department(name, general=[exc.message], status=exc.status)
    flash(gettext("Department deleted."), "ok")
    return redirect(url_for("admin_ui.departments"), 303)
