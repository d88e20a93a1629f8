"""Users in the designer: the list with a filter, creating a user, and one user's page
(roles, department, administrator flag, activation, unlocking, a new password).

The views only turn forms into the bodies the REST API takes and hand them to
``security.people``, which checks them (password policy, taken names, unknown departments
and roles) and writes the admin audit. A refusal changes nothing (the write transaction
rolls back) and comes back beside its input, in the page's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from crmforge.core.errors import Conflict, ValidationFailed
from crmforge.security import org, people
from crmforge.web.context import current_tenant

from . import bp
from .base import admin, designer, lang
from .departments import choices as department_choices
from .departments import title_of as department_title
from .roles import title_of as role_title

#: The inputs of the user forms (errors of other keys are shown above the form).
INPUTS = ("username", "password", "display_name", "department", "roles", "is_admin",
          "active")


def _tenant_docs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with current_tenant().read() as conn:
        return org.list_users(conn), org.list_departments(conn)


def _role_docs() -> list[dict[str, Any]]:
    return sorted(designer().roles(), key=lambda r: str(r["name"]))


def _known_roles() -> list[str]:
    return [str(r["name"]) for r in _role_docs()]


def refusal(exc: ValidationFailed | Conflict) -> tuple[dict[str, list[str]], list[str]]:
    """The service's messages beside their inputs: an unknown role is named by the whole
    message (its field entry is the bare role name); other keys are shown above the form."""
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for key, messages in exc.fields.items():
        if key == "roles":
            placed[key] = [exc.message]
        elif key in INPUTS:
            placed[key] = list(messages)
        else:
            general.extend(messages)
    return placed, general or ([] if placed else [exc.message])


def matches(user: Mapping[str, Any], words: str, titles: Mapping[str, str]) -> bool:
    """Whether every word of the filter is in the user's name, display name, department
    or roles, by name or title (``titles``; case does not matter)."""
    haystack = " ".join([str(user["username"]), str(user.get("display_name") or ""),
                         str(user.get("department") or ""),
                         titles.get(str(user.get("department")), ""),
                         *(user.get("roles") or []),
                         *(titles.get(r, "") for r in user.get("roles") or [])]).lower()
    return all(w in haystack for w in words.lower().split())


def _role_options(language: str) -> list[tuple[str, str]]:
    return [(str(r["name"]), role_title(r, language)) for r in _role_docs()]


# -- the list -------------------------------------------------------------------------------
@bp.get("/users")
def users() -> tuple[str, int]:
    return render_users()


def render_users(values: Mapping[str, Any] | None = None,
                 errors: dict[str, list[str]] | None = None,
                 general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    language = lang()
    docs, depts = _tenant_docs()
    titles = {str(d["name"]): department_title(d, language) for d in depts}
    words = (request.args.get("q") or "").strip()
    roles = _role_options(language)
    shown = [u for u in docs if matches(u, words, {**titles, **dict(roles)})]
    return render_template(
        "admin/users.html", users=shown, total=len(docs), q=words, titles=titles,
        departments=department_choices(depts, language), roles=roles,
        role_titles=dict(roles), values=values or {}, errors=errors or {},
        general=general or [], status=status), status


def _chosen_roles(values: Mapping[str, Any]) -> list[str]:
    roles = values.get("roles") or []
    return [str(r) for r in roles] if isinstance(roles, list) else [str(roles)]


@bp.post("/users")
def create_user() -> Response | tuple[str, int]:
    form = request.form
    body: dict[str, Any] = {"username": form.get("username") or "",
                            "password": form.get("password") or "",
                            "department": form.get("department") or None,
                            "roles": [r for r in form.getlist("roles") if r],
                            "is_admin": bool(form.get("is_admin"))}
    if (form.get("display_name") or "").strip():
        body["display_name"] = form["display_name"].strip()
    try:
        with current_tenant().write() as conn:
            people.add_user(conn, admin(), body, _known_roles())
    except (ValidationFailed, Conflict) as exc:
        errors, general = refusal(exc)
        typed = {k: v for k, v in body.items() if k != "password"}
        typed.update(is_admin="1" if body["is_admin"] else "",
                     display_name=form.get("display_name") or "",
                     department=body["department"] or "")
        return render_users(typed, errors, general, exc.status)
    flash(gettext("User created."), "ok")
    return redirect(url_for("admin_ui.user_page", username=body["username"]), 303)


# -- one user -------------------------------------------------------------------------------
@bp.get("/users/<username>")
def user_page(username: str) -> tuple[str, int]:
    return render_user(username)


def render_user(username: str, *, values: Mapping[str, Any] | None = None,
                errors: dict[str, list[str]] | None = None,
                general: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """One user's forms; ``values`` are the inputs as typed when they were refused."""
    language = lang()
    with current_tenant().read() as conn:
        user = org.user_doc(conn, org.user_row(conn, username))
        depts = org.list_departments(conn)
    form = dict(values) if values is not None else {
        "display_name": user["display_name"] or "", "department": user["department"] or "",
        "roles": list(user["roles"]), "is_admin": "1" if user["is_admin"] else ""}
    return render_template(
        "admin/user.html", user=user, form=form, chosen=set(_chosen_roles(form)),
        departments=department_choices(depts, language), roles=_role_options(language),
        is_self=username == admin().username, errors=errors or {}, general=general or [],
        status=status), status


def _change(username: str, body: Mapping[str, Any], done: str,
            action: str = "change user", typed: Mapping[str, Any] | None = None,
            roles: Iterable[str] = ()) -> Response | tuple[str, int]:
    """Apply ``body`` through the service; flash ``done`` and go back to the user's page,
    or show the page again with the refusal beside its input."""
    try:
        with current_tenant().write() as conn:
            if action == "reset password":
                people.reset_password(conn, admin(), username, body.get("password"))
            else:
                people.change_user(conn, admin(), username, body, roles, action=action)
    except (ValidationFailed, Conflict) as exc:
        errors, general = refusal(exc)
        return render_user(username, values=typed, errors=errors, general=general,
                           status=exc.status)
    flash(done, "ok")
    return redirect(url_for("admin_ui.user_page", username=username), 303)


@bp.post("/users/<username>")
def save_user(username: str) -> Response | tuple[str, int]:
    """Set the display name, department, roles and administrator flag as the form shows
    them (an administrator cannot take away their own flag here: they would lock
    themselves out of this page)."""
    form = request.form
    body: dict[str, Any] = {"display_name": (form.get("display_name") or "").strip() or None,
                            "department": form.get("department") or None,
                            "roles": [r for r in form.getlist("roles") if r]}
    if username != admin().username:
        body["is_admin"] = bool(form.get("is_admin"))
    typed = {**body, "department": body["department"] or "",
             "display_name": form.get("display_name") or "",
             "is_admin": "1" if form.get("is_admin") else ""}
    return _change(username, body, gettext("User saved."), typed=typed,
                   roles=_known_roles())


@bp.post("/users/<username>/active")
def set_active(username: str) -> Response | tuple[str, int]:
    """Activate or deactivate (``active`` = 1 or 0); deactivating ends the user's sessions.
    Administrators do not deactivate themselves here."""
    active = request.form.get("active") == "1"
    if not active and username == admin().username:
        return render_user(username, errors={"active": [gettext(
            "You cannot deactivate your own account.")]}, status=422)
    return _change(username, {"active": active},
                   gettext("User activated.") if active else gettext("User deactivated."),
                   action="activate user" if active else "deactivate user")


@bp.post("/users/<username>/unlock")
def unlock_user(username: str) -> Response | tuple[str, int]:
    return _change(username, {"unlock": True}, gettext("User unlocked."),
                   action="unlock user")


@bp.post("/users/<username>/password")
def reset_password(username: str) -> Response | tuple[str, int]:
    """A new password typed by the administrator; it also lifts a lockout and ends every
    session of the user."""
    return _change(username, {"password": request.form.get("password") or ""},
                   gettext("Password reset."), action="reset password")
