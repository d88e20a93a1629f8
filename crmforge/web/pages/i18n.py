"""Interface languages (Flask-Babel): Chinese and English.

The catalogs are committed as ``.po`` text only; they are compiled to ``.mo`` when the app
starts, into a cache folder keyed by their content, so no binary file is committed and a
changed catalog takes effect on the next start (docs/decisions/0009-pages.md).

The language of a request: ``?lang=zh|en`` (remembered in a cookie), else the cookie,
else the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, Response, current_app, g, request
from flask_babel import Babel

from . import server_messages

LANGUAGES = ("en", "zh")
COOKIE = "crmforge_lang"
COOKIE_DAYS = 365
SOURCE = Path(__file__).resolve().parent.parent / "translations"


def current_lang() -> str:
    """The request's interface language (also the language of metadata labels)."""
    if "lang" not in g:
        asked = request.args.get("lang")
        remembered = request.cookies.get(COOKIE)
        if asked in LANGUAGES:
            g.lang = asked
        elif remembered in LANGUAGES:
            g.lang = remembered
        else:
            g.lang = request.accept_languages.best_match(LANGUAGES, default="en") or "en"
    lang: str = g.lang
    return lang


def _remember(response: Response) -> Response:
    asked = request.args.get("lang")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=COOKIE_DAYS * 86400, httponly=True,
                            samesite="Lax", secure=bool(current_app.config["SESSION_COOKIE_SECURE"]))
    return response


def compile_catalogs(source: Path = SOURCE) -> Path:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` to ``.mo`` in a cache folder named
    after the catalogs' content; an existing compilation is reused."""
    files = sorted(source.glob("*/LC_MESSAGES/messages.po"))
    digest = hashlib.sha256()
    for po in files:
        digest.update(po.relative_to(source).as_posix().encode())
        digest.update(po.read_bytes())
    target = Path(tempfile.gettempdir()) / f"crmforge-i18n-{digest.hexdigest()[:16]}"
    for po in files:
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists():
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh)
        partial = mo.with_name(f".{os.getpid()}.{mo.name}")
        with partial.open("wb") as out:
            write_mo(out, catalog)
        os.replace(partial, mo)  # atomic: a concurrent start never reads half a file
    return target


def install(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogs())
    Babel(app, locale_selector=current_lang)
    app.after_request(_remember)
    app.jinja_env.globals["current_lang"] = current_lang
    app.jinja_env.filters["server_message"] = server_messages.translated
