"""The OpenAPI paths of automation rules (DESIGN §9, second part): the rule documents and
their run log. The rule schema comes from the JSON Schema file the server validates with,
its references expanded in place, as one component (``AutomationRule``)."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _expand(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _expand(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
        return {k: _expand(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, defs) for v in node]
    return node


@cache
def rule_schema() -> dict[str, Any]:
    """The automation rule document (``automation.schema.json``), self-contained."""
    text = resources.files("crmforge.metadata").joinpath(
        "schemas/automation.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    defs = schema.pop("$defs")
    out: dict[str, Any] = _expand(schema, defs)
    out["description"] = (
        "An automation rule: when a record is created, updated (only when one of `fields` "
        "changed), saved, deleted, or when `date_field` + `offset_days` is today (`yearly`: "
        "every year; `timezone`: whose today, default UTC), and `condition` holds, run "
        "`actions` as the system. Templates use `{{ field }}` merge fields, rendered as "
        "each recipient may read the record.")
    return out


RUN = {"type": "object", "properties": {
    "id": {"type": "integer"}, "rule_version": {"type": ["integer", "null"]},
    "object": {"type": "string"}, "record": {"type": ["integer", "null"]},
    "trigger": {"type": "string", "description": "record.created ... or 'date YYYY-MM-DD'"},
    "depth": {"type": "integer", "description": "how deep in a chain of automated writes"},
    "action_index": {"type": ["integer", "null"]},
    "action": {"type": ["string", "null"],
               "enum": ["update", "create", "notify", "email", "webhook", None]},
    "status": {"enum": ["ok", "failed", "stopped", "pending", "sent"]},
    "message": {"type": ["string", "null"]},
    "at": {"type": "string", "format": "date-time"}}}


def automation_schemas() -> dict[str, Any]:
    """The components: a rule and a run-log entry, each named once, so generated clients
    get one model per shape (an inline schema used by several operations would become
    several models of the same name)."""
    return {"AutomationRule": rule_schema(), "AutomationRun": RUN}


RULE_REF = {"$ref": "#/components/schemas/AutomationRule"}
RUN_REF = {"$ref": "#/components/schemas/AutomationRun"}


def automation_paths() -> dict[str, Any]:
    tag = ["Automation rules"]
    doc = _json(RULE_REF)
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    items = _json({"type": "object", "properties": {"items": {"type": "array",
                                                              "items": RULE_REF}}})
    return {
        "/api/v1/meta/automations": {
            "get": {"tags": tag, "operationId": "list_automations",
                    "summary": "Automation rules (administrators)",
                    "responses": {"200": {"description": "Rules", **items}, "401": ERROR,
                                  "403": ERROR}},
            "post": {"tags": tag, "operationId": "create_automation",
                     "summary": "Create a rule (a new metadata version)",
                     "requestBody": {"required": True, **doc},
                     "responses": {"201": {"description": "Stored (version 1)", **doc},
                                   "400": ERROR, "403": ERROR,
                                   "422": {**ERROR, "description": "Refused; `fields` names "
                                           "each problem by JSON path"}}}},
        "/api/v1/meta/automations/{name}": {
            "parameters": [name],
            "get": {"tags": tag, "operationId": "get_automation",
                    "responses": {"200": {"description": "The rule", **doc}, "404": ERROR}},
            "patch": {"tags": tag, "operationId": "update_automation",
                      "summary": "Merge-patch (top-level keys replace; `enabled: false` "
                                 "disables); the rule's version goes up",
                      "requestBody": {"required": True, **_json({"type": "object"})},
                      "responses": {"200": {"description": "The rule", **doc}, "400": ERROR,
                                    "404": ERROR, "422": ERROR}},
            "delete": {"tags": tag, "operationId": "delete_automation",
                       "responses": {"204": {"description": "Removed"}, "404": ERROR}}},
        "/api/v1/meta/automations/{name}/runs": {
            "parameters": [name],
            "get": {"tags": tag, "operationId": "automation_runs",
                    "summary": "The rule's run log, newest first: what ran, what failed and "
                               "why, chains stopped by the loop guard, webhook attempts",
                    "parameters": [{"name": "limit", "in": "query", "required": False,
                                    "schema": {"type": "integer", "minimum": 1,
                                               "maximum": 500}}],
                    "responses": {"200": {"description": "Run log", **_json({
                        "type": "object", "properties": {"items": {"type": "array",
                                                                   "items": RUN_REF}}})},
                                  "404": ERROR}}},
    }


__all__ = ["automation_paths", "automation_schemas", "rule_schema"]
