"""The tenant's OpenAPI 3.1 document, generated from its metadata and cached by version."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from functools import cache
from importlib import resources
from typing import Any

from ..metadata.model import Snapshot
from .openapi_admin import extra_paths
from .openapi_approvals import approval_paths, process_schemas
from .openapi_apps import app_paths, app_schemas
from .openapi_automations import automation_paths, automation_schemas
from .openapi_conventions import api_version, finish
from .openapi_files import file_paths
from .openapi_imports import import_paths
from .openapi_notes import note_paths
from .openapi_records import object_paths, object_tag, record_schemas

_cache: OrderedDict[tuple[str, int, frozenset[tuple[str, frozenset[str]]]], dict[str, Any]] = \
    OrderedDict()
_lock = threading.Lock()

ERROR = {"$ref": "#/components/responses/Error"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


@cache
def _object_document_schema(file: str = "object", title: str = "ObjectDocument",
                            prefix: str = "Meta_") -> dict[str, Any]:
    text = resources.files("crmforge.metadata").joinpath(f"schemas/{file}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    schema.pop("$schema", None)
    schema.pop("$id", None)
    defs = schema.pop("$defs")
    # Re-point internal references at component schemas.
    text = json.dumps(schema).replace("#/$defs/", f"#/components/schemas/{prefix}")
    out = {title: json.loads(text)}
    for name, d in defs.items():
        out[prefix + name] = json.loads(json.dumps(d).replace("#/$defs/",
                                                              f"#/components/schemas/{prefix}"))
    return out


def _pack_paths() -> dict[str, Any]:
    """Pack administration (an extension of DESIGN §9's ``/api/v1/admin/packs``)."""
    plan = _json({"type": "object", "description": "What the operation did or would do",
                  "properties": {"action": {"type": "string"}, "pack": {"type": "string"},
                                 "version": {"type": ["string", "null"]},
                                 "from_version": {"type": ["string", "null"]},
                                 "applied": {"type": "boolean"},
                                 "steps": {"type": "array", "items": {"type": "string"}},
                                 "metadata": {"type": "array", "items": {"type": "object"}},
                                 "records": {"type": "object"},
                                 "conflicts": {"type": "array", "items": {"type": "object"}},
                                 "sample_users": {"type": "array", "items": {"type": "string"},
                                                  "description": "Sample users made (asked "
                                                                 "for with sample_users)"},
                                 "sample_password": {
                                     "type": ["string", "null"],
                                     "description": "Their shared password, shown only in "
                                                    "this answer"}}})
    dry = {"name": "dry_run", "in": "query", "schema": {"type": "boolean"},
           "description": "Only report the plan; change nothing"}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    tags = ["Packs"]
    return {
        "/api/v1/admin/packs": {
            "get": {"tags": tags, "operationId": "list_packs",
                    "summary": "Installed packs (and with available=true the installable ones)",
                    "parameters": [{"name": "available", "in": "query",
                                    "schema": {"type": "boolean"}}],
                    "responses": {"200": {"description": "Packs"}, "403": ERROR}},
            "post": {"tags": tags, "operationId": "install_pack", "parameters": [dry],
                     "summary": "Install a pack by name: all or nothing",
                     "requestBody": {"required": True, **_json({
                         "type": "object", "required": ["name"],
                         "properties": {"name": {"type": "string"},
                                        "sample_users": {
                                            "type": "boolean", "default": False,
                                            "description": "Also make the pack's sample "
                                            "organisation: departments, and users in its "
                                            "roles owning the sample records (refused when "
                                            "the pack ships none)"}}})},
                     "responses": {"201": {"description": "Installed", **plan},
                                   "200": {"description": "The dry-run plan", **plan},
                                   "403": ERROR, "404": ERROR, "409": ERROR, "422": ERROR}}},
        "/api/v1/admin/packs/{name}/upgrade": {"parameters": [name], "post": {
            "tags": tags, "operationId": "upgrade_pack",
            "summary": "Upgrade, keeping the tenant's changes; conflicts are reported",
            "parameters": [dry, {"name": "on_conflict", "in": "query",
                                 "schema": {"enum": ["report", "pack", "tenant"]}}],
            "responses": {"200": {"description": "Upgraded (or the plan)", **plan},
                          "404": ERROR, "409": ERROR, "422": ERROR}}},
        "/api/v1/admin/packs/{name}": {"parameters": [name], "delete": {
            "tags": tags, "operationId": "uninstall_pack", "parameters": [dry],
            "summary": "Uninstall; the pack's objects and records go to the recycle bin",
            "responses": {"200": {"description": "Uninstalled (or the plan)", **plan},
                          "404": ERROR, "409": ERROR}}},
    }


def _list_view_paths() -> dict[str, Any]:
    """Saved list views. Not under ``/records/{object}``: record routes take any string
    as the record id (docs/api.md)."""
    view = _json({"type": "object", "properties": {
        "id": {"type": "integer"}, "object": {"type": "string"}, "name": {"type": "string"},
        "shared": {"type": "boolean"}, "query": {"type": "string"},
        "owner": {"type": ["string", "null"]}, "mine": {"type": "boolean"},
        "deletable": {"type": "boolean"}, "created_at": {"type": "string",
                                                         "format": "date-time"}}})
    obj = {"name": "object", "in": "path", "required": True, "schema": {"type": "string"}}
    vid = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    tags = ["List views"]
    return {
        "/api/v1/list-views/{object}": {
            "parameters": [obj],
            "get": {"tags": tags, "operationId": "list_views",
                    "summary": "Your views of the object and the shared ones (needs read)",
                    "responses": {"200": {"description": "Views"}, "404": ERROR}},
            "post": {"tags": tags, "operationId": "save_list_view",
                     "summary": "Save a list query (the list's parameters as a query string) "
                                "under a name; only administrators share",
                     "requestBody": {"required": True, **_json({
                         "type": "object", "required": ["name"],
                         "properties": {"name": {"type": "string", "maxLength": 100},
                                        "query": {"type": "string"},
                                        "shared": {"type": "boolean"}}})},
                     "responses": {"201": {"description": "The stored view", **view},
                                   "403": ERROR, "404": ERROR, "409": ERROR, "422": ERROR}}},
        "/api/v1/list-views/{object}/{id}": {
            "parameters": [obj, vid],
            "get": {"tags": tags, "operationId": "get_list_view",
                    "responses": {"200": {"description": "The view", **view}, "404": ERROR}},
            "delete": {"tags": tags, "operationId": "delete_list_view",
                       "summary": "Delete your view (administrators: also shared ones)",
                       "responses": {"204": {"description": "Deleted"}, "403": ERROR,
                                     "404": ERROR}}},
    }


def _job_paths() -> dict[str, Any]:
    """Background jobs (DESIGN §9): progress of imports, exports and backfills."""
    job = _json({"type": "object", "required": ["id", "kind", "status", "processed", "total"],
                 "properties": {
                     "id": {"type": "integer"}, "kind": {"type": "string"},
                     "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
                     "processed": {"type": "integer"}, "total": {"type": ["integer", "null"]},
                     "attempts": {"type": "integer"}, "error": {"type": ["string", "null"]}}})
    jid = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    tags = ["Jobs"]
    return {
        "/api/v1/jobs/{id}": {"parameters": [jid], "get": {
            "tags": tags, "operationId": "get_job",
            "summary": "A job's status and progress (administrators: every job; others: "
                       "the jobs they started)",
            "responses": {"200": {"description": "The job", **job}, "404": ERROR}}},
        "/api/v1/jobs/{id}/file": {"parameters": [jid], "get": {
            "tags": tags, "operationId": "get_job_file",
            "summary": "The file a finished export job wrote (for whoever asked for it, or "
                       "an administrator)",
            "responses": {"200": {"description": "The file", "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                    {"schema": {"type": "string", "format": "binary"}}}},
                "404": ERROR}}},
        "/api/v1/jobs/{id}/cancel": {"parameters": [jid], "post": {
            "tags": tags, "operationId": "cancel_job",
            "summary": "Stop a queued or running job at its next checkpoint",
            "responses": {"200": {"description": "The job", **job}, "404": ERROR}}},
    }


#: What non-administrators get from the metadata reads (decision 0015).
READER_DOCS = ("Administrators get whole documents. Anyone else gets only the objects they may "
               "read or create, only the fields they may read, and no expressions, defaults, "
               "conditions, validation or status rules or triggers.")


def _api_key_paths() -> dict[str, Any]:
    """API keys for integrations (DESIGN §9): named bearer credentials shown once."""
    key: dict[str, Any] = {
        "type": "object", "required": ["id", "name", "expires_at", "revoked"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked": {"type": "boolean"}}}
    user = {"name": "user", "in": "query", "schema": {"type": "string"},
            "description": "administrators: another user's keys (a service user's)"}
    tags = ["Auth"]
    return {
        "/api/v1/auth/api-keys": {
            "get": {"tags": tags, "operationId": "list_api_keys", "parameters": [user],
                    "summary": "Your API keys (never the keys themselves)",
                    "responses": {"200": {"description": "Keys", **_json({
                        "type": "object", "properties": {"items": {"type": "array",
                                                                   "items": key}}})},
                        "401": ERROR, "403": ERROR}},
            "post": {"tags": tags, "operationId": "create_api_key",
                     "summary": "Make a key; the answer shows it once. Use it as "
                                "'Authorization: Bearer <key>'",
                     "requestBody": {"required": True, **_json({
                         "type": "object", "required": ["name"], "properties": {
                             "name": {"type": "string", "maxLength": 100},
                             "expires_at": {"type": ["string", "null"], "format": "date-time"},
                             "user": {"type": "string",
                                      "description": "administrators: for this user"}}})},
                     "responses": {"201": {"description": "The key, shown once", **_json({
                         **key, "properties": {**key["properties"], "key": {"type": "string"}}})},
                         "401": ERROR, "403": ERROR, "422": ERROR}}},
        "/api/v1/auth/api-keys/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}, user],
            "delete": {"tags": tags, "operationId": "revoke_api_key",
                       "summary": "Revoke a key at once",
                       "responses": {"204": {"description": "Revoked"}, "401": ERROR,
                                     "403": ERROR, "404": ERROR}}},
    }


def _static_paths() -> dict[str, Any]:
    meta_obj = "/api/v1/meta/objects/{object}"
    obj_param = {"name": "object", "in": "path", "required": True, "schema": {"type": "string"}}
    field_param = {"name": "field", "in": "path", "required": True, "schema": {"type": "string"}}
    doc = _json(_ref("ObjectDocument"))
    return {
        "/api/v1/auth/token": {"post": {
            "tags": ["Auth"], "summary": "Sign in and get a bearer token", "security": [],
            "operationId": "sign_in",
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}}})},
            "responses": {"200": {"description": "A token", **_json({
                "type": "object", "properties": {"token": {"type": "string"},
                                                 "expires_at": {"type": "string",
                                                                "format": "date-time"}}})},
                "401": ERROR, "422": ERROR}}},
        "/api/v1/meta/objects": {
            "get": {"tags": ["Metadata"], "summary": "List object documents",
                    "description": READER_DOCS,
                    "operationId": "list_objects", "responses": {"200": {"description": "Objects"}}},
            "post": {"tags": ["Metadata"], "summary": "Create an object (a real table)",
                     "operationId": "create_object", "requestBody": {"required": True, **doc},
                     "responses": {"201": {"description": "The stored document", **doc},
                                   "409": ERROR, "422": ERROR}}},
        meta_obj: {
            "parameters": [obj_param],
            "get": {"tags": ["Metadata"], "operationId": "get_object", "description": READER_DOCS,
                    "responses": {"200": {"description": "The document", **doc}, "404": ERROR}},
            "patch": {"tags": ["Metadata"], "operationId": "update_object",
                      "summary": "Merge-patch an object; 'fields' replaces the field list",
                      "requestBody": {"required": True, **_json({"type": "object"})},
                      "responses": {"200": {"description": "The document", **doc},
                                    "409": ERROR, "422": ERROR}},
            "delete": {"tags": ["Metadata"], "operationId": "remove_object",
                       "summary": "Move an object and its data to the metadata recycle bin",
                       "responses": {"204": {"description": "Removed"}, "409": ERROR}}},
        meta_obj + "/restore": {"parameters": [obj_param], "post": {
            "tags": ["Metadata"], "operationId": "restore_object",
            "responses": {"200": {"description": "Restored", **doc}, "404": ERROR}}},
        meta_obj + "/fields": {"parameters": [obj_param], "post": {
            "tags": ["Metadata"], "operationId": "add_field", "summary": "Add a field",
            "requestBody": {"required": True, **_json(_ref("Meta_field"))},
            "responses": {"201": {"description": "The field"}, "409": ERROR, "422": ERROR}}},
        meta_obj + "/fields/{field}": {
            "parameters": [obj_param, field_param],
            "patch": {"tags": ["Metadata"], "operationId": "update_field",
                      "summary": "Change a field (rename with {\"name\"}; type changes convert)",
                      "parameters": [{"name": "dry_run", "in": "query",
                                      "schema": {"type": "boolean"},
                                      "description": "Report which values would not convert"}],
                      "requestBody": {"required": True, **_json({"type": "object"})},
                      "responses": {"200": {"description": "The field or the dry-run report"},
                                    "409": ERROR, "422": ERROR}},
            "delete": {"tags": ["Metadata"], "operationId": "remove_field",
                       "summary": "Move a field and its data to the metadata recycle bin",
                       "responses": {"204": {"description": "Removed"}, "409": ERROR}}},
        meta_obj + "/fields/{field}/restore": {"parameters": [obj_param, field_param], "post": {
            "tags": ["Metadata"], "operationId": "restore_field",
            "responses": {"200": {"description": "Restored"}, "404": ERROR, "409": ERROR}}},
        meta_obj + "/layout": {
            "parameters": [obj_param],
            "get": {"tags": ["Metadata"], "operationId": "get_layout",
                    "summary": "The object's form and list layout (generated when none is stored)",
                    "responses": {"200": {"description": "The layout",
                                          **_json(_ref("LayoutDocument"))}, "404": ERROR}},
            "put": {"tags": ["Metadata"], "operationId": "put_layout",
                    "summary": "Replace the layout (admins); fields must exist",
                    "requestBody": {"required": True, **_json(_ref("LayoutDocument"))},
                    "responses": {"200": {"description": "The stored layout",
                                          **_json(_ref("LayoutDocument"))},
                                  "403": ERROR, "404": ERROR, "422": ERROR}}},
        "/api/v1/meta/recycle-bin": {"get": {
            "tags": ["Metadata"], "operationId": "meta_recycle_bin",
            "responses": {"200": {"description": "Removed objects and fields"}}}},
        "/api/v1/meta/versions": {"get": {
            "tags": ["Metadata"], "operationId": "meta_versions",
            "summary": "Metadata versions with author, time and diff",
            "responses": {"200": {"description": "Versions"}}}},
        "/api/v1/meta/versions/{version}/rollback": {"post": {
            "tags": ["Metadata"], "operationId": "meta_rollback",
            "parameters": [{"name": "version", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "summary": "Publish an earlier version again (nothing is dropped)",
            "responses": {"200": {"description": "The new version"}, "409": ERROR, "422": ERROR}}},
        **_pack_paths(),
        **_list_view_paths(), **_job_paths(), **_api_key_paths(),
        "/api/v1/recycle-bin": {"get": {
            "tags": ["Records"], "operationId": "recycle_bin",
            "summary": "Deleted records you may see",
            "responses": {"200": {"description": "Deleted records"}}}},
    }


#: Every ``action`` a record's history entry can carry: the writes of the record service
#: (create, update, delete, restore, purge, transfer), values the system recomputed
#: (formula, rollup, backfill), an approval's field updates (approval) and attachments. A
#: test reads the code that writes history and fails when an action is missing here.
HISTORY_ACTIONS = ("create", "update", "delete", "restore", "purge", "transfer", "approval",
                   "formula", "rollup", "backfill", "attachment_added", "attachment_removed",
                   "attachment_restored")


#: How the error envelope chooses its language (docs/api.md "Errors", decision 0044).
_IN_LANGUAGE = ("In the language the request asks for: ?lang=zh|en, else Accept-Language, "
                "else English")


def _static_schemas() -> dict[str, Any]:
    """The schemas that do not depend on the tenant's objects."""
    error = {"type": "object", "required": ["code", "message", "fields"], "properties": {
        "code": {"type": "string"},
        "message": {"type": "string", "description": _IN_LANGUAGE},
        "fields": {"type": "object", "description": _IN_LANGUAGE, "additionalProperties": {
            "type": "array", "items": {"type": "string"}}},
        "details": {"type": "object"}}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": error}},
        "BulkResults": {"type": "object", "required": ["results", "applied"], "properties": {
            "applied": {"type": "boolean",
                        "description": "false when any record was refused"},
            "results": {"type": "array", "items": {
                "type": "object", "required": ["index", "status", "id", "error"],
                "properties": {
                    "index": {"type": "integer"},
                    "status": {"type": "string",
                               "enum": ["created", "updated", "error", "rolled_back"]},
                    "id": {"type": ["integer", "null"]},
                    "error": {"anyOf": [{"type": "null"}, {
                        "type": "object", "required": ["code", "message", "fields"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                       "fields": {"type": "object"}}}]}}}}}},
        "HistoryEntry": {
            "type": "object", "required": ["action", "field", "old", "new", "version", "by",
                                           "at"],
            "description": "One field's change by one write (field null: the write as a "
                           "whole, or an attachment with its {id, name} as old or new)",
            "properties": {
                "action": {"type": "string", "enum": list(HISTORY_ACTIONS)},
                "field": {"type": ["string", "null"]}, "old": {}, "new": {},
                "version": {"type": "integer"}, "by": {"type": ["string", "null"]},
                "at": {"type": "string", "format": "date-time"}}},
        "HistoryList": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": _ref("HistoryEntry")}}},
        **_object_document_schema(),
        **_object_document_schema("layout", "LayoutDocument", "Layout_"),
        **process_schemas(),
        **automation_schemas(),
        **app_schemas(),
    }


def build(tenant_key: str, snapshot: Snapshot,
          readable: dict[str, frozenset[str]]) -> dict[str, Any]:
    """The document for a reader who sees ``readable[object]`` fields of each object."""
    key = (tenant_key, snapshot.version, frozenset(readable.items()))
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
    schemas = _static_schemas()
    paths = {**_static_paths(), **approval_paths(), **file_paths(), **import_paths(),
             **note_paths()}
    paths.update(automation_paths())
    paths.update(app_paths())
    for path, item in extra_paths().items():  # adds operations, never replaces one
        known = paths.setdefault(path, {})
        known.update({k: v for k, v in item.items() if k not in known})
    # Declared tags set the order documentation viewers show: the API's own areas, then
    # one per object (with its labels).
    tags: list[dict[str, Any]] = [
        {"name": t} for t in dict.fromkeys(tag for item in paths.values()
                                           for op in item.values() if isinstance(op, dict)
                                           for tag in op.get("tags", []))]
    for name in sorted(snapshot.objects):
        if name not in readable:
            continue
        obj = snapshot.objects[name]
        schemas.update(record_schemas(obj, readable[name]))
        paths.update(object_paths(obj, readable[name]))
        tags.append(object_tag(obj))
    doc = finish({
        "openapi": "3.1.0",
        "info": {"title": "CRMForge API", "version": api_version(),
                 "x-metadata-version": snapshot.version,
                 "description": "Generated from this tenant's metadata (its version is "
                                "x-metadata-version). Errors use one envelope: "
                                "{\"error\": {\"code\", \"message\", \"fields\"}}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
    with _lock:
        _cache[key] = doc
        while len(_cache) > 32:
            _cache.popitem(last=False)
    return doc
