"""The OpenAPI paths of webhooks (DESIGN §9, second part): registration, the delivery log
and resending (a compatible extension), plus the delivery a receiver gets, described as
a schema (``WebhookDelivery``) since it is a request CRMForge makes, not one it answers."""

from __future__ import annotations

from typing import Any

from ..runtime.events import EVENT_NAMES

ERROR = {"$ref": "#/components/responses/Error"}
TAG = ["Webhooks"]

NAMES: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"type": "string"}}
EVENTS: dict[str, Any] = {"type": "array", "minItems": 1,
                          "items": {"enum": [*EVENT_NAMES, "*"]},
                          "description": "event names, or [\"*\"] for every event"}
INPUT: dict[str, Any] = {
    "type": "object", "required": ["name", "url", "events", "objects", "secret"],
    "additionalProperties": False, "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
        "url": {"type": "string", "format": "uri",
                "description": "http or https; not this server itself"},
        "events": EVENTS,
        "objects": {**NAMES, "description": "object names, or [\"*\"] for every object"},
        "secret": {"type": "string", "minLength": 16, "maxLength": 200, "writeOnly": True,
                   "description": "signs every delivery; never answered"},
        "owner": {"type": "string", "description": "the user whose view of records the "
                                                   "payloads carry (default: you)"},
        "active": {"type": "boolean", "default": True}}}
PATCH: dict[str, Any] = {**INPUT, "required": [], "properties": {
    k: v for k, v in INPUT["properties"].items() if k != "name"}}
WEBHOOK: dict[str, Any] = {"type": "object", "properties": {
    "name": {"type": "string"}, "url": {"type": "string"}, "events": NAMES,
    "objects": NAMES, "owner": {"type": ["string", "null"]}, "active": {"type": "boolean"},
    "disabled_reason": {"type": ["string", "null"]},
    "disabled_at": {"type": ["string", "null"], "format": "date-time"},
    "consecutive_failures": {"type": "integer"},
    "last_success_at": {"type": ["string", "null"], "format": "date-time"},
    "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"}}}
DELIVERY: dict[str, Any] = {
    "type": "object", "required": ["id", "event", "status", "attempts", "response_status"],
    "properties": {
        "id": {"type": "integer", "description": "also the X-CRMForge-Delivery header"},
        "event": {"type": "string"}, "object": {"type": "string"},
        "record_id": {"type": "integer"},
        "status": {"enum": ["pending", "retrying", "sending", "delivered", "failed"]},
        "attempts": {"type": "integer"},
        "response_status": {"type": ["integer", "null"]},
        "response_excerpt": {"type": ["string", "null"],
                             "description": "the first 500 characters of the answer"},
        "error": {"type": ["string", "null"]},
        "duration_ms": {"type": ["integer", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "delivered_at": {"type": ["string", "null"], "format": "date-time"},
        "resent_from": {"type": ["integer", "null"]}}}
PAYLOAD: dict[str, Any] = {
    "type": "object", "title": "WebhookDelivery",
    "description": "The JSON body POSTed to a receiver, with headers X-CRMForge-Event, "
                   "X-CRMForge-Delivery (the id) and X-CRMForge-Signature: sha256=<hex "
                   "HMAC-SHA256 of the raw body with the secret>.",
    "required": ["id", "event", "tenant", "object", "record_id", "occurred_at", "record",
                 "changes"],
    "properties": {
        "id": {"type": "integer"}, "event": {"enum": list(EVENT_NAMES)},
        "tenant": {"type": "string"}, "object": {"type": "string"},
        "record_id": {"type": "integer"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "record": {"type": ["object", "null"],
                   "description": "as the webhook's owner may see it; null when deleted "
                                  "or not visible to the owner"},
        "changes": {"type": "object", "additionalProperties": {
            "type": "array", "items": {}, "minItems": 2, "maxItems": 2,
            "description": "[old, new] in JSON values"},
            "description": "{\"<field>\": [old, new]}, fields the owner may read"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _op(op_id: str, summary: str, ok: str, result: dict[str, Any] | None,
        errors: tuple[str, ...], body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"tags": TAG, "operationId": op_id, "summary": summary,
                          "responses": {ok: {"description": summary,
                                             **(_json(result) if result else {})},
                                        **dict.fromkeys(errors, ERROR)}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    return op


def webhook_paths() -> dict[str, Any]:
    base = "/api/v1/admin/webhooks"
    item = f"{base}/{{name}}"
    page = {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": DELIVERY},
        "next_before": {"type": ["integer", "null"]}}}
    query = [{"name": n, "in": "query", "required": False, "description": d,
              "schema": {"type": "integer"} if n != "status" else {"type": "string"}}
             for n, d in (("limit", "1-200 (default 50)"),
                          ("before", "next_before of the previous page"),
                          ("status", "only deliveries in this status"))]
    admin = ("401", "403")
    return {
        base: {
            "get": _op("list_webhooks", "Every webhook (never their secrets)", "200",
                       {"type": "object", "properties": {"items": {"type": "array",
                                                                   "items": WEBHOOK}}}, admin),
            "post": _op("create_webhook", "Register a webhook", "201", WEBHOOK,
                        ("400", *admin, "409", "422"), body=INPUT)},
        item: {
            "parameters": [_path("name")],
            "get": _op("get_webhook", "One webhook", "200", WEBHOOK, (*admin, "404")),
            "patch": _op("update_webhook", "Change a webhook (\"active\": true enables a "
                         "disabled one)", "200", WEBHOOK, ("400", *admin, "404", "422"),
                         body=PATCH),
            "delete": _op("delete_webhook", "Remove a webhook and its delivery log", "204",
                          None, (*admin, "404"))},
        f"{item}/deliveries": {
            "parameters": [_path("name")],
            "get": _op("list_webhook_deliveries", "The delivery log, newest first", "200",
                       page, ("400", *admin, "404"), params=query)},
        f"{item}/deliveries/{{delivery}}": {
            "parameters": [_path("name"), _path("delivery")],
            "get": _op("get_webhook_delivery", "One delivery and the body it sends", "200",
                       {**DELIVERY, "properties": {**DELIVERY["properties"],
                                                   "payload": PAYLOAD}}, (*admin, "404"))},
        f"{item}/deliveries/{{delivery}}/resend": {
            "parameters": [_path("name"), _path("delivery")],
            "post": _op("resend_webhook_delivery", "Send a delivery's payload again as a "
                        "new delivery", "202", DELIVERY, (*admin, "404"))},
    }


__all__ = ["PAYLOAD", "webhook_paths"]
