"""The OpenAPI document of a real tenant (core and an industry pack installed, plus the
objects of ``openapi_world``), walked whole: valid OpenAPI 3.1, every array with its
items, a semver ``info.version``, records that promise ``id`` and ``version``, complete
enums, the conventions every operation shares, and names that come from API names."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from crmforge.installer import Installer
from crmforge.security.accounts import principal_of
from crmforge.web import create_app
from crmforge.web.openapi import HISTORY_ACTIONS
from crmforge.web.openapi_records import choice_schema, operation_ids, record_schema, record_tag

from ..conftest import fresh_instance
from .conftest import sign_in
from .openapi_world import OBJECTS

PACKS = Path(__file__).resolve().parents[2] / "packs"
SOURCE = Path(__file__).resolve().parents[2] / "crmforge"
METHODS = ("get", "put", "post", "patch", "delete")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass
class World:
    client: FlaskClient
    admin: dict[str, str]
    objects: list[str]

    def document(self) -> dict[str, Any]:
        r = self.client.get("/api/v1/openapi.json", headers=self.admin)
        assert r.status_code == 200, r.json
        return dict(r.json)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A tenant with core and pharma installed by the installer (as ``crmforge pack
    install`` does) and the objects of ``openapi_world`` made through the API.

    SQLite only: the document is made from metadata alone, the same on either database,
    and validating one this size takes openapi_spec_validator half a minute."""
    with fresh_instance(tmp_path_factory.mktemp("openapi"), "sqlite") as inst:
        tenant = inst.tenant("default")
        with tenant.read() as conn:
            admin = principal_of(conn, "admin")
        installer = Installer(tenant, admin)
        installer.install("core")
        assert installer.install(PACKS / "pharma").applied
        client = create_app(inst, {"TESTING": True}).test_client()
        headers = sign_in(client)
        for doc in OBJECTS:
            r = client.post("/api/v1/meta/objects", headers=headers, json=doc)
            assert r.status_code == 201, r.json
        names = [o["name"] for o in
                 client.get("/api/v1/meta/objects", headers=headers).json["items"]]
        assert "hospital" in names and "account" in names and "deal_input" in names
        yield World(client, headers, names)


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object in the document with its JSON pointer."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def test_the_document_is_valid_openapi_3_1(world: World) -> None:
    doc = world.document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_no_array_without_items(world: World) -> None:
    """Generators refuse ``type: array`` without ``items`` (openapi-python-client dropped
    the whole Approval schema, and every operation answering it lost its answer)."""
    bad = [where for where, node in _walk(world.document())
           if (node.get("type") == "array" or (isinstance(node.get("type"), list)
                                                and "array" in node["type"]))
           and "items" not in node and "prefixItems" not in node]
    assert bad == []


def test_info_version_is_semver(world: World) -> None:
    info = world.document()["info"]
    assert SEMVER.fullmatch(info["version"]), info["version"]
    assert isinstance(info["x-metadata-version"], int) and info["x-metadata-version"] > 1


def test_records_promise_id_and_version(world: World) -> None:
    doc = world.document()
    schemas = doc["components"]["schemas"]
    for name in world.objects:
        record = schemas[record_schema(name)]
        assert {"id", "version"} <= set(record["required"]), name
        assert record["properties"]["id"]["type"] == "integer"
        assert record["properties"]["version"]["type"] == "integer"
        page = schemas[record_schema(name, "List")]
        assert page["properties"]["items"]["items"] == {
            "$ref": f"#/components/schemas/{record_schema(name)}"}


def test_every_operation_takes_the_tenant_header_and_may_answer_401_and_429(
        world: World) -> None:
    doc = world.document()
    header = doc["components"]["parameters"]["XTenant"]
    assert header["in"] == "header" and header["name"] == "X-Tenant"
    retry = doc["components"]["responses"]["RateLimited"]["headers"]
    assert "Retry-After" in retry
    missing = []
    for path, method, op in _operations(doc):
        params = [_resolve(doc, p) for p in op.get("parameters", [])]
        if not any(p["in"] == "header" and p["name"] == "X-Tenant" for p in params):
            missing.append(f"{method} {path}: X-Tenant")
        for status in ("401", "429"):
            answer = op["responses"].get(status)
            if answer is None or "Error" not in str(_resolve(doc, answer)["content"]):
                missing.append(f"{method} {path}: {status}")
    assert missing == []


def test_names_come_from_api_names(world: World) -> None:
    doc = world.document()
    schemas = doc["components"]["schemas"]
    ops = {op["operationId"]: (path, method) for path, method, op in _operations(doc)}
    assert len(ops) == len(list(_operations(doc))), "operationIds must be unique"
    per_object = set()
    for name in world.objects:
        for part in ("", "Input", "Patch", "List"):
            assert record_schema(name, part) in schemas
        ids = operation_ids(name)
        per_object.update(ids.values())
        assert ops[ids["list"]] == (f"/api/v1/records/{name}", "get")
        assert ops[ids["history"]] == (f"/api/v1/records/{name}/{{id}}/history", "get")
        assert doc["paths"][f"/api/v1/records/{name}"]["get"]["tags"] == [record_tag(name)]
    # Static operations never take a name an object's operation could have.
    template = re.compile(r"^(list|create|get|update|delete|restore|export|bulk_write)_.+_"
                          r"(record|records|record_history|records_job)$")
    assert [op for op in ops if op not in per_object and template.match(op)] == []
    # Generators drop case and separators: the names must stay apart even so.
    folded = [re.sub(r"[^a-z0-9]", "", s.lower()) for s in schemas]
    assert len(set(folded)) == len(folded)
    # Titles are what generators name classes after, and here they were labels.
    assert [where for where, node in _walk(doc["components"]["schemas"])
            if isinstance(node.get("title"), str)] == []
    # Two objects with one label, and the pharma pack's choice "Pharmacy": distinct names.
    deal, deal_input = schemas["DealRecord"], schemas["DealInputRecord"]
    assert deal["description"] == "A Pharmacy record (deal)"
    assert deal_input["description"] == "A Pharmacy record (deal_input)"
    tags = {t["name"]: t.get("description") for t in doc["tags"]}
    assert tags["deal records"] == tags["deal_input records"] == "Pharmacy / 药房"


def test_picklists_are_one_named_type_for_reads_and_writes(world: World) -> None:
    schemas = world.document()["components"]["schemas"]
    status = {"$ref": f"#/components/schemas/{choice_schema('deal', 'status')}"}
    assert schemas["DealRecord"]["properties"]["status"]["anyOf"][0] == status
    assert schemas["DealRecordInput"]["properties"]["status"]["anyOf"][0] == status
    assert schemas["DealRecordPatch"]["properties"]["status"]["anyOf"][0] == status
    assert schemas[choice_schema("deal", "status")]["enum"] == ["open", "won"]
    assert schemas[choice_schema("deal_input", "status")]["enum"] == ["new", "old", "lost"]
    assert schemas[choice_schema("deal", "a_b")] != schemas[choice_schema("deal_a", "b")]
    tags = schemas["DealRecord"]["properties"]["tags"]["anyOf"][0]
    assert tags["items"] == {"$ref": f"#/components/schemas/{choice_schema('deal', 'tags')}"}
    contract = schemas["DealRecord"]["properties"]["contract"]["anyOf"][0]
    assert contract == {"$ref": "#/components/schemas/FileValue"}


# -- history actions --------------------------------------------------------------------------
def _called(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


class _Actions:
    """The ``action`` values the code passes to ``history_entry`` and ``update_row``,
    followed through module constants and through the parameters of the functions that
    pass them on (``FileService._history(ctx, row, ADDED, ...)``)."""

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.unresolved: list[str] = []

    def module(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        consts: dict[str, str] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    pairs = (zip(target.elts, stmt.value.elts, strict=False)
                             if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple)
                             else [(target, stmt.value)])
                    for t, v in pairs:
                        if isinstance(t, ast.Name) and isinstance(v, ast.Constant) \
                                and isinstance(v.value, str):
                            consts[t.id] = v.value
        functions = {f.name: f for f in ast.walk(tree)
                     if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
        calls = [(fn, c) for fn in [*functions.values()] for c in ast.walk(fn)
                 if isinstance(c, ast.Call)]
        where = path.relative_to(SOURCE.parent)

        def argument(call: ast.Call, fn: ast.FunctionDef | ast.AsyncFunctionDef | None,
                     name: str, index: int) -> ast.expr | None:
            for kw in call.keywords:
                if kw.arg == name:
                    return kw.value
            skip = 1 if (fn is not None and fn.args.args and fn.args.args[0].arg == "self"
                         and isinstance(call.func, ast.Attribute)) else 0
            i = index - skip
            return call.args[i] if 0 <= i < len(call.args) else None

        def resolve(value: ast.expr | None, inside: ast.FunctionDef | ast.AsyncFunctionDef,
                    line: int, depth: int = 0) -> None:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                self.found.add(value.value)
            elif isinstance(value, ast.Name) and value.id in consts:
                self.found.add(consts[value.id])
            elif isinstance(value, ast.Name) and depth < 3 and value.id in [
                    a.arg for a in inside.args.args]:
                index = [a.arg for a in inside.args.args].index(value.id)
                defaults = inside.args.defaults
                first_default = len(inside.args.args) - len(defaults)
                if index >= first_default:
                    resolve(defaults[index - first_default], inside, line, depth + 1)
                for outer, call in calls:
                    if _called(call) == inside.name:
                        resolve(argument(call, inside, value.id, index), outer, call.lineno,
                                depth + 1)
            elif isinstance(value, ast.Attribute) and value.attr == "action" \
                    and "Switches" in switch_actions:
                # ``switches.action``: a named ``pipeline.Switches`` value; every action
                # such a value names is collected below from its constructor calls.
                self.found.update(switch_actions["Switches"])
            elif value is not None:
                self.unresolved.append(f"{where}:{line}")

        switch_actions: dict[str, set[str]] = {}
        for node in ast.walk(tree):  # Switches(action="...") and its default
            if isinstance(node, ast.ClassDef) and node.name == "Switches":
                for stmt in node.body:
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                            and stmt.target.id == "action" and isinstance(stmt.value, ast.Constant):
                        switch_actions.setdefault("Switches", set()).add(str(stmt.value.value))
            if isinstance(node, ast.Call) and _called(node) == "Switches":
                for kw in node.keywords:
                    if kw.arg == "action" and isinstance(kw.value, ast.Constant):
                        switch_actions.setdefault("Switches", set()).add(str(kw.value.value))
        for fn, call in calls:
            name = _called(call)
            if name == "history_entry":
                resolve(argument(call, None, "action", 4), fn, call.lineno)
            elif name == "update_row":
                given = argument(call, None, "action", 3)
                resolve(given if given is not None else ast.Constant("update"), fn,
                        call.lineno)


def test_history_actions_are_all_in_the_document(world: World) -> None:
    """A new kind of history entry fails here until the document's enum names it."""
    scan = _Actions()
    for path in sorted(SOURCE.rglob("*.py")):
        scan.module(path)
    assert scan.unresolved == []
    assert {"create", "update", "transfer", "approval", "attachment_added"} <= scan.found
    assert scan.found == set(HISTORY_ACTIONS)
    schemas = world.document()["components"]["schemas"]
    assert schemas["HistoryEntry"]["properties"]["action"]["enum"] == list(HISTORY_ACTIONS)


def test_names_do_not_change_with_labels(world: World) -> None:
    """Last in the module: it relabels an object and a field."""
    before = world.document()
    r = world.client.patch("/api/v1/meta/objects/deal", headers=world.admin, json={
        "label": {"en": "Renamed", "zh": "改名"}})
    assert r.status_code == 200, r.json
    fields = world.client.get("/api/v1/meta/objects/hospital", headers=world.admin).json
    r = world.client.patch("/api/v1/meta/objects/hospital/fields/kind", headers=world.admin,
                           json={"label": {"en": "Sort of place", "zh": "类别"}})
    assert r.status_code == 200, r.json
    after = world.document()
    assert after["info"]["x-metadata-version"] > before["info"]["x-metadata-version"]
    assert set(after["components"]["schemas"]) == set(before["components"]["schemas"])
    assert sorted(op["operationId"] for _, _, op in _operations(after)) == \
        sorted(op["operationId"] for _, _, op in _operations(before))
    assert [t["name"] for t in after["tags"]] == [t["name"] for t in before["tags"]]
    assert fields["name"] == "hospital"
