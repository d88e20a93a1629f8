"""The OpenAPI paths of process definitions, approvals and notifications (DESIGN §9)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@cache
def process_schemas() -> dict[str, Any]:
    """``ProcessDocument`` and its parts (``Process_*``), from the JSON Schema file."""
    text = resources.files("crmforge.metadata").joinpath("schemas/process.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    schema.pop("$schema", None)
    schema.pop("$id", None)
    defs = schema.pop("$defs")
    fix = "#/components/schemas/Process_"
    out = {"ProcessDocument": json.loads(json.dumps(schema).replace("#/$defs/", fix))}
    for name, d in defs.items():
        out["Process_" + name] = json.loads(json.dumps(d).replace("#/$defs/", fix))
    out["Approval"] = {"type": "object", "description": "An approval instance", "properties": {
        "id": {"type": "integer"}, "object": {"type": "string"}, "record": {"type": "integer"},
        "process": {"type": "string"}, "process_version": {"type": "integer"},
        "state": {"type": "string", "enum": ["running", "approved", "rejected", "returned",
                                             "withdrawn", "recalled"]},
        "submitter": {"type": ["string", "null"]},
        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "tasks": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "step": {"type": "string"},
            "assignee": {"type": ["string", "null"]}, "status": {"type": "string"},
            "decision": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "acted_at": {"type": ["string", "null"], "format": "date-time"}}}},
        "history": {"type": "array", "items": {"type": "object", "properties": {
            "action": {"type": "string", "description": "submit, approve, reject, return, "
                                                        "transfer, add_approver, comment, "
                                                        "withdraw, recall, skip, escalate, "
                                                        "remind, finish..."},
            "on_behalf_of": {"type": ["string", "null"],
                             "description": "set when a delegate acted"},
            "by": {"type": ["string", "null"]}, "step": {"type": ["string", "null"]},
            "task": {"type": ["integer", "null"]}, "comment": {"type": ["string", "null"]},
            "details": {"type": ["object", "null"]},
            "at": {"type": ["string", "null"], "format": "date-time"}}}},
        "record_snapshot": {"type": "object", "description": "masked for the reader"},
        "fields": {"type": "array", "items": _ref("ApprovalField")},
        "can_remind": {"type": "boolean"},
        "diagram": {"type": "object", "properties": {
            "bpmn": {"type": "string"},
            "completed": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "array", "items": {"type": "string"}}}}}}
    out["BpmnWarning"] = {
        "type": "object", "description": "An element of an imported BPMN file the process "
        "does without (not run, or ignored), named", "required": ["element", "type", "message"],
        "properties": {"element": {"type": "string", "description": "the element's id"},
                       "type": {"type": "string", "description": "its BPMN type, "
                                "e.g. serviceTask"},
                       "name": {"type": ["string", "null"]},
                       "message": {"type": "string"}}}
    out["ApprovalField"] = {"type": "object", "description": "A field the step shows",
                            "properties": {"name": {"type": "string"},
                                           "label": {"type": "string"},
                                           "access": {"enum": ["read", "edit"]},
                                           "value": {}, "display": {"type": "string"}}}
    out["InboxItem"] = {"type": "object", "properties": {
        "id": {"type": "integer"}, "instance": {"type": "integer"},
        "object": {"type": "string"}, "record_id": {"type": "integer"},
        "record": {"type": "object", "description": "the current record, masked for the "
                   "reader and the step (never the raw snapshot)"},
        "fields": {"type": "array", "items": _ref("ApprovalField")},
        "process": {"type": "string"}, "step": {"type": "string"},
        "submitter": {"type": ["string", "null"]}, "record_snapshot": {"type": "object"}}}
    out["Delegation"] = {"type": "object", "required": ["to"], "properties": {
        "to": {"type": "string", "description": "a username (or user id)"},
        "from": {"type": ["string", "null"], "format": "date-time"},
        "until": {"type": ["string", "null"], "format": "date-time"},
        "processes": {"type": ["array", "null"], "items": {"type": "string"}},
        "active": {"type": "boolean", "readOnly": True}}}
    return out


def delegation_paths() -> dict[str, Any]:
    """``/auth/me/delegation`` and the administrators' ``/admin/users/<u>/delegation``."""
    wrapped = _json({"type": "object", "properties": {"delegation": {
        "oneOf": [_ref("Delegation"), {"type": "null"}]}}})
    body = {"required": True, **_json(_ref("Delegation"))}
    ops: dict[str, dict[str, Any]] = {"get": {"tags": ["Approvals"], "operationId": "get_my_delegation",
                   "responses": {"200": {"description": "The delegation or null", **wrapped}}},
           "put": {"tags": ["Approvals"], "operationId": "set_my_delegation",
                   "summary": "Delegate my approvals (委托)", "requestBody": body,
                   "responses": {"200": {"description": "Stored", **wrapped},
                                 "422": ERROR}},
           "delete": {"tags": ["Approvals"], "operationId": "clear_my_delegation",
                      "responses": {"204": {"description": "Cleared"}}}}
    user = {"name": "user", "in": "path", "required": True, "schema": {"type": "string"}}
    admin: dict[str, Any] = {"parameters": [user]}
    admin.update({
        k: {**v, "operationId": v["operationId"].replace("my_", "user_"), "responses": {
            **v["responses"], "403": ERROR, "404": ERROR}} for k, v in ops.items()})
    return {"/api/v1/auth/me/delegation": ops,
            "/api/v1/admin/users/{user}/delegation": admin}


def approval_paths() -> dict[str, Any]:
    doc = _json(_ref("ProcessDocument"))
    approval = _json(_ref("Approval"))
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    inst = {"name": "instance", "in": "path", "required": True, "schema": {"type": "integer"}}
    comment = _json({"type": "object", "properties": {"comment": {"type": "string"}}})
    p, a = ["Processes"], ["Approvals"]
    return {
        "/api/v1/meta/processes": {
            "get": {"tags": p, "operationId": "list_processes", "summary": "Process documents",
                    "responses": {"200": {"description": "Processes"}, "403": ERROR}},
            "post": {"tags": p, "operationId": "create_process", "summary": "Create a process",
                     "requestBody": {"required": True, **doc},
                     "responses": {"201": {"description": "Stored (version 1)", **doc},
                                   "403": ERROR, "422": ERROR}}},
        "/api/v1/meta/processes/import": {"post": {
            "tags": p, "operationId": "import_process",
            "summary": "Create a process from a BPMN file (bpmn-js / Camunda Modeler)",
            "description": "The user tasks become steps. Elements the engine cannot run (a "
                           "sub-process or call activity, parallel or inclusive branches, "
                           "boundary or waiting events, loops, ${...} expressions, conditions "
                           "that lead elsewhere than an approval task) refuse the file with "
                           "422, each named in fields.bpmn; elements it does without (service "
                           "and script tasks, lanes, annotations, vendor extensions) are "
                           "named in the answer's warnings.",
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["name", "object", "bpmn"],
                "properties": {"name": {"type": "string"}, "object": {"type": "string"},
                               "bpmn": {"type": "string"}}})},
            "responses": {"201": {"description": "Stored: the process document and the "
                                                 "elements of the file it does without",
                                  **_json({"allOf": [_ref("ProcessDocument"), {
                                      "type": "object", "required": ["warnings"],
                                      "properties": {"warnings": {
                                          "type": "array", "items": _ref("BpmnWarning")}}}]})},
                          "422": ERROR}}},
        "/api/v1/meta/processes/{name}": {
            "parameters": [name],
            "get": {"tags": p, "operationId": "get_process",
                    "responses": {"200": {"description": "The document", **doc}, "404": ERROR}},
            "patch": {"tags": p, "operationId": "update_process",
                      "summary": "Merge-patch; the process version goes up, running approvals "
                                 "keep theirs",
                      "requestBody": {"required": True, **_json({"type": "object"})},
                      "responses": {"200": {"description": "The document", **doc},
                                    "404": ERROR, "422": ERROR}},
            "delete": {"tags": p, "operationId": "delete_process",
                       "responses": {"204": {"description": "Removed"}, "409": ERROR}}},
        "/api/v1/meta/processes/{name}/bpmn": {"parameters": [name], "get": {
            "tags": p, "operationId": "export_process", "summary": "The process as BPMN 2.0 XML",
            "description": "The approval steps as drawn (a gateway with the entry criteria "
                           "before a conditional step), with diagram interchange and the "
                           "exact settings in crmforge:step / crmforge:process attributes; "
                           "importing it gives back the same process. The engine's own "
                           "elements are not included.",
            "responses": {"200": {"description": "BPMN with diagram interchange",
                                  "content": {"application/xml": {"schema": {"type": "string"}}}},
                          "404": ERROR}}},
        "/api/v1/approvals": {"post": {
            "tags": a, "operationId": "submit_for_approval",
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["object", "record"],
                "properties": {"object": {"type": "string"}, "record": {"type": "integer"},
                               "process": {"type": "string"}}})},
            "responses": {"201": {"description": "Submitted", **approval}, "403": ERROR,
                          "404": ERROR, "409": ERROR, "422": ERROR}}},
        "/api/v1/approvals/tasks": {"get": {
            "tags": a, "operationId": "approval_inbox", "summary": "Your open tasks",
            "parameters": [{"name": "lang", "in": "query", "schema": {"enum": ["zh", "en"]}}],
            "responses": {"200": {"description": "Tasks", **_json({
                "type": "object", "properties": {"items": {
                    "type": "array", "items": _ref("InboxItem")}}})}}}},
        "/api/v1/approvals/tasks/approve": {"post": {
            "tags": a, "operationId": "bulk_approve", "summary": "Approve several tasks at once",
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["ids"], "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 200},
                    "comment": {"type": "string"}}})},
            "responses": {"200": {"description": "All approved"}, "403": ERROR, "404": ERROR,
                          "409": ERROR}}},
        "/api/v1/approvals/tasks/{task}/{action}": {
            "parameters": [{"name": "task", "in": "path", "required": True,
                            "schema": {"type": "integer"}},
                           {"name": "action", "in": "path", "required": True, "schema": {
                               "enum": ["approve", "reject", "return", "transfer",
                                        "add-approver", "comment"]}}],
            "post": {"tags": a, "operationId": "act_on_task",
                     "requestBody": {"required": False, **_json({
                         "type": "object", "properties": {
                             "comment": {"type": "string"},
                             "to": {"type": "string", "description": "transfer: a user; "
                                    "return: 'submitter' or an earlier step"},
                             "user": {"type": "string", "description": "add-approver"},
                             "position": {"enum": ["before", "after", "parallel"],
                                          "description": "add-approver (default parallel)"},
                             "values": {"type": "object", "description": "approve: new "
                                        "values of the fields the step marks edit"},
                             "next_approvers": {"type": "array", "items": {"type": "string"}}}})},
                     "responses": {"200": {"description": "The approval", **approval},
                                   "403": ERROR, "404": ERROR, "409": ERROR, "422": ERROR}}},
        "/api/v1/approvals/submissions": {"get": {
            "tags": a, "operationId": "my_submissions",
            "responses": {"200": {"description": "Your submissions"}}}},
        "/api/v1/approvals/{instance}": {"parameters": [inst], "get": {
            "tags": a, "operationId": "get_approval",
            "summary": "History, tasks and diagram state",
            "responses": {"200": {"description": "The approval", **approval}, "404": ERROR}}},
        "/api/v1/approvals/{instance}/withdraw": {"parameters": [inst], "post": {
            "tags": a, "operationId": "withdraw_approval",
            "requestBody": {"required": False, **comment},
            "responses": {"200": {"description": "Withdrawn", **approval}, "404": ERROR,
                          "409": ERROR}}},
        "/api/v1/approvals/{instance}/recall": {"parameters": [inst], "post": {
            "tags": a, "operationId": "recall_approval", "summary": "Stop an approval (admin)",
            "requestBody": {"required": False, **comment},
            "responses": {"200": {"description": "Recalled", **approval}, "403": ERROR,
                          "409": ERROR}}},
        "/api/v1/approvals/{instance}/remind": {"parameters": [inst], "post": {
            "tags": a, "operationId": "remind_approvers",
            "summary": "Nudge the current approvers (催办); once an hour",
            "responses": {"200": {"description": "Reminded", **approval}, "404": ERROR,
                          "409": ERROR, "429": ERROR}}},
        **delegation_paths(),
        "/api/v1/notifications": {"get": {
            "tags": a, "operationId": "notifications",
            "parameters": [{"name": "unread", "in": "query", "schema": {"type": "boolean"}}],
            "responses": {"200": {"description": "Your notifications"}}}},
        "/api/v1/notifications/read": {"post": {
            "tags": a, "operationId": "mark_notifications_read",
            "requestBody": {"required": False, **_json({"type": "object", "properties": {
                "ids": {"type": "array", "items": {"type": "integer"}}}})},
            "responses": {"200": {"description": "How many were marked"}}}},
    }


__all__ = ["approval_paths", "delegation_paths", "process_schemas"]
