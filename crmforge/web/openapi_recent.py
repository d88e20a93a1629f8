"""The OpenAPI path of the recently viewed records (decision 0037)."""

from __future__ import annotations

from typing import Any

from ..runtime.recent import KEEP, SHOWN

ERROR = {"$ref": "#/components/responses/Error"}

_ITEM: dict[str, Any] = {
    "type": "object", "required": ["object", "label", "id", "title", "viewed_at"],
    "properties": {
        "object": {"type": "string", "description": "The object's API name"},
        "label": {"type": "string", "description": "The object's label in the request's "
                                                   "language"},
        "id": {"type": "integer"},
        "title": {"type": "string", "description": "The record's title, or #<id> when the "
                                                   "caller may not read its title field"},
        "viewed_at": {"type": "string", "format": "date-time",
                      "description": "When the caller last opened it (UTC)"}}}


def recent_paths() -> dict[str, Any]:
    return {"/api/v1/recent": {"get": {
        "tags": ["Records"], "operationId": "recent_records",
        "summary": "The records the caller opened last, newest first",
        "description": "Distinct records opened one by one (the record page or GET "
                       "/api/v1/records/{object}/{id}), newest first. Only records the "
                       "caller may still read are listed: a deleted record, or one whose "
                       "access was withdrawn, drops out. Openings are kept within about "
                       "a second of the read, in the access audit's batch.",
        "parameters": [
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": KEEP,
                        "default": SHOWN}},
            {"name": "lang", "in": "query", "schema": {"type": "string",
                                                       "enum": ["zh", "en"]}}],
        "responses": {"200": {"description": "Recently viewed records",
                              "content": {"application/json": {"schema": {
                                  "type": "object", "required": ["items"],
                                  "properties": {"items": {"type": "array",
                                                           "items": _ITEM}}}}}},
                      "400": ERROR, "401": ERROR}}}}


__all__ = ["recent_paths"]
