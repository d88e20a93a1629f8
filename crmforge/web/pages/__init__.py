"""The business user pages (DESIGN §9): server-rendered Jinja with htmx as progressive
enhancement. Views parse the request, call the record service or a runtime function and
render; permissions, validation and expressions stay in those layers.

Every page needs a signed-in user; without one the browser is sent to ``/login`` and
comes back afterwards. Front-end libraries come from npm, never from committed files:
the copy a built package carries, else ``node_modules`` (``..vendor``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext
from markupsafe import Markup
from werkzeug.wrappers import Response

from ...core.errors import CRMError, Unauthorized
from ...security import engine as permissions
from .. import errors, vendor
from ..context import current_principal, current_tenant
from . import formats, i18n, icons
from .navigation import app_bar

bp = Blueprint("pages", __name__)

#: The type of a library file follows its URL's suffix. bpmn-js's "embedded" font sheet
#: carries its icon font inline, so no font files need serving.
MIMETYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
PUBLIC_ENDPOINTS = frozenset({"pages.asset", "pages.favicon"})


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    assert isinstance(state.app, Flask)
    i18n.install(state.app)
    formats.install(state.app)
    state.app.extensions[errors.PAGE_ERRORS] = _page_error


@bp.before_request
def _signed_in() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    try:
        current_principal()
    except Unauthorized:
        return redirect(url_for("session.login_form", next=request.full_path.rstrip("?")))
    return None


@bp.errorhandler(CRMError)
def _error(exc: CRMError) -> tuple[str, int]:
    return render_template("error.html", error=exc), exc.status


#: Addresses that are never pages, even when no route matches them.
NOT_PAGES = ("/api/", "/admin/", "/healthz", "/readyz", "/metrics")


def _page_error(status: int, rid: str | None) -> tuple[str, int] | None:
    """An HTTP error (unknown address, wrong method, unreadable request) or an unexpected
    fault as a page in the user's language, when a page was asked for: one of these views,
    or an address no route matches outside the API and the designer. A browser shows a JSON
    envelope as raw text, so pages never answer one."""
    if request.blueprint != bp.name and (request.url_rule is not None
                                         or request.path.startswith(NOT_PAGES)):
        return None
    texts = {
        400: gettext("The request could not be read; go back and try again."),
        404: gettext("There is no such page."),
        405: gettext("This address does not accept this kind of request."),
        413: gettext("The request is larger than the server accepts."),
        500: gettext("Something went wrong on our side; it has been logged with request id "
                     "%(id)s.", id=rid or "-"),
    }
    error = CRMError(texts.get(status) or gettext("The request could not be completed."))
    error.status = status
    try:
        return render_template("error.html", error=error), status
    except Exception:  # the error page itself failed: the JSON envelope, then
        return None


def _reader() -> tuple[Any, Any] | None:
    """The snapshot and the signed-in user's permission plan (None without a user, e.g.
    on an error page); read once per request, as the top bar and the home page both ask."""
    if "page_reader" in g:
        return g.page_reader  # type: ignore[no-any-return]
    try:
        principal = current_principal()
        tenant = current_tenant()
    except CRMError:
        return None
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    g.page_reader = (snap, permissions.access(principal, snap))
    return g.page_reader  # type: ignore[no-any-return]


def navigation() -> list[dict[str, Any]]:
    """The objects the signed-in user may read, labelled in the page's language (none
    when nobody is signed in, e.g. on an error page). Computed once per request: the
    top bar and the home page both ask."""
    if "navigation" in g:
        return list(g.navigation)
    reader = _reader()
    if reader is None:
        return []
    snap, access = reader
    lang = i18n.current_lang()
    items = [{"name": o.name, "label": o.label(lang)}
             for o in snap.objects.values() if access.allowed(o, "read")]
    g.navigation = sorted(items, key=lambda i: str(i["label"]).lower())
    return list(g.navigation)


#: The current app's objects shown in the top bar before the rest go behind "More".
NAV_INLINE = 8


def app_navigation() -> dict[str, Any]:
    """The top bar's apps and the current app's objects (``navigation.app_bar``)."""
    reader = _reader()
    if reader is None:
        return {"apps": [], "current": None, "inline": [], "more": [], "objects": []}
    snap, access = reader
    return app_bar(snap, access, i18n.current_lang(), NAV_INLINE)


@bp.app_context_processor
def _page_globals() -> dict[str, Any]:
    return {"navigation": navigation, "app_navigation": app_navigation,
            "lang": i18n.current_lang, "lang_url": lang_url,
            "inbox_count": inbox.open_count, "icon": _icon, "control_class": control_class}


#: The design system's class for each kind of form control (WTForms names the kind).
_CONTROL_CLASSES = {"BooleanField": "form-check-input", "SelectField": "form-select",
                    "SelectMultipleField": "form-select"}


def control_class(field: Any) -> str:
    """The design system's class for a generated form control: the forms are built from
    metadata in the runtime layer, which knows nothing of how pages look."""
    return _CONTROL_CLASSES.get(getattr(field, "type", ""), "form-control")


def _icon(name: str) -> Markup:
    return icons.icon(name, current_app.config["CRMFORGE_NODE_MODULES"])


def lang_url(code: str) -> str:
    """This page in another language (its other parameters kept)."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + "?" + urlencode([*pairs, ("lang", code)])


@bp.get("/assets/<path:name>")  # the icons sit one folder down (``icons/x.svg``)
def asset(name: str) -> Response:
    path = vendor.locate(f"/assets/{name}", current_app.config["CRMFORGE_NODE_MODULES"])
    if path is None:
        abort(404)
    return send_from_directory(path.parent, path.name, max_age=3600,
                               mimetype=MIMETYPES.get(Path(name).suffix))


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for ``/favicon.ico`` on their own; the icon is an SVG in the static
    folder (pages also link it)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/")
def home() -> str:
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    access = permissions.access(current_principal(), snap)
    return render_template("home.html", user=current_principal(),
                           dashboards=dashboards.visible_dashboards(),
                           guides=guides.visible_guides(snap, access),
                           **homepage.sections())


from . import (  # noqa: E402,F401  (views register on bp)
    dashboards,
    delegation,
    guides,
    homepage,
    imports,
    inbox,
    lists,
    mass_actions,
    notes,
    preferences,
    records,
    search,
)
