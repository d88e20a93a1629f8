"""The OpenAPI paths of notes on records (decision 0035). They take any object, so they are
documented once, generically (``{object}``), like attachments."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}

NOTE: dict[str, Any] = {
    "type": "object", "required": ["id", "body", "follow_up", "author", "at"],
    "properties": {
        "id": {"type": "integer"},
        "body": {"type": "string", "description": "the note's text (at most 4,000 characters)"},
        "follow_up": {"type": ["string", "null"], "format": "date",
                      "description": "a date to follow up on"},
        "author": {"type": "string", "description": "the user name of who wrote it"},
        "author_id": {"type": ["integer", "null"],
                      "description": "the id of who wrote it (only they may edit it)"},
        "at": {"type": "string", "format": "date-time"},
        "edited_at": {"type": ["string", "null"], "format": "date-time",
                      "description": "when its author last changed it (null: never)"}}}
NEW_NOTE: dict[str, Any] = {
    "type": "object", "required": ["body"],
    "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000},
                   "follow_up": {"type": ["string", "null"], "format": "date"}}}
NOTE_CHANGE: dict[str, Any] = {
    "type": "object", "minProperties": 1,
    "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000},
                   "follow_up": {"type": ["string", "null"], "format": "date"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def note_paths() -> dict[str, Any]:
    tag = ["Notes"]
    params = [{"name": "object", "in": "path", "required": True, "schema": {"type": "string"}},
              {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    note = {"name": "note", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {"/api/v1/records/{object}/{id}/notes": {
        "parameters": params,
        "get": {"tags": tag, "operationId": "list_notes",
                "summary": "The record's notes, newest first (at most 100; 404 when the "
                           "record is not visible)",
                "responses": {"200": {"description": "Notes", **_json({
                    "type": "object", "required": ["items"],
                    "properties": {"items": {"type": "array", "items": NOTE}}})},
                    "401": ERROR, "404": ERROR}},
        "post": {"tags": tag, "operationId": "add_note",
                 "summary": "Attach a note, optionally with a follow-up date, to a record "
                            "you can see (reading it is enough)",
                 "requestBody": {"required": True, **_json(NEW_NOTE)},
                 "responses": {"201": {"description": "Added", **_json(NOTE)},
                               "400": ERROR, "401": ERROR, "404": ERROR, "422": ERROR}}},
        "/api/v1/records/{object}/{id}/notes/{note}": {
            "parameters": [*params, note],
            "patch": {"tags": tag, "operationId": "edit_note",
                      "summary": "Change your note's text or follow-up date (keys left out "
                                 "stay; the text before is kept)",
                      "requestBody": {"required": True, **_json(NOTE_CHANGE)},
                      "responses": {"200": {"description": "Changed", **_json(NOTE)},
                                    "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR,
                                    "422": ERROR}},
            "delete": {"tags": tag, "operationId": "delete_note",
                       "summary": "Delete your note (an administrator: any note); it is "
                                  "kept and can be restored",
                       "responses": {"204": {"description": "Deleted"}, "401": ERROR,
                                     "403": ERROR, "404": ERROR}}},
        "/api/v1/records/{object}/{id}/notes/{note}/restore": {
            "parameters": [*params, note],
            "post": {"tags": tag, "operationId": "restore_note",
                     "summary": "Bring a deleted note back, as it was and under its id",
                     "responses": {"200": {"description": "Restored", **_json(NOTE)},
                                   "401": ERROR, "403": ERROR, "404": ERROR}}}}


__all__ = ["note_paths"]
