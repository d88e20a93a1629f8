"""Small helpers shared by the API views."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from flask import request

from ...core.errors import BadRequest, ValidationFailed


class _NotFinite(ValueError):
    """A JSON number beyond a double (``1e400``): Python's json would make it ``inf``."""


class _Overflow:
    """Where such a number stood, found on a second parse of a refused body."""

    __slots__ = ()


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _marked(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Overflow()


NOT_TEXT = "contains a NUL character or an unpaired surrogate"


def storable(text: str) -> bool:
    """False for text no database stores: NUL (PostgreSQL refuses it even in a query's
    parameters) and lone surrogates such as JSON's ``"\\ud800"`` (not UTF-8 at all)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: What may carry a NUL or a lone surrogate into parsed JSON text (false alarms only cost
#: the walk that decides).
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\x00")


def json_body() -> Any:
    """The request's JSON document; malformed or missing JSON is a 400 with a clear message.

    ``NaN`` and ``Infinity`` (which Python's json accepts) are not JSON and refused with
    it; a number too large for a double (``1e400``) is a 422 on the member that holds it,
    so ``inf`` and ``nan`` never reach a service, a stored value or an echoed message.
    Text no database stores (NUL, lone surrogates), in a value or a key, is a 422 on its
    member too: every service may then bind any text it gets as a parameter."""
    if not request.data:
        raise BadRequest("the request needs a JSON body")
    if not request.is_json:
        raise BadRequest("send JSON with 'Content-Type: application/json'")
    raw = request.get_data(cache=True)
    try:
        doc = json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except _NotFinite:
        try:
            found = _first(json.loads(raw, parse_float=_marked),
                           lambda node: isinstance(node, _Overflow))
        except Exception:  # the first parse got this far, so this one does too
            found = None
        where = found or "$"
        raise ValidationFailed(f"{where}: is too large", {where: ["is too large"]}) from None
    except Exception:  # bad syntax or encoding, NaN/Infinity, nesting deeper than json allows
        raise BadRequest("the request body is not valid JSON") from None
    # Only an escape (``\u0000``, ``\ud800``...) or a raw NUL can put such text in a
    # document that parsed from UTF-8: without one, the walk has nothing to find.
    bad_text = _first(doc, lambda node: isinstance(node, str) and not storable(node)) \
        if _SUSPECT.search(raw) else None
    if bad_text is not None:
        raise ValidationFailed(f"{bad_text}: {NOT_TEXT}", {bad_text: [NOT_TEXT]})
    return doc


def _first(doc: Any, bad: Callable[[Any], bool]) -> str | None:
    """The member name (top level) or JSON path (deeper) of the first node that is ``bad``
    (an object's keys are checked like its values), or None."""
    stack: list[tuple[Any, str, str | None]] = [(doc, "$", None)]
    while stack:
        node, path, top = stack.pop()
        if bad(node):
            return (top if top is not None and path == f"$.{top}" else path)[:200]
        if isinstance(node, dict):
            items = list(node.items())
            for k, v in reversed(items):
                name = k if path == "$" else top
                stack.append((v, f"{path}.{k}", name))
                if bad(k):
                    stack.append((k, f"{path}.{k!r}", None))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", top) for i, v in reversed(list(enumerate(node))))
    return None


def flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")
