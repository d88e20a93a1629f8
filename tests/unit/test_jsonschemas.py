"""The compiled schema check never accepts what jsonschema refuses (it only makes valid
documents cheaper), and every shipped schema gets one."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from crmforge.installer import load_pack
from crmforge.metadata.jsonschemas import DocumentSchema, compiled_keywords_only, document_schema

SCHEMAS = Path(__file__).resolve().parents[2] / "crmforge" / "metadata" / "schemas"
PACKS = Path(__file__).resolve().parents[2] / "packs"
KINDS = sorted(p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json"))
#: Pack folders' document kinds and the schema each is checked with.
PACK_KINDS = {"objects": "object", "roles": "role", "layouts": "layout",
              "processes": "process", "dashboards": "dashboard", "rules": "pack_rules"}


def _pack_documents() -> list[tuple[str, Any]]:
    out = []
    for folder in sorted(PACKS.iterdir()):
        if (folder / "pack.yaml").is_file():
            pack = load_pack(folder)
            out.append(("pack", pack.manifest))
            for kind, docs in pack.documents.items():
                out += [(PACK_KINDS[kind], d) for d in docs.values() if kind in PACK_KINDS]
    return out


DOCUMENTS = _pack_documents()


def _verdicts(kind: str, doc: Any) -> tuple[bool | None, bool]:
    schema = document_schema(kind)
    return schema.is_valid_fast(doc), not list(schema.full.iter_errors(doc))


@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_schema_is_valid_and_compiled(kind: str) -> None:
    raw = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    Draft202012Validator.check_schema(raw)
    assert compiled_keywords_only(raw)
    assert document_schema(kind).fast is not None


def test_shipped_pack_documents_get_the_same_verdict() -> None:
    assert len(DOCUMENTS) > 200
    kinds = {k for k, _ in DOCUMENTS}
    assert {"object", "role", "layout", "process", "dashboard"} <= kinds
    for kind, doc in DOCUMENTS:
        fast, full = _verdicts(kind, doc)
        assert fast == full, (kind, doc.get("name"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 600) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["text", "picklist", "obj_abc", "all", "zh", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "type", "label", "fields", "zh", "en", "options", "x"]),
        inner, max_size=3),
    max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(DOCUMENTS) - 1), pick=st.integers(0, 10_000),
       action=st.sampled_from(["replace", "delete", "add"]), value=JSON)
def test_a_mutated_document_gets_the_same_verdict(index: int, pick: int, action: str,
                                                  value: Any) -> None:
    """Documents one edit away from a valid one, where the two validators could disagree."""
    kind, original = DOCUMENTS[index]
    doc = copy.deepcopy(original)
    paths = _paths(doc)
    path = paths[pick % len(paths)]
    if not path:
        doc = value
    else:
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent["x_" + str(path[-1])] = value
        else:
            parent[path[-1]] = value
    fast, full = _verdicts(kind, doc)
    assert fast == full


@pytest.mark.parametrize("schema", [
    {"type": "string", "format": "email"},
    {"properties": {"a": {"$ref": "#/$defs/x", "minLength": 2}}, "$defs": {"x": {}}},
    {"enum": [1, "a"]},
    {"prefixItems": [{"type": "string"}]},
])
def test_schemas_the_libraries_read_differently_are_checked_by_jsonschema_alone(
        schema: dict[str, Any]) -> None:
    assert not compiled_keywords_only(schema)
    assert DocumentSchema(schema).fast is None


def test_a_refused_document_still_gets_every_error_with_its_path() -> None:
    doc = {"name": 5, "fields": [{"name": "a", "type": "nope"}], "extra": True}
    errors = {e.json_path for e in document_schema("object").iter_errors(doc)}
    assert {"$.name", "$.fields[0].type", "$"} <= errors
