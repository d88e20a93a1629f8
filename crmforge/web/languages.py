"""The language an API request's messages are written in.

The pages remember a reader's choice in a cookie (``pages.i18n``); the API is stateless,
so a client names the language on each request: ``?lang=zh|en``, else the best match of
``Accept-Language``, else English, the API's language, so a client that asks for nothing
sees exactly the messages it always did.
"""

from __future__ import annotations

from flask import has_request_context, request

API_LANGUAGES = ("en", "zh")


def request_lang() -> str:
    """The language of messages: ``?lang=`` or ``Accept-Language`` (zh or en), else en."""
    if not has_request_context():
        return "en"
    asked = request.args.get("lang")
    if asked in API_LANGUAGES:
        return asked
    return request.accept_languages.best_match(API_LANGUAGES, default="en") or "en"


__all__ = ["API_LANGUAGES", "request_lang"]
