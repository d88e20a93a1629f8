"""What every operation of the OpenAPI document shares, applied once to the whole document.

The path builders (``openapi*.py``) describe what each operation does; this module adds
what holds for all of them, so that no builder can forget it: the ``X-Tenant`` header,
the 401 and 429 answers, and no ``title`` keywords (generators name classes after titles,
and titles here were labels: decision 0023)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")

X_TENANT = {"$ref": "#/components/parameters/XTenant"}
UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
RATE_LIMITED = {"$ref": "#/components/responses/RateLimited"}

#: Keywords whose values are data, not schemas: a ``title`` inside them is a value.
_DATA_KEYWORDS = frozenset({"default", "example", "examples", "enum", "const"})


def components() -> dict[str, Any]:
    """The reusable parameter and responses every operation refers to."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "parameters": {"XTenant": {
            "name": "X-Tenant", "in": "header", "required": False,
            "schema": {"type": "string"},
            "description": "The tenant the request is for (else the host name's first label, "
                           "else 'default')"}},
        "responses": {
            "Error": {"description": "An error; its messages in the language asked (?lang=zh|en "
                                "or Accept-Language, else English)", "content": error},
            "Unauthorized": {
                "description": "No valid credentials: sign in (POST /api/v1/auth/token) or "
                               "send an API key as 'Authorization: Bearer <key>'",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                "content": error},
            "RateLimited": {
                "description": "Too many attempts (today: failed sign-ins); wait the seconds "
                               "Retry-After says. Any operation may answer it (DESIGN §9).",
                "headers": {"Retry-After": {"schema": {"type": "integer"},
                                            "description": "seconds to wait"}},
                "content": error}},
    }


def api_version() -> str:
    """``info.version``: the version of CRMForge serving the document (semver). The tenant's
    metadata version, which changes the document too, is ``info.x-metadata-version``."""
    try:
        return dist_version("crmforge")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


def _untitled(node: Any) -> Any:
    """``node`` without ``title`` keywords; a title becomes the description when the
    schema has none, so what it said is still shown."""
    if isinstance(node, list):
        return [_untitled(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            if "description" not in node:
                out["description"] = value
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _untitled(s) for name, s in value.items()}
        elif key in _DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = _untitled(value)
    return out


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    params = [p for p in op.get("parameters", []) if p != X_TENANT]
    responses = {**op.get("responses", {}), "401": UNAUTHORIZED, "429": RATE_LIMITED}
    return {**op, "parameters": [*params, X_TENANT], "responses": responses}


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` with the shared conventions applied to every operation. The copy
    keeps the builders' shared pieces (cached schemas, module-level parameter lists)
    untouched."""
    doc = json.loads(json.dumps(doc))
    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        paths[path] = {k: _operation(v) if k in METHODS else v for k, v in item.items()}
    doc["paths"] = paths
    comps = doc.setdefault("components", {})
    comps["schemas"] = _untitled(comps.get("schemas", {}))
    fixed = components()
    comps["parameters"] = {**comps.get("parameters", {}), **fixed["parameters"]}
    comps["responses"] = {**comps.get("responses", {}), **fixed["responses"]}
    return doc


__all__ = ["api_version", "components", "finish"]
