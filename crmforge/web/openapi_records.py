"""The OpenAPI schemas and paths of one object's records.

Every name here comes from API names, never from labels: labels are free text that two
objects may share ("Pharmacy") and that an administrator may change any day, while the
names of schemas and operations are what generated clients call their classes and
functions (decision 0023). Labels still show, as descriptions and tag descriptions.
"""

from __future__ import annotations

from typing import Any

from ..metadata.fieldtypes import PicklistType, json_schema
from ..metadata.model import FieldDef, ObjectDef
from ..runtime.fields import SYSTEM_FIELD_DEFS, SYSTEM_OUTPUT
from ..runtime.query import filter_operators

ERROR = {"$ref": "#/components/responses/Error"}

#: Shared component schemas of file fields (the value a record holds, what a write sends).
FILE_VALUE = "FileValue"
FILE_REFERENCE = "FileReference"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def pascal(name: str) -> str:
    """``sales_order`` -> ``SalesOrder``. An underscore before a digit or at the end is kept
    (``item_2`` -> ``Item_2``, not ``Item2``, which ``item2`` gives): no two API names give
    one schema name, so a new object never renames or shadows another's classes."""
    out: list[str] = []
    upper = True
    for i, ch in enumerate(name):
        if ch == "_":
            if i + 1 < len(name) and name[i + 1].isalpha():
                upper = True
            else:
                out.append("_")
            continue
        out.append(ch.upper() if upper else ch)
        upper = False
    return "".join(out)


def record_schema(obj_name: str, part: str = "") -> str:
    """A record schema's name: ``<Object>Record`` plus ``Input``, ``Patch`` or ``List``.

    The fixed ``Record`` word keeps objects apart from each other's parts: with plain
    ``<Object>Input``, an object ``deal_input`` and the input of ``deal`` would be one name.
    Every record schema name ends in ``Record``, ``RecordInput``, ``RecordPatch`` or
    ``RecordList``, and static schemas end in none of them."""
    return f"{pascal(obj_name)}Record{part}"


def choice_schema(obj_name: str, field_name: str) -> str:
    """The name of a picklist's values: ``DealRecord_StageChoice``. In ``pascal`` names an
    underscore is never followed by a capital, so the one before the field's name tells
    where the object's name ends (``deal`` + ``a_b`` and ``deal_a`` + ``b`` differ)."""
    return f"{record_schema(obj_name)}_{pascal(field_name)}Choice"


def record_tag(obj_name: str) -> str:
    """The tag of an object's operations (what generated clients call the module)."""
    return f"{obj_name} records"


def operation_ids(obj_name: str) -> dict[str, str]:
    """The operationIds of an object's operations, by what they do. Each template has a
    prefix and a suffix no other template (or static operation) has, so two objects never
    share one: ``get_<o>_record`` ends in ``_record`` and ``get_<o>_record_history`` in
    ``_history``; static operations never end in ``_record`` or ``_records`` after a verb
    these use."""
    o = obj_name
    return {"list": f"list_{o}_records", "create": f"create_{o}_record",
            "get": f"get_{o}_record", "update": f"update_{o}_record",
            "delete": f"delete_{o}_record", "restore": f"restore_{o}_record",
            "history": f"get_{o}_record_history", "export": f"export_{o}_records",
            "export_job": f"export_{o}_records_job", "bulk": f"bulk_write_{o}_records"}


def _lift(schema: Any, f: FieldDef, obj_name: str, components: dict[str, Any]) -> Any:
    """``schema`` with a picklist's ``{"enum": ...}`` and the file shapes replaced by
    references to component schemas: the input, the patch and the record then share one
    type per picklist (one enum class in a generated client, named from API names), and
    no inline class is named by a generator from the parent's and the property's names
    (where a field named ``input`` would have met the ``...RecordInput`` class)."""
    if isinstance(schema, list):
        return [_lift(s, f, obj_name, components) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "enum" in schema and isinstance(f.kind, PicklistType):
        name = choice_schema(obj_name, f.name)
        # No choices yet: any text (an empty enum accepts nothing and breaks generators).
        components[name] = ({"type": "string", "enum": list(schema["enum"])}
                            if schema["enum"] else {"type": "string"})
        return {**{k: v for k, v in schema.items() if k != "enum"}, **_ref(name)}
    if schema.get("required") == ["id", "name", "size", "content_type"]:
        components[FILE_VALUE] = schema
        return _ref(FILE_VALUE)
    if schema.get("type") == "object" and schema.get("required") == ["id"]:
        components[FILE_REFERENCE] = {**schema, "description": "a file value sent back "
                                                               "as read (changes nothing)"}
        return _ref(FILE_REFERENCE)
    return {k: _lift(v, f, obj_name, components) for k, v in schema.items()}


def _field_schema(obj: ObjectDef, f: FieldDef, components: dict[str, Any], *,
                  for_input: bool = False) -> dict[str, Any]:
    lifted: dict[str, Any] = _lift(json_schema(f, for_input=for_input), f, obj.name,
                                   components)
    return lifted


def record_schemas(obj: ObjectDef, readable: frozenset[str]) -> dict[str, Any]:
    """The record (what reads answer), its input (create), patch (update) and list page."""
    components: dict[str, Any] = {}
    props: dict[str, Any] = {"id": {"type": "integer", "readOnly": True},
                             "version": {"type": "integer", "readOnly": True,
                                         "description": "send it back to update (If-Match "
                                                        "or 'version')"}}
    for name in SYSTEM_OUTPUT:
        props[name] = {**json_schema(SYSTEM_FIELD_DEFS[name]), "readOnly": True}
    inputs: dict[str, Any] = {}
    shown = [f for f in obj.fields if f.name in readable]
    for f in shown:  # non-stored formulas too: reads compute them
        props[f.name] = _field_schema(obj, f, components)
        if f.kind.writable:
            inputs[f.name] = _field_schema(obj, f, components, for_input=True)
    required = [f.name for f in shown if f.required and f.kind.writable]
    label = obj.label("en")
    record, part = record_schema(obj.name), record_schema
    return {
        **components,
        record: {"type": "object", "description": f"A {label} record ({obj.name})",
                 "required": ["id", "version"], "properties": props},
        part(obj.name, "Input"): {
            "type": "object", "description": f"A new {label} record", "properties": inputs,
            "required": required, "additionalProperties": False},
        part(obj.name, "Patch"): {
            "type": "object", "description": f"Changes to a {label} record",
            "properties": {**inputs,
                           "version": {"type": "integer",
                                       "description": "the version you read (or If-Match)"}},
            "additionalProperties": False},
        part(obj.name, "List"): {"type": "object", "required": ["items", "next_cursor"],
                                 "properties": {
            "items": {"type": "array", "items": _ref(record)},
            "next_cursor": {"type": ["string", "null"]},
            "total": {"type": "integer"}, "total_is_estimate": {"type": "boolean"}}},
    }


def list_parameters(obj: ObjectDef, readable: frozenset[str]) -> list[dict[str, Any]]:
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
        for op in sorted(filter_operators(f)):
            name = f.name if op == "eq" else f"{f.name}__{op}"
            if name == "total":
                continue  # the count flag; filter a field named total with total__eq
            desc = {"in": "comma-separated values", "between": "two comma-separated values",
                    "isnull": "true or false"}.get(op, f"{op} filter")
            params.append({"name": name, "in": "query", "required": False,
                           "schema": {"type": "string"}, "description": f"{f.name}: {desc}"})
    return params


def _export_parameters(obj: ObjectDef, readable: frozenset[str], default: str
                       ) -> list[dict[str, Any]]:
    return [
        {"name": "format", "in": "query",
         "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": default}},
        {"name": "headers", "in": "query",
         "schema": {"type": "string", "enum": ["labels", "names"], "default": "labels"}},
        {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh", "en"]}},
        *(p for p in list_parameters(obj, readable) if p["name"] not in ("cursor", "limit"))]


def object_paths(obj: ObjectDef, readable: frozenset[str]) -> dict[str, Any]:
    """The record operations of one object (DESIGN §9), by its API name."""
    record = record_schema(obj.name)
    tag = record_tag(obj.name)
    ids = operation_ids(obj.name)
    label = obj.label("en")
    rid = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    item = f"/api/v1/records/{obj.name}/{{id}}"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return {
        f"/api/v1/records/{obj.name}": {
            "get": {"tags": [tag], "summary": f"List {label} records",
                    "operationId": ids["list"],
                    "parameters": list_parameters(obj, readable),
                    "responses": {"200": {"description": "A page",
                                          **_json(_ref(record_schema(obj.name, "List")))},
                                  "400": ERROR, "403": ERROR}},
            "post": {"tags": [tag], "summary": f"Create a {label} record",
                     "operationId": ids["create"],
                     "requestBody": {"required": True,
                                     **_json(_ref(record_schema(obj.name, "Input")))},
                     "responses": {"201": {"description": "Created", **_json(_ref(record))},
                                   "400": ERROR, "403": ERROR, "413": ERROR, "422": ERROR}},
        },
        item: {
            "parameters": [rid],
            "get": {"tags": [tag], "summary": f"Read a {label} record",
                    "operationId": ids["get"],
                    "parameters": [{"name": "fields", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The record", **_json(_ref(record))},
                                  "404": ERROR}},
            "patch": {"tags": [tag], "summary": f"Update a {label} record",
                      "operationId": ids["update"],
                      "parameters": [{"name": "If-Match", "in": "header",
                                      "schema": {"type": "string"},
                                      "description": "The version you read (or send 'version')"}],
                      "requestBody": {"required": True,
                                      **_json(_ref(record_schema(obj.name, "Patch")))},
                      "responses": {"200": {"description": "Updated", **_json(_ref(record))},
                                    "400": ERROR, "403": ERROR, "404": ERROR,
                                    "409": ERROR, "422": ERROR}},
            "delete": {"tags": [tag], "summary": f"Move a {label} record to the recycle bin",
                       "operationId": ids["delete"],
                       "responses": {"204": {"description": "Deleted"},
                                     "403": ERROR, "404": ERROR, "409": ERROR}},
        },
        item + "/restore": {
            "parameters": [rid],
            "post": {"tags": [tag], "summary": "Restore from the recycle bin",
                     "operationId": ids["restore"],
                     "responses": {"200": {"description": "Restored", **_json(_ref(record))},
                                   "404": ERROR, "409": ERROR}},
        },
        item + "/history": {
            "parameters": [rid],
            "get": {"tags": [tag], "summary": "Field-level history",
                    "operationId": ids["history"],
                    "responses": {"200": {"description": "History",
                                          **_json(_ref("HistoryList"))}, "404": ERROR}},
        },
        f"/api/v1/records/{obj.name}/export": {
            "get": {"tags": [tag], "summary": f"Export {label} records as XLSX or CSV (needs "
                                              "export; the list's filters and sort apply)",
                    "operationId": ids["export"],
                    "parameters": _export_parameters(obj, readable, "csv"),
                    "responses": {"200": {"description": "The file", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        xlsx: {"schema": {"type": "string", "format": "binary"}}}},
                        "400": ERROR, "403": ERROR, "404": ERROR}},
            "post": {"tags": [tag], "summary": f"Export {label} records in the background (the "
                                               "same parameters; a job whose file "
                                               "GET /api/v1/jobs/{id}/file gives)",
                     "operationId": ids["export_job"],
                     "parameters": _export_parameters(obj, readable, "xlsx"),
                     "responses": {"202": {"description": "The job", **_json({
                         "type": "object", "required": ["id", "status"], "properties": {
                             "id": {"type": "integer"},
                             "status": {"type": "string", "enum": ["queued"]}}})},
                         "400": ERROR, "403": ERROR, "404": ERROR}},
        },
        f"/api/v1/records/{obj.name}/bulk": {
            "post": {"tags": [tag], "summary": f"Create, update or upsert up to 1,000 {label} "
                                               "records, all or none or record by record",
                     "operationId": ids["bulk"],
                     "requestBody": {"required": True, **_json({
                         "type": "object", "required": ["records"],
                         "properties": {
                             "records": {"type": "array", "maxItems": 1000,
                                         "items": {"type": "object"}},
                             "mode": {"type": "string", "enum": ["create", "update", "upsert"]},
                             "key": {"type": "string",
                                     "description": "upsert: the unique field to match on"},
                             "all_or_none": {"type": "boolean", "default": True}}})},
                     "responses": {"200": {"description": "Per-record results", **_json(
                         _ref("BulkResults"))}, "400": ERROR, "403": ERROR,
                         "404": ERROR, "413": ERROR}},
        },
    }


def object_tag(obj: ObjectDef) -> dict[str, Any]:
    """The tag entry that shows an object's labels beside its API name."""
    labels = obj.options.get("label") or {}
    shown = " / ".join(str(labels[k]) for k in ("en", "zh") if labels.get(k)) or obj.name
    return {"name": record_tag(obj.name), "description": shown}


__all__ = ["FILE_REFERENCE", "FILE_VALUE", "choice_schema", "list_parameters", "object_paths",
           "object_tag", "operation_ids", "pascal", "record_schema", "record_schemas",
           "record_tag"]
