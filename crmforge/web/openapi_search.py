"""The OpenAPI path of global search (decision 0032)."""

from __future__ import annotations

from typing import Any

from ..runtime.search import MAX_LIMIT, MAX_TERM

ERROR = {"$ref": "#/components/responses/Error"}

_RESULT: dict[str, Any] = {
    "type": "object", "required": ["q", "count", "groups"],
    "properties": {
        "q": {"type": "string", "description": "The term searched for, trimmed"},
        "count": {"type": "integer", "description": "Records found (at most limit)"},
        "groups": {"type": "array", "description": "Results grouped by object, best first",
                   "items": {"type": "object", "required": ["object", "label", "results"],
                             "properties": {
                                 "object": {"type": "string"},
                                 "label": {"type": "string",
                                           "description": "In the request's language"},
                                 "results": {"type": "array", "items": {
                                     "type": "object", "required": ["id", "title"],
                                     "properties": {"id": {"type": "integer"},
                                                    "title": {"type": "string"}}}}}}}}}


def search_paths() -> dict[str, Any]:
    return {"/api/v1/search": {"get": {
        "tags": ["Records"], "operationId": "search_records",
        "summary": "Search the titles of every object the caller may read",
        "description": "Matches a title containing q (case-insensitive); for Chinese "
                       "titles also their pinyin spelling (containing q) and initials "
                       "(starting with q) when q is letters only. Records in the recycle "
                       "bin never match.",
        "parameters": [
            {"name": "q", "in": "query", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TERM}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": 20}},
            {"name": "lang", "in": "query", "schema": {"type": "string",
                                                       "enum": ["zh", "en"]}}],
        "responses": {"200": {"description": "Matching records",
                              "content": {"application/json": {"schema": _RESULT}}},
                      "400": ERROR, "401": ERROR}}}}


__all__ = ["search_paths"]
