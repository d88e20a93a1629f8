"""Pack documents: the manifest (``pack.yaml``), rules files and dashboards (DESIGN §8).

Schemas live beside the other metadata schemas; these functions only judge documents.
Finding, loading and installing packs is the installer's job.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..core.errors import ValidationFailed
from .jsonschemas import document_schema
from .model import Snapshot
from .validation import Problems

#: Field types a chart can group by, and the ones it can sum or show as progress.
GROUPABLE = frozenset({"picklist", "boolean", "text", "lookup", "master_detail", "user"})
MEASURABLE = frozenset({"integer", "decimal", "currency", "percent", "rollup", "formula"})




def schema_problems(kind: str, doc: Any) -> dict[str, list[str]]:
    """JSON Schema errors of a document, keyed by JSON path."""
    problems = Problems()
    for error in document_schema(kind).iter_errors(doc):
        problems.add(error.json_path, error.message)
    return problems.items


def manifest_problems(doc: Any) -> dict[str, list[str]]:
    """Schema errors of a manifest, then its version and ranges (semver, PEP 440 ranges)."""
    problems = Problems()
    if not isinstance(doc, Mapping):
        problems.add("$", "pack.yaml must hold a mapping")
        return problems.items
    problems.items.update(schema_problems("pack", doc))
    version = doc.get("version")
    if isinstance(version, str) and parse_version(version) is None:
        problems.add("$.version", f"'{version}' is not a version like 1.2.0")
    ranges: dict[str, Any] = {"$.platform": doc.get("platform")}
    deps = doc.get("dependencies")
    if isinstance(deps, Mapping):
        ranges.update({f"$.dependencies.{k}": v for k, v in deps.items()})
        if doc.get("name") in deps:
            problems.add(f"$.dependencies.{doc['name']}", "a pack cannot depend on itself")
    for path, spec in ranges.items():
        if isinstance(spec, str) and parse_range(spec) is None:
            problems.add(path, f"'{spec}' is not a version range like '>=1.0,<2'")
    return problems.items


def parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def parse_range(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def in_range(version: str, spec: str | None) -> bool:
    """Whether ``version`` satisfies ``spec`` (no range: any version)."""
    if not spec:
        return True
    parsed, allowed = parse_version(version), parse_range(spec)
    return parsed is not None and allowed is not None and allowed.contains(parsed, prereleases=True)


def dashboards(snapshot: Snapshot) -> dict[str, Mapping[str, Any]]:
    return {d["name"]: d for d in snapshot.data.get("dashboards", [])}


def prepare_dashboard(doc: Any, snapshot: Snapshot) -> dict[str, Any]:
    """Validate a dashboard against the snapshot's objects and fields; all errors at once."""
    problems = Problems()
    problems.items.update(schema_problems("dashboard", doc))
    problems.raise_if_any("the dashboard")
    out = copy.deepcopy(dict(doc))
    for i, chart in enumerate(out["charts"]):
        path = f"$.charts[{i}]"
        obj = snapshot.object(chart["object"])
        if obj is None:
            problems.add(f"{path}.object", f"no object named '{chart['object']}'")
            continue
        f = obj.field(chart["field"])
        wanted = MEASURABLE if chart["type"] == "progress" else GROUPABLE
        if f is None:
            problems.add(f"{path}.field", f"'{obj.name}' has no field '{chart['field']}'")
        elif f.type not in wanted:
            problems.add(f"{path}.field", f"a {chart['type']} chart cannot use a {f.type} field")
        measure = chart.get("measure")
        if measure is not None:
            m = obj.field(measure)
            if m is None or m.type not in MEASURABLE:
                problems.add(f"{path}.measure", f"'{measure}' is not a numeric field of '{obj.name}'")
    problems.raise_if_any("the dashboard")
    return out


def raise_problems(what: str, problems: Mapping[str, list[str]]) -> None:
    if problems:
        first = next(iter(problems))
        raise ValidationFailed(f"{what} is not valid: {first}: {problems[first][0]}",
                               dict(problems))
