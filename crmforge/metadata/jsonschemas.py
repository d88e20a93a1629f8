"""The JSON Schemas of metadata documents, checked in two speeds.

jsonschema gives the complete, path-addressed error list a designer shows, but walking a
large object document through it costs milliseconds, and a pack install validates hundreds
of documents. fastjsonschema compiles the same schema to Python code that answers "valid or
not" tens of times faster. Valid documents (nearly all of them) take only the compiled
check; a document it refuses goes through jsonschema for the errors. So the compiled
check can only ever make validation slower, never more lenient, provided it refuses
everything jsonschema refuses: our schemas use only keywords both libraries read the
same way, which ``compiled_keywords_only`` checks when a schema is loaded (a schema using
anything else is checked by jsonschema alone), and tests compare the two verdicts on
generated documents.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, ValidationError

#: Keywords fastjsonschema (draft-07) and jsonschema (2020-12) evaluate identically for
#: our schemas. Not here on purpose: ``format`` (asserted by one, annotated by the other),
#: ``$ref`` with sibling keywords (ignored in draft-07), ``prefixItems``,
#: ``unevaluated*``, ``dependent*`` (2019-09 and later only).
SHARED_KEYWORDS = frozenset({
    "$defs", "$id", "$ref", "$schema", "additionalProperties", "allOf", "anyOf", "const",
    "description", "else", "enum", "exclusiveMaximum", "exclusiveMinimum", "if", "items",
    "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
    "minProperties", "minimum", "not", "oneOf", "pattern", "patternProperties",
    "properties", "propertyNames", "required", "then", "title", "type", "uniqueItems",
})
#: Keywords whose values are maps of names to schemas (the names are not keywords).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs"})


def compiled_keywords_only(schema: Any) -> bool:
    """Whether every keyword in ``schema`` is one both validators read the same way, with
    no ``$ref`` beside other keywords and only string ``enum``/``const`` values (Python's
    ``True == 1`` would let the compiled check accept a boolean for a number)."""
    if isinstance(schema, list):
        return all(compiled_keywords_only(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if "$ref" in schema and set(schema) - {"$ref", "description", "title"}:
        return False
    for key, value in schema.items():
        if key not in SHARED_KEYWORDS:
            return False
        if key in ("enum", "const"):
            values = value if key == "enum" else [value]
            if not all(isinstance(v, str) for v in values):
                return False
        elif key in _SCHEMA_MAPS:
            if not all(compiled_keywords_only(s) for s in value.values()):
                return False
        elif not compiled_keywords_only(value):
            return False
    return True


class DocumentSchema:
    """One document kind's schema: a compiled fast check in front of jsonschema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        # The schemas themselves are checked against the meta-schema by the unit tests,
        # not on every start (that check costs more than compiling them).
        self.full = Draft202012Validator(schema)
        self.fast: Callable[[Any], Any] | None = None
        if compiled_keywords_only(schema):
            draft7 = copy.deepcopy(schema)
            draft7["$schema"] = "http://json-schema.org/draft-07/schema#"
            draft7.pop("$id", None)  # refs resolve inside the document, never by URL
            self.fast = fastjsonschema.compile(draft7, use_default=False, use_formats=False)

    def is_valid_fast(self, doc: Any) -> bool | None:
        """The compiled verdict; None when this schema has no compiled check."""
        if self.fast is None:
            return None
        try:
            self.fast(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def iter_errors(self, doc: Any) -> Iterator[ValidationError]:
        if self.is_valid_fast(doc):
            return iter(())
        errors: Iterator[ValidationError] = self.full.iter_errors(doc)
        return errors


@cache
def document_schema(kind: str) -> DocumentSchema:
    """The schema of ``object``, ``role``, ``layout``, ``process``, ``dashboard``, ``pack``
    or ``pack_rules`` documents (``crmforge/metadata/schemas/<kind>.schema.json``)."""
    text = resources.files("crmforge.metadata").joinpath(f"schemas/{kind}.schema.json").read_text()
    return DocumentSchema(json.loads(text))
