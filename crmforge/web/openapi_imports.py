"""The OpenAPI paths of imports (DESIGN §9, second part, and its documented extensions)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _form(required: list[str]) -> dict[str, Any]:
    props: dict[str, Any] = {
        "file": {"type": "string", "format": "binary",
                 "description": "CSV (UTF-8 with or without BOM, UTF-16, GB18030/GBK, ...) or "
                                "XLSX; at most CRMFORGE_IMPORT_MAX_BYTES (50 MiB)"},
        "object": {"type": "string", "description": "the object to import into"},
        "mode": {"enum": ["create", "update", "upsert"], "default": "create"},
        "key": {"type": "string", "description": "update/upsert: the unique field that finds "
                                                 "the record (update also takes id)"},
        "mapping": {"type": "string",
                    "description": "JSON {\"<column header>\": \"<field>\"}; a lookup may be "
                                   "\"<field>.<unique field of the parent>\" or "
                                   "\"<field>.id\"; default: headers matched to API names "
                                   "or zh/en labels"},
        "dry_run": {"type": "boolean", "default": False,
                    "description": "check every row and change nothing"},
        "all_or_none": {"type": "boolean", "default": True,
                        "description": "false: per-row commits (chunks of rows land on "
                                       "their own; the report says which)"},
        "encoding": {"enum": ["auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312", "big5",
                              "utf-16", "shift_jis", "latin-1", "cp1252"], "default": "auto"},
        "delimiter": {"enum": [",", ";", "|", "tab"], "description": "CSV; default: guessed"},
        "sheet": {"type": "string", "description": "XLSX: the sheet (default: the first)"},
        "date_order": {"enum": ["auto", "dmy", "mdy"], "default": "auto",
                       "description": "how to read 05/03/2024"},
        "blank_clears": {"type": "boolean", "default": False,
                         "description": "an empty cell clears the field (default: leaves it)"}}
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": props}}}}


def import_paths() -> dict[str, Any]:
    tag = "Imports"
    iid = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    lang = {"name": "lang", "in": "query", "schema": {"enum": ["zh", "en"]},
            "description": "the language of messages (else Accept-Language)"}
    status: dict[str, Any] = {"type": "object", "required": [
        "id", "status", "total", "processed", "created", "updated", "failed", "errors"],
        "properties": {
            "id": {"type": "integer"}, "object": {"type": "string"},
            "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
            "mode": {"enum": ["create", "update", "upsert"]},
            "key": {"type": ["string", "null"]}, "dry_run": {"type": "boolean"},
            "all_or_none": {"type": "boolean"},
            "file": {"type": "object"}, "total": {"type": ["integer", "null"]},
            "processed": {"type": "integer"}, "created": {"type": "integer"},
            "updated": {"type": "integer"}, "failed": {"type": "integer"},
            "rolled_back": {"type": "integer", "description": "rows that passed but were not "
                                                             "kept (all or none)"},
            "error": {"type": ["string", "null"]},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "row": {"type": ["integer", "null"]}, "field": {"type": ["string", "null"]},
                "message": {"type": "string"}}}},
            "errors_truncated": {"type": "boolean"},
            "undo": {"type": ["object", "null"]}}}
    answer = {"description": "The import", **_json(status)}
    return {
        "/api/v1/imports": {
            "post": {"tags": [tag], "operationId": "start_import",
                     "summary": "Upload a file and start its import job (needs import)",
                     "parameters": [lang], "requestBody": _form(["file", "object"]),
                     "responses": {"202": {"description": "The import job", **_json({
                         "type": "object", "required": ["id", "status"], "properties": {
                             "id": {"type": "integer"}, "status": {"type": "string"}}})},
                         "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR,
                         "413": ERROR, "422": ERROR}},
            "get": {"tags": [tag], "operationId": "list_imports",
                    "summary": "Your imports (administrators: all), newest first",
                    "parameters": [{"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "maximum": 200}}],
                    "responses": {"200": {"description": "Imports", **_json({
                        "type": "object", "properties": {"items": {"type": "array",
                                                                   "items": status}}})},
                        "401": ERROR}}},
        "/api/v1/imports/preview": {"post": {
            "tags": [tag], "operationId": "preview_import",
            "summary": "The file's headers, the proposed mapping, the fields a column may map "
                       "to and the first rows (stores nothing)",
            "requestBody": _form(["file", "object"]),
            "responses": {"200": {"description": "The preview", **_json({"type": "object"})},
                          "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR,
                          "413": ERROR, "422": ERROR}}},
        "/api/v1/imports/{id}": {"parameters": [iid], "get": {
            "tags": [tag], "operationId": "get_import", "parameters": [lang],
            "summary": "Status, counts and per-row errors (the first 1,000)",
            "responses": {"200": answer, "401": ERROR, "404": ERROR}}},
        "/api/v1/imports/{id}/rows": {"parameters": [iid], "get": {
            "tags": [tag], "operationId": "import_rows",
            "summary": "What became of each row: created or updated (with the record id) or "
                       "failed",
            "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "Rows", **_json({"type": "object"})},
                          "401": ERROR, "404": ERROR}}},
        "/api/v1/imports/{id}/errors": {"parameters": [iid], "get": {
            "tags": [tag], "operationId": "import_error_file",
            "summary": "The failing rows with their row number and an error column",
            "parameters": [{"name": "format", "in": "query",
                            "schema": {"enum": ["xlsx", "csv"], "default": "xlsx"}}, lang],
            "responses": {"200": {"description": "The file", "content": {
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}}}}, "401": ERROR, "404": ERROR}}},
        "/api/v1/imports/{id}/cancel": {"parameters": [iid], "post": {
            "tags": [tag], "operationId": "cancel_import",
            "summary": "Stop the import (all or none: nothing is kept; per-row commits: the "
                       "chunks that landed stay)",
            "responses": {"200": answer, "401": ERROR, "404": ERROR}}},
        "/api/v1/imports/{id}/undo": {"parameters": [iid], "post": {
            "tags": [tag], "operationId": "undo_import",
            "summary": "Move the records the import created to the recycle bin (a job)",
            "responses": {"202": answer, "401": ERROR, "403": ERROR, "404": ERROR,
                          "409": ERROR}}},
    }


__all__ = ["import_paths"]
