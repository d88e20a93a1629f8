"""The OpenAPI paths of files (DESIGN §9, second part, extended compatibly): uploads,
file fields, attachments with previews, and removed files in the recycle bin. They take
any object, so they are documented once, generically (``{object}``)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}

FILE: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "size", "content_type"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "description": "the uploaded name, cleaned for display"},
        "size": {"type": "integer", "description": "bytes"},
        "content_type": {"type": "string",
                         "description": "sniffed from the content (the client's is ignored)"}}}
ATTACHMENT: dict[str, Any] = {**FILE, "properties": {
    **FILE["properties"],
    "uploaded_by": {"type": "string"}, "uploaded_at": {"type": "string", "format": "date-time"},
    "preview": {"type": "boolean", "description": "an image: ?preview=1 gives a thumbnail"}}}
REMOVED: dict[str, Any] = {**FILE, "properties": {
    **FILE["properties"],
    "object": {"type": "string"}, "record": {"type": "integer"}, "title": {"type": "string"},
    "field": {"type": ["string", "null"],
              "description": "the file field it was replaced or cleared in (null: an "
                             "attachment)"},
    "deleted_at": {"type": "string", "format": "date-time"},
    "deleted_by": {"type": ["string", "null"]}}}

UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}}
CONTENT = {"description": "The file's content (images and plain text inline, anything else "
                          "as an attachment; markup as application/octet-stream)",
           "headers": {"Content-Disposition": {"schema": {"type": "string"}},
                       "ETag": {"schema": {"type": "string"}}},
           "content": {
               # octet-stream first: what markup is sent as, and the type generated clients
               # read as bytes; any other answer carries the type sniffed from the content.
               "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
               "*/*": {"schema": {"type": "string", "format": "binary"}}}}
NOT_MODIFIED = {"description": "If-None-Match matched the ETag"}
TOO_LARGE = {"$ref": "#/components/responses/Error",
             "description": "Larger than the instance's limit (CRMFORGE_FILES_MAX_BYTES)"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _path(name: str, integer: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer"} if integer else {"type": "string"}}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", "enum": ["1", "true", "0", "false"]}}


READ_PARAMS = [
    _flag("preview", "an image's thumbnail (at most 256 pixels a side, PNG or JPEG) instead "
                     "of the file; 404 for other files"),
    _flag("download", "always as an attachment, never inline"),
]


def file_paths() -> dict[str, Any]:
    tag = ["Files"]
    obj, rid = _path("object"), _path("id", integer=True)
    item = "/api/v1/records/{object}/{id}/attachments/{attachment}"
    attachment = _path("attachment", integer=True)
    return {
        "/api/v1/files": {"post": {
            "tags": tag, "operationId": "upload_file",
            "summary": "Upload a file; set a file field to its id (once, by the same user)",
            "requestBody": UPLOAD,
            "responses": {"201": {"description": "Stored", **_json(FILE)}, "400": ERROR,
                          "401": ERROR, "413": TOO_LARGE, "422": ERROR}}},
        "/api/v1/records/{object}/{id}/files/{field}": {
            "parameters": [obj, rid, _path("field")],
            "get": {"tags": tag, "operationId": "get_field_file", "parameters": READ_PARAMS,
                    "summary": "The file a file field holds (404 when the record is not "
                               "visible or the field hidden)",
                    "responses": {"200": CONTENT, "304": NOT_MODIFIED, "401": ERROR,
                                  "404": ERROR}}},
        "/api/v1/records/{object}/{id}/attachments": {
            "parameters": [obj, rid],
            "get": {"tags": tag, "operationId": "list_attachments",
                    "summary": "The record's attachments",
                    "responses": {"200": {"description": "Attachments", **_json({
                        "type": "object", "required": ["items"],
                        "properties": {"items": {"type": "array", "items": ATTACHMENT}}})},
                        "401": ERROR, "404": ERROR}},
            "post": {"tags": tag, "operationId": "add_attachment",
                     "summary": "Attach a file (needs update on the record)",
                     "requestBody": UPLOAD,
                     "responses": {"201": {"description": "Attached", **_json(FILE)},
                                   "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR,
                                   "413": TOO_LARGE, "422": ERROR}}},
        item: {
            "parameters": [obj, rid, attachment],
            "get": {"tags": tag, "operationId": "get_attachment", "parameters": READ_PARAMS,
                    "summary": "An attachment's content (or its preview)",
                    "responses": {"200": CONTENT, "304": NOT_MODIFIED, "401": ERROR,
                                  "404": ERROR}},
            "delete": {"tags": tag, "operationId": "remove_attachment",
                       "summary": "Move an attachment to the recycle bin",
                       "responses": {"204": {"description": "Removed"}, "401": ERROR,
                                     "403": ERROR, "404": ERROR}}},
        item + "/restore": {
            "parameters": [obj, rid, attachment],
            "post": {"tags": tag, "operationId": "restore_attachment",
                     "summary": "Bring a removed file of the record back as an attachment "
                                "(a replaced file-field value too)",
                     "responses": {"200": {"description": "Restored", **_json(FILE)},
                                   "401": ERROR, "403": ERROR, "404": ERROR}}},
        "/api/v1/recycle-bin/files": {"get": {
            "tags": tag, "operationId": "removed_files",
            "summary": "Removed attachments and replaced file-field values of records you "
                       "may see",
            "responses": {"200": {"description": "Removed files", **_json({
                "type": "object", "properties": {"items": {"type": "array",
                                                           "items": REMOVED}}})},
                "401": ERROR}}},
        "/api/v1/recycle-bin/{object}/{id}/files/{file}": {
            "parameters": [obj, rid, _path("file", integer=True)],
            "delete": {"tags": tag, "operationId": "purge_file",
                       "summary": "Delete a removed file for good, content included "
                                  "(administrators)",
                       "responses": {"204": {"description": "Purged"}, "401": ERROR,
                                     "403": ERROR, "404": ERROR}}},
    }


__all__ = ["file_paths"]
