"""The tenant's OpenAPI 3.1 document, generated from its metadata and cached by version."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from functools import cache
from importlib import resources
from typing import Any

from ..metadata.fieldtypes import json_schema
from ..metadata.model import ObjectDef, Snapshot
from ..runtime.fields import SYSTEM_FIELD_DEFS, SYSTEM_OUTPUT
from .openapi_admin import extra_paths
from .openapi_approvals import approval_paths, process_schemas
from .openapi_automations import automation_paths
from .openapi_files import file_paths
from .openapi_imports import import_paths

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


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def _record_schemas(obj: ObjectDef, readable: frozenset[str]) -> dict[str, Any]:
    fields = [f for f in obj.fields if f.name in readable and f.stored]
    props: dict[str, Any] = {"id": {"type": "integer", "readOnly": True},
                             "version": {"type": "integer"}}
    for name in SYSTEM_OUTPUT:
        props[name] = {**json_schema(SYSTEM_FIELD_DEFS[name]), "readOnly": True}
    inputs: dict[str, Any] = {}
    for f in fields:
        props[f.name] = json_schema(f)
        if f.kind.writable:
            inputs[f.name] = json_schema(f, for_input=True)
    required = [f.name for f in fields if f.required and f.kind.writable]
    base = _pascal(obj.name)
    label = obj.label("en")
    return {
        base: {"type": "object", "title": label, "properties": props},
        base + "Input": {"type": "object", "title": f"New {label}", "properties": inputs,
                         "required": required, "additionalProperties": False},
        base + "Patch": {"type": "object", "title": f"{label} changes",
                         "properties": {**inputs, "version": {"type": "integer"}},
                         "additionalProperties": False},
        base + "List": {"type": "object", "properties": {
            "items": {"type": "array", "items": _ref(base)},
            "next_cursor": {"type": ["string", "null"]},
            "total": {"type": "integer"}, "total_is_estimate": {"type": "boolean"}},
            "required": ["items", "next_cursor"]},
    }


def _list_parameters(obj: ObjectDef, readable: frozenset[str]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": "Comma-separated fields, '-' for descending, e.g. -created_at,name"},
        {"name": "fields", "in": "query", "schema": {"type": "string"},
         "description": "Comma-separated fields to return"},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                                     "default": 50}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"},
         "description": "next_cursor of the previous page"},
        {"name": "total", "in": "query",
         "schema": {"type": "string", "enum": ["true", "false", "estimate"]},
         "description": "Also count all matching records (estimate: exact up to 10,000, "
                        "estimated past it, see total_is_estimate)"},
        {"name": "q", "in": "query", "schema": {"type": "string"},
         "description": "Text search over the searchable fields"},
    ]
    candidates = [*SYSTEM_FIELD_DEFS.values(),
                  *(f for f in obj.fields if f.name in readable and f.stored)]
    for f in candidates:
        for op in sorted(f.kind.operators):
            name = f.name if op == "eq" else f"{f.name}__{op}"
            if name == "total":
                continue  # the count flag; filter a field named total with total__eq
            desc = {"in": "comma-separated values", "between": "two comma-separated values",
                    "isnull": "true or false"}.get(op, f"{op} filter")
            params.append({"name": name, "in": "query", "required": False,
                           "schema": {"type": "string"}, "description": f"{f.name}: {desc}"})
    return params


def _object_paths(obj: ObjectDef, readable: frozenset[str]) -> dict[str, Any]:
    base = _pascal(obj.name)
    tag = obj.label("en")
    rid = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    item = f"/api/v1/records/{obj.name}/{{id}}"
    return {
        f"/api/v1/records/{obj.name}": {
            "get": {"tags": [tag], "summary": f"List {tag} records",
                    "operationId": f"list_{obj.name}",
                    "parameters": _list_parameters(obj, readable),
                    "responses": {"200": {"description": "A page", **_json(_ref(base + "List"))},
                                  "400": ERROR, "401": ERROR, "403": ERROR}},
            "post": {"tags": [tag], "summary": f"Create a {tag} record",
                     "operationId": f"create_{obj.name}",
                     "requestBody": {"required": True, **_json(_ref(base + "Input"))},
                     "responses": {"201": {"description": "Created", **_json(_ref(base))},
                                   "400": ERROR, "401": ERROR, "403": ERROR, "413": ERROR,
                                   "422": ERROR}},
        },
        item: {
            "parameters": [rid],
            "get": {"tags": [tag], "summary": f"Read a {tag} record",
                    "operationId": f"get_{obj.name}",
                    "parameters": [{"name": "fields", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The record", **_json(_ref(base))},
                                  "401": ERROR, "404": ERROR}},
            "patch": {"tags": [tag], "summary": f"Update a {tag} record",
                      "operationId": f"update_{obj.name}",
                      "parameters": [{"name": "If-Match", "in": "header",
                                      "schema": {"type": "string"},
                                      "description": "The version you read (or send 'version')"}],
                      "requestBody": {"required": True, **_json(_ref(base + "Patch"))},
                      "responses": {"200": {"description": "Updated", **_json(_ref(base))},
                                    "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR,
                                    "409": ERROR, "422": ERROR}},
            "delete": {"tags": [tag], "summary": f"Move a {tag} record to the recycle bin",
                       "operationId": f"delete_{obj.name}",
                       "responses": {"204": {"description": "Deleted"}, "401": ERROR,
                                     "403": ERROR, "404": ERROR}},
        },
        item + "/restore": {
            "parameters": [rid],
            "post": {"tags": [tag], "summary": "Restore from the recycle bin",
                     "operationId": f"restore_{obj.name}",
                     "responses": {"200": {"description": "Restored", **_json(_ref(base))},
                                   "404": ERROR, "409": ERROR}},
        },
        item + "/history": {
            "parameters": [rid],
            "get": {"tags": [tag], "summary": "Field-level history",
                    "operationId": f"history_{obj.name}",
                    "responses": {"200": {"description": "History",
                                          **_json(_ref("HistoryList"))}, "404": ERROR}},
        },
        f"/api/v1/records/{obj.name}/export": {
            "get": {"tags": [tag], "summary": f"Export {tag} records as XLSX or CSV (needs "
                                              "export; the list's filters and sort apply)",
                    "operationId": f"export_{obj.name}",
                    "parameters": [
                        {"name": "format", "in": "query", "schema": {"enum": ["csv", "xlsx"],
                                                                     "default": "csv"}},
                        {"name": "headers", "in": "query",
                         "schema": {"enum": ["labels", "names"], "default": "labels"}},
                        {"name": "lang", "in": "query", "schema": {"enum": ["zh", "en"]}},
                        *_list_parameters(obj, readable)],
                    "responses": {"200": {"description": "The file", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                            {"schema": {"type": "string", "format": "binary"}}}},
                        "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR}},
            "post": {"tags": [tag], "summary": f"Export {tag} records in the background (the "
                                               "same parameters; a job whose file "
                                               "GET /api/v1/jobs/{id}/file gives)",
                     "operationId": f"export_job_{obj.name}",
                     "parameters": [
                         {"name": "format", "in": "query", "schema": {"enum": ["csv", "xlsx"],
                                                                      "default": "xlsx"}},
                         {"name": "headers", "in": "query",
                          "schema": {"enum": ["labels", "names"], "default": "labels"}},
                         {"name": "lang", "in": "query", "schema": {"enum": ["zh", "en"]}},
                         *_list_parameters(obj, readable)],
                     "responses": {"202": {"description": "The job", **_json({
                         "type": "object", "required": ["id", "status"], "properties": {
                             "id": {"type": "integer"}, "status": {"enum": ["queued"]}}})},
                         "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR}},
        },
        f"/api/v1/records/{obj.name}/bulk": {
            "post": {"tags": [tag], "summary": f"Create, update or upsert up to 1,000 {tag} "
                                               "records, all or none or record by record",
                     "operationId": f"bulk_{obj.name}",
                     "requestBody": {"required": True, **_json({
                         "type": "object", "required": ["records"],
                         "properties": {
                             "records": {"type": "array", "maxItems": 1000,
                                         "items": {"type": "object"}},
                             "mode": {"enum": ["create", "update", "upsert"]},
                             "key": {"type": "string",
                                     "description": "upsert: the unique field to match on"},
                             "all_or_none": {"type": "boolean", "default": True}}})},
                     "responses": {"200": {"description": "Per-record results", **_json(
                         _ref("BulkResults"))}, "400": ERROR, "401": ERROR, "403": ERROR,
                         "404": ERROR, "413": ERROR}},
        },
    }


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
                                 "conflicts": {"type": "array", "items": {"type": "object"}}}})
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
                         "properties": {"name": {"type": "string"}}})},
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


def build(tenant_key: str, snapshot: Snapshot,
          readable: dict[str, frozenset[str]]) -> dict[str, Any]:
    """The document for a reader who sees ``readable[object]`` fields of each object."""
    key = (tenant_key, snapshot.version, frozenset(readable.items()))
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "fields": {"type": "object", "additionalProperties": {
                               "type": "array", "items": {"type": "string"}}}}}}},
        "BulkResults": {"type": "object", "required": ["results", "applied"], "properties": {
            "applied": {"type": "boolean",
                        "description": "false when any record was refused"},
            "results": {"type": "array", "items": {
                "type": "object", "required": ["index", "status", "id", "error"],
                "properties": {
                    "index": {"type": "integer"},
                    "status": {"enum": ["created", "updated", "error", "rolled_back"]},
                    "id": {"type": ["integer", "null"]},
                    "error": {"anyOf": [{"type": "null"}, {
                        "type": "object", "required": ["code", "message", "fields"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                       "fields": {"type": "object"}}}]}}}}}},
        "HistoryList": {"type": "object", "properties": {"items": {"type": "array", "items": {
            "type": "object", "properties": {
                "action": {"enum": ["create", "update", "delete", "restore", "purge",
                                    "transfer", "attachment_added", "attachment_removed",
                                    "attachment_restored"]},
                "field": {"type": ["string", "null"]}, "old": {}, "new": {},
                "version": {"type": "integer"}, "by": {"type": "string"},
                "at": {"type": "string", "format": "date-time"}}}}}},
        **_object_document_schema(),
        **_object_document_schema("layout", "LayoutDocument", "Layout_"),
    }
    schemas.update(process_schemas())
    paths = {**_static_paths(), **approval_paths(), **file_paths(), **import_paths()}
    paths.update(automation_paths())
    for path, item in extra_paths().items():  # adds operations, never replaces one
        known = paths.setdefault(path, {})
        known.update({k: v for k, v in item.items() if k not in known})
    for name in sorted(snapshot.objects):
        if name not in readable:
            continue
        obj = snapshot.objects[name]
        schemas.update(_record_schemas(obj, readable[name]))
        paths.update(_object_paths(obj, readable[name]))
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "CRMForge API", "version": f"metadata-{snapshot.version}",
                 "description": "Generated from this tenant's metadata. Errors use one "
                                "envelope: {\"error\": {\"code\", \"message\", \"fields\"}}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "An error", **_json(_ref("Error"))}},
        },
    }
    with _lock:
        _cache[key] = doc
        while len(_cache) > 32:
            _cache.popitem(last=False)
    return doc
