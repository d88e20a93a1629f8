"""``/settings/display``: the reader's own time zone for dates and times on the pages.

An organisation sets one zone for everybody (``CRMFORGE_TIMEZONE``); a user who works from
another one (a sales office abroad, a trip) picks theirs here. Like the interface
language, it is a preference of the browser, kept in a cookie: the pages read it with the
request, so showing a time costs no statement, and the REST API, exports and webhooks keep
answering in UTC. Only IANA zone names known to this server are accepted; anything else is
refused on the page and nothing changes.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ..display_settings import DEFAULTS
from . import bp
from .formats import ZONE_COOKIE as COOKIE
from .formats import known_zone, zone_names

COOKIE_DAYS = 365


def chosen_zone() -> str | None:
    """The zone the reader chose (its cookie), when it is one this server knows."""
    name = request.cookies.get(COOKIE)
    return name if known_zone(name) else None


def _organisation_zone() -> str:
    return str(current_app.config.get("CRMFORGE_TIMEZONE", DEFAULTS["CRMFORGE_TIMEZONE"]))


def _render(error: str | None = None, status: int = 200, picked: str | None = None
            ) -> tuple[str, int]:
    return render_template("preferences.html", zones=zone_names(), error=error,
                           current=picked if picked is not None else (chosen_zone() or ""),
                           organisation=_organisation_zone()), status


@bp.get("/settings/display")
def preferences_page() -> tuple[str, int]:
    return _render()


@bp.post("/settings/display")
def preferences_save() -> Response | tuple[str, int]:
    name = request.form.get("time_zone", "").strip()
    if name and not known_zone(name):
        return _render(gettext("%(zone)s is not a time zone this server knows; choose one "
                               "from the list.", zone=name[:60]), 422, picked="")
    flash(gettext("Saved."), "ok")
    response = redirect(url_for("pages.preferences_page"), 303)
    if name:
        response.set_cookie(COOKIE, name, max_age=COOKIE_DAYS * 86400, httponly=True,
                            samesite="Lax", secure=bool(current_app.config["SESSION_COOKIE_SECURE"]))
    else:
        response.delete_cookie(COOKIE, samesite="Lax",
                               secure=bool(current_app.config["SESSION_COOKIE_SECURE"]))
    return response
