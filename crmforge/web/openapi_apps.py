"""The OpenAPI paths of app documents (decision 0034): the groups of objects the top bar
of the business pages shows. The schema is the JSON Schema file the server validates with
(``app.schema.json``), as one component (``AppDocument``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}
APP_REF = {"$ref": "#/components/schemas/AppDocument"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


@cache
def app_schema() -> dict[str, Any]:
    text = resources.files("crmforge.metadata").joinpath("schemas/app.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    schema["description"] = (
        "An app: a named group of objects, in the order the top bar shows them. Labels in "
        "Chinese and English are required; objects must exist, once each, and objects that "
        "only link two others stay out. Renaming an object renames it in every app; "
        "removing one drops it.")
    return schema


def app_schemas() -> dict[str, Any]:
    return {"AppDocument": app_schema()}


def app_paths() -> dict[str, Any]:
    tag = ["Apps"]
    doc = _json(APP_REF)
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    refused = {**ERROR, "description": "Refused; `fields` names each problem by JSON path "
                                       "(`$.objects[2]`)"}
    return {
        "/api/v1/meta/apps": {
            "get": {"tags": tag, "operationId": "list_apps",
                    "summary": "Apps (administrators)",
                    "responses": {"200": {"description": "Apps in their stored order",
                                          **_json({"type": "object", "properties": {
                                              "items": {"type": "array", "items": APP_REF}}})},
                                  "401": ERROR, "403": ERROR}},
            "post": {"tags": tag, "operationId": "create_app",
                     "summary": "Create an app (a new metadata version)",
                     "requestBody": {"required": True, **doc},
                     "responses": {"201": {"description": "Stored", **doc}, "400": ERROR,
                                   "403": ERROR, "422": refused}}},
        "/api/v1/meta/apps/{name}": {
            "parameters": [name],
            "get": {"tags": tag, "operationId": "get_app",
                    "responses": {"200": {"description": "The app", **doc}, "403": ERROR,
                                  "404": ERROR}},
            "patch": {"tags": tag, "operationId": "update_app",
                      "summary": "Merge-patch: top-level keys replace the app's own (`objects` "
                                 "as a whole list, in order); the name stays",
                      "requestBody": {"required": True, **_json({"type": "object"})},
                      "responses": {"200": {"description": "The app", **doc}, "400": ERROR,
                                    "403": ERROR, "404": ERROR, "422": refused}},
            "delete": {"tags": tag, "operationId": "delete_app",
                       "responses": {"204": {"description": "Removed"}, "403": ERROR,
                                     "404": ERROR}}},
    }


__all__ = ["app_paths", "app_schemas"]
