"""Small helpers shared by the API views."""

from __future__ import annotations

import json
import math
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


def json_body() -> Any:
    """The request's JSON document; malformed or missing JSON is a 400 with a clear message.

    ``NaN`` and ``Infinity`` (which Python's json accepts) are not JSON and refused with
    it; a number too large for a double (``1e400``) is a 422 on the member that holds it,
    so ``inf`` and ``nan`` never reach a service, a stored value or an echoed message."""
    if not request.data:
        raise BadRequest("the request needs a JSON body")
    if not request.is_json:
        raise BadRequest("send JSON with 'Content-Type: application/json'")
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except _NotFinite:
        where = _overflow_path(json.loads(raw, parse_float=_marked))
        raise ValidationFailed(f"{where}: is too large", {where: ["is too large"]}) from None
    except Exception:  # bad syntax or encoding, NaN/Infinity, nesting deeper than json allows
        raise BadRequest("the request body is not valid JSON") from None


def _marked(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Overflow()


def _overflow_path(doc: Any) -> str:
    """The member name (top level) or JSON path (deeper) of the first overflowing number."""
    stack: list[tuple[Any, str, str | None]] = [(doc, "$", None)]
    while stack:
        node, path, top = stack.pop()
        if isinstance(node, _Overflow):
            return top if top is not None and path == f"$.{top}" else path
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}", k if path == "$" else top)
                         for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", top) for i, v in reversed(list(enumerate(node))))
    return "$"


def flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")
