"""The interface catalogs outside a request: the command line speaks Chinese or English.

Flask-Babel picks a request's language; a command has no request, so it loads the same
compiled catalogs with Babel directly and formats messages as Flask-Babel does
(``gettext(msgid) % values``). Service refusals go through the same templates as the API's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from babel.support import NullTranslations, Translations

from .pages.i18n import LANGUAGES, compile_catalogs
from .server_messages import translated


def lang_of_environment(environ: Mapping[str, str] | None = None) -> str:
    """zh when the locale (``LC_ALL``, else ``LC_MESSAGES``, else ``LANG``, as POSIX reads
    them) is a Chinese one (``zh_CN.UTF-8``, ``zh_TW``...), else en."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


@cache
def _catalog(lang: str) -> NullTranslations:
    if lang not in LANGUAGES or lang == "en":
        return NullTranslations()
    return Translations.load(str(compile_catalogs()), [lang], "messages")


def gettext_in(lang: str, msgid: str, **values: object) -> str:
    """``msgid`` in ``lang`` with its ``%(name)s`` values filled in."""
    text = _catalog(lang).gettext(msgid)
    return text % values if values else text


def message_in(lang: str, message: str) -> str:
    """A service's English message in ``lang`` (as the API's envelope writes it)."""
    if lang == "en":
        return message
    return translated(message, lambda template, **values: gettext_in(lang, template, **values))


__all__ = ["gettext_in", "lang_of_environment", "message_in"]
