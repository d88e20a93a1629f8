"""The OpenAPI paths of administration, credentials, sharing and metadata reads that the
object-by-object paths do not cover: every live route is in the document (a test compares
the app's URL map with it), so integrators and generated clients meet the whole API."""

from __future__ import annotations

from typing import Any

from .openapi_recent import recent_paths
from .openapi_search import search_paths
from .openapi_webhooks import webhook_paths

ERROR = {"$ref": "#/components/responses/Error"}
OBJ: dict[str, Any] = {"type": "object"}
ITEMS: dict[str, Any] = {"type": "object", "properties": {"items": {"type": "array",
                                                                    "items": OBJ}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string"}}


def _query(name: str, description: str = "", schema: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description,
            "schema": schema or {"type": "string"}}


def _op(tag: str, op_id: str, summary: str, ok: str = "200", *,
        body: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, errors: tuple[str, ...] = ("401", "403")
        ) -> dict[str, Any]:
    op: dict[str, Any] = {"tags": [tag], "operationId": op_id, "summary": summary,
                          "responses": {ok: {"description": summary,
                                             **(_json(result) if result is not None
                                                and ok != "204" else {})},
                                        **dict.fromkeys(errors, ERROR)}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    return op


def _collection(tag: str, base: str, key: str, noun: str, body: dict[str, Any],
                create_errors: tuple[str, ...] = ("401", "403", "409", "422")) -> dict[str, Any]:
    """GET/POST on ``base`` and GET/PATCH/DELETE on ``base/{key}`` of an admin resource."""
    item = {"parameters": [_path(key)],
            "get": _op(tag, f"get_{noun}", f"One {noun}", result=OBJ,
                       errors=("401", "403", "404")),
            "patch": _op(tag, f"update_{noun}", f"Change a {noun}", body=OBJ, result=OBJ,
                         errors=("401", "403", "404", "409", "422")),
            "delete": _op(tag, f"delete_{noun}", f"Remove a {noun}", "204",
                          errors=("401", "403", "404", "409"))}
    return {
        base: {"get": _op(tag, f"list_{noun}s", f"Every {noun}", result=ITEMS),
               "post": _op(tag, f"create_{noun}", f"Create a {noun}", "201", body=body,
                           result=OBJ, errors=create_errors)},
        f"{base}/{{{key}}}": item,
    }


def _versioned(item: dict[str, Any]) -> None:
    """A role answers its version as ``ETag``; a change sent with ``If-Match`` (that
    value) is refused with 409 when the role changed since (decision 0040)."""
    etag = {"ETag": {"description": "the role's version, for If-Match",
                     "schema": {"type": "string"}}}
    for method in ("get", "patch"):
        item[method]["responses"]["200"]["headers"] = etag
    item["patch"]["parameters"] = [{
        "name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
        "description": "the ETag of the role as read; without it the last change wins"}]


def admin_paths() -> dict[str, Any]:
    tag = "Administration"
    roles_body = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "label": {"type": "object"},
        "reports_to": {"type": ["string", "null"]},
        "permissions": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {
                "operations": {"type": "array", "items": {"type": "string"}},
                "scope": {"enum": ["none", "own", "department", "department_tree", "all"]},
                "hierarchy": {"type": "boolean"},
                "fields": {"type": "object", "additionalProperties": {
                    "enum": ["hidden", "read", "edit"]}}}}}}}
    user_body = {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string"}, "password": {"type": "string"},
        "department": {"type": ["string", "null"]},
        "roles": {"type": "array", "items": {"type": "string"}},
        "display_name": {"type": "string"}, "email": {"type": "string"}}}
    dept_body = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "label": {"type": "object"},
        "parent": {"type": ["string", "null"]}, "head": {"type": ["string", "null"]}}}
    decision = {"type": "object", "required": ["allowed", "level", "reason"], "properties": {
        "allowed": {"type": "boolean"}, "level": {"type": "string"},
        "reason": {"type": "string"}}}
    roles = _collection(tag, "/api/v1/admin/roles", "name", "role", roles_body)
    _versioned(roles["/api/v1/admin/roles/{name}"])
    return {
        **roles,
        "/api/v1/admin/roles/{name}/copy": {"parameters": [_path("name")], "post": _op(
            tag, "copy_role", "Create a role granting what this role grants, under a new "
            "name and label", "201", body={"type": "object", "required": ["name"],
                                           "properties": {"name": {"type": "string"},
                                                          "label": {"type": "object"}}},
            result=OBJ, errors=("401", "403", "404", "409", "422"))},
        **_collection(tag, "/api/v1/admin/users", "username", "user", user_body),
        **_collection(tag, "/api/v1/admin/departments", "name", "department", dept_body),
        "/api/v1/admin/explain": {"get": _op(
            tag, "explain", "Why may (or may not) a user do this (or see this field)?",
            result=decision, errors=("400", "401", "403", "404"),
            params=[_query("user", "username"), _query("object"),
                    _query("operation", "create, read, update, delete, export, transfer, "
                                        "share, submit..."),
                    _query("record", "a record id (optional)"),
                    _query("field", "explain a field instead of an operation")])},
        "/api/v1/admin/audit/access": {"get": _op(
            tag, "access_audit", "Who read or exported which records", result=ITEMS,
            params=[_query("user"), _query("object")])},
        "/api/v1/admin/audit/admin": {"get": _op(
            tag, "admin_audit", "Administrative changes", result=ITEMS)},
        "/api/v1/admin/signin-audit": {"get": _op(
            tag, "signin_audit", "Sign-in attempts", result=ITEMS,
            params=[_query("username"), _query("success", schema={"type": "boolean"}),
                    _query("before", schema={"type": "integer"})])},
    }


def credential_paths() -> dict[str, Any]:
    tag = "Auth"
    return {
        "/api/v1/auth/me": {"get": _op(tag, "me", "Who is signed in, how and until when",
                                       result=OBJ, errors=("401",))},
        "/api/v1/auth/revoke": {"post": _op(tag, "revoke", "End this token or session",
                                            result=OBJ, errors=("401",))},
        "/api/v1/auth/revoke-all": {"post": _op(
            tag, "revoke_all", "End every token and session of the caller (not API keys)",
            result=OBJ, errors=("401",))},
    }


def record_extra_paths() -> dict[str, Any]:
    """Sharing and transfer take any object, so they are documented once, generically."""
    tag = "Sharing"
    obj, rid = _path("object"), _path("id", {"type": "integer"})
    share = {"type": "object", "properties": {
        "user": {"type": ["string", "integer"]}, "department": {"type": ["string", "integer"]},
        "access": {"enum": ["read", "edit"]}}}
    return {
        "/api/v1/records/{object}/{id}/shares": {
            "parameters": [obj, rid],
            "get": _op(tag, "list_shares", "The record's shares", result=ITEMS,
                       errors=("401", "403", "404")),
            "post": _op(tag, "share", "Share the record with a user or a department", "201",
                        body=share, result=OBJ, errors=("401", "403", "404", "422"))},
        "/api/v1/records/{object}/{id}/shares/{share}": {
            "parameters": [obj, rid, _path("share", {"type": "integer"})],
            "delete": _op(tag, "unshare", "Remove a share", "204",
                          errors=("401", "403", "404"))},
        "/api/v1/records/{object}/{id}/transfer": {
            "parameters": [obj, rid],
            "post": _op(tag, "transfer", "Give the record to another user (its department "
                                         "follows the new owner's)",
                        body={"type": "object", "required": ["owner"], "properties": {
                            "owner": {"type": ["string", "integer"]}}},
                        result=OBJ, errors=("401", "403", "404", "422"))},
        "/api/v1/recycle-bin/{object}/{id}": {
            "parameters": [obj, rid],
            "delete": _op("Recycle bin", "purge_record",
                          "Delete for good a record in the recycle bin (administrators)", "204",
                          errors=("401", "403", "404"))},
    }


def metadata_extra_paths() -> dict[str, Any]:
    tag = "Metadata"
    obj, field = _path("object"), _path("field")
    return {
        "/api/v1/meta/objects/{object}/fields": {"parameters": [obj], "get": _op(
            tag, "list_fields", "The object's fields the caller may read", result=ITEMS,
            errors=("401", "404"))},
        "/api/v1/meta/objects/{object}/fields/{field}": {"parameters": [obj, field], "get": _op(
            tag, "get_field", "One field", result=OBJ, errors=("401", "404"))},
        "/api/v1/meta/objects/{object}/index-suggestions": {"parameters": [obj], "get": _op(
            tag, "index_suggestions", "Composite indexes that saved list views and slow "
                                      "lists would use (administrators)",
            result={"type": "object", "required": ["items"], "properties": {"items": {
                "type": "array", "items": {"type": "object", "required": ["fields", "views"],
                                           "properties": {
                    "fields": {"type": "array", "items": {"type": "string"}},
                    "views": {"type": "array", "items": {"type": "string"}},
                    "slow": {"type": ["object", "null"], "properties": {
                        "hits": {"type": "integer"}, "worst_ms": {"type": "integer"}}}}}}}},
            errors=("401", "403", "404"))},
        "/api/v1/meta/objects/{object}/preview": {"parameters": [obj], "post": _op(
            tag, "preview_expression", "Evaluate an expression over a saved record or a draft",
            body={"type": "object", "required": ["expression"], "properties": {
                "expression": {"type": "string"}, "record": {"type": ["integer", "null"]},
                "values": {"type": "object"},
                "expected": {"enum": ["number", "text", "boolean", "date", "datetime"]}}},
            result={"type": "object", "properties": {"value": {}, "type": {"type": "string"}}},
            errors=("401", "403", "404", "422"))},
        "/api/v1/meta/versions/{version}": {
            "parameters": [_path("version", {"type": "integer"})],
            "get": _op(tag, "get_metadata_version", "One metadata version with its diff "
                                                     "(administrators)", result=OBJ,
                       errors=("401", "403", "404"))},
        "/api/v1/meta/recycle-bin/objects/{object}": {"parameters": [obj], "delete": _op(
            tag, "purge_object", "Delete for good a removed object and its records "
                                 "(administrators)", "204",
            errors=("401", "403", "404", "409"))},
        "/api/v1/meta/recycle-bin/objects/{object}/fields/{field}": {
            "parameters": [obj, field], "delete": _op(
                tag, "purge_field", "Delete for good a removed field and its values "
                                    "(administrators)", "204",
                errors=("401", "403", "404", "409"))},
        "/api/v1/openapi.json": {"get": _op(tag, "openapi", "This document, for the caller",
                                            result=OBJ, errors=("401",))},
    }


def extra_paths() -> dict[str, Any]:
    return {**admin_paths(), **credential_paths(), **record_extra_paths(),
            **metadata_extra_paths(), **webhook_paths(), **search_paths(),
            **recent_paths()}


__all__ = ["extra_paths"]
