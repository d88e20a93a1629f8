"""The top bar's apps (decision 0034): which apps the signed-in user sees, which one is
current and the objects it shows.

Everything comes from the metadata snapshot and the permission plan the request already
holds, so the bar costs no statement of its own. An app shows the objects the user may
read, in the app's order; an app left with none is not shown. Readable objects in no app
(link objects aside) form an "Other" app at the end, when there are any.

The current app follows the object being viewed: of the apps holding it, the one named by
``?app=`` (a link of the bar carries it when the object is in several apps), else the one
remembered from the last choice, else the first. Without an object in view (the home page,
the inbox) the remembered or named app stays current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import g, request, session, url_for
from flask_babel import gettext

from ...metadata.apps import app_docs, is_link_object
from ...metadata.model import Snapshot
from ...metadata.packs import dashboards
from ...security.engine import Access
from .display import chart_visible

#: The app made of readable objects no app lists.
OTHER = "_other"
#: Where the last chosen app is remembered (the signed cookie; no statement).
REMEMBER = "crmforge_app"


@dataclass
class NavApp:
    name: str
    label: str
    objects: list[tuple[str, str]] = field(default_factory=list)  # (object, label)
    #: The app's home dashboard, when it names one and the user may see a chart of it.
    home: str | None = None


def _home(snap: Snapshot, access: Access, name: Any) -> str | None:
    """An app's dashboard, when the user may see one of its charts (else the app opens on
    its first object, as an app without a home does)."""
    board = dashboards(snap).get(str(name)) if name else None
    if board is None or not any(chart_visible(access, snap, c)
                                for c in board.get("charts", [])):
        return None
    return str(name)


def visible_apps(snap: Snapshot, access: Access, lang: str) -> list[NavApp]:
    """The apps the user sees, each with the objects they may read, in the app's order."""
    readable = {o.name for o in snap.objects.values() if access.allowed(o, "read")}
    out: list[NavApp] = []
    listed: set[str] = set()
    for doc in app_docs(snap):
        labels = doc.get("label") or {}
        app = NavApp(str(doc["name"]), str(labels.get(lang) or labels.get("en") or doc["name"]),
                     home=_home(snap, access, doc.get("dashboard")))
        for name in doc.get("objects", []):
            obj = snap.object(str(name))
            listed.add(str(name))
            if obj is not None and obj.name in readable:
                app.objects.append((obj.name, obj.label(lang)))
        if app.objects:
            out.append(app)
    rest = sorted(((o.name, o.label(lang)) for o in snap.objects.values()
                   if o.name in readable and o.name not in listed and not is_link_object(o)),
                  key=lambda item: item[1].lower())
    if rest:
        out.append(NavApp(OTHER, gettext("Other"), rest))
    return out


def viewed_object() -> str | None:
    """The object whose pages are open (list, record, new record), if any."""
    args = request.view_args or {}
    name = args.get("object_name")
    return str(name) if isinstance(name, str) else None


def current_app(apps: list[NavApp], viewed: str | None) -> NavApp | None:
    """The current app (see the module's docstring); remembers a choice made by ``?app=``."""
    if not apps:
        return None
    by_name = {a.name: a for a in apps}
    holding = [a for a in apps if viewed is not None and any(o == viewed for o, _ in a.objects)]
    asked = request.args.get("app")
    remembered = session.get(REMEMBER)
    for wanted in (asked, remembered):
        if not isinstance(wanted, str) or wanted not in by_name:
            continue
        if viewed is None or by_name[wanted] in holding or not holding:
            if wanted == asked and remembered != asked:
                session[REMEMBER] = asked
            return by_name[wanted]
    return holding[0] if holding else apps[0]


def object_href(object_name: str, app: str, shared: bool) -> str:
    """An object's list page; ``?app=`` only when several apps hold it, so the app the
    user came from stays current."""
    if shared:
        return url_for("pages.record_list", object_name=object_name, app=app)
    return url_for("pages.record_list", object_name=object_name)


def app_bar(snap: Snapshot, access: Access, lang: str, inline: int) -> dict[str, Any]:
    """What the top bar shows: ``apps`` (each ``name``, ``label``, ``href``, ``current``),
    ``current`` (its label) and the current app's objects split into ``inline`` and
    ``more`` (each ``href``, ``label``, ``current``)."""
    if "app_bar" in g:
        return dict(g.app_bar)
    apps = visible_apps(snap, access, lang)
    viewed = viewed_object()
    now = current_app(apps, viewed)
    counts: dict[str, int] = {}
    for a in apps:
        for o, _ in a.objects:
            counts[o] = counts.get(o, 0) + 1
    entries = [{"name": a.name, "label": a.label, "current": a is now,
                "href": url_for("pages.dashboard", name=a.home, app=a.name) if a.home
                else object_href(a.objects[0][0], a.name, True)} for a in apps]
    objects: list[dict[str, Any]] = []
    for o, label in now.objects if now else []:
        objects.append({"name": o, "label": label, "current": o == viewed,
                        "href": object_href(o, now.name if now else "", counts[o] > 1)})
    first = objects[:inline]
    more = [e for e in objects[inline:] if not e["current"]]
    first += [e for e in objects[inline:] if e["current"]]
    g.app_bar = {"apps": entries, "current": now.label if now else None,
                 "inline": first, "more": more, "objects": objects}
    return dict(g.app_bar)


__all__ = ["OTHER", "NavApp", "app_bar", "current_app", "visible_apps"]
