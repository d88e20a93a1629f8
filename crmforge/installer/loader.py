"""Reading a pack folder: every file parsed and checked by its JSON Schema before anything is
installed, with every problem named by file and path inside it.

A pack (DESIGN §8) is ``pack.yaml`` plus the folders ``objects/``, ``rules/``, ``roles/``,
``layouts/``, ``processes/``, ``dashboards/``, ``automations/``, ``apps/`` (one YAML or JSON
document per file) and
``data/`` (``<object>.csv`` sample records). Checks that need the tenant's metadata (does a
field exist, does an expression compile) happen when the pack is applied, where the
platform's own validators answer with the same messages the designer shows.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ValidationFailed
from ..metadata.packs import manifest_problems, schema_problems
from . import sample_org
from .sample_org import SampleOrg

#: Folders of documents, in the order they are applied.
DOCUMENT_FOLDERS = ("objects", "rules", "roles", "layouts", "processes", "dashboards",
                    "automations", "apps")
MAX_FILES = 1000
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ROWS = 50_000


@dataclass
class Pack:
    path: Path
    manifest: dict[str, Any]
    #: Documents per folder, by the name they declare (layouts: by object), in file order.
    documents: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: Sample records per object: rows of column -> text, in file order.
    data: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    #: Which file each document came from, for messages: (folder, name) -> relative path.
    files: dict[tuple[str, str], str] = field(default_factory=dict)
    #: The sample organisation (``sample/organisation.yaml``), made only on request.
    sample: SampleOrg | None = None

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def docs(self, folder: str) -> dict[str, dict[str, Any]]:
        return self.documents.get(folder, {})

    def shipped(self) -> dict[str, Any]:
        """Everything the pack ships, as plain data (kept as the base of later upgrades)."""
        return {"manifest": self.manifest, "documents": self.documents}


class _Problems:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, file: str, path: str, message: str) -> None:
        self.items.setdefault(f"{file}: {path}" if path else file, []).append(message)


def load_pack(path: str | Path) -> Pack:
    """Read and check a pack folder; raises ValidationFailed naming every bad file."""
    root = Path(path)
    problems = _Problems()
    manifest_file = next((root / n for n in ("pack.yaml", "pack.yml") if (root / n).is_file()), None)
    if not root.is_dir() or manifest_file is None:
        raise ValidationFailed(f"{root} is not a pack: it has no pack.yaml",
                               {str(root): ["no pack.yaml"]})
    manifest = _read(manifest_file, root, problems)
    if manifest is _UNREADABLE:
        manifest = {}
    for p, messages in manifest_problems(manifest).items():
        for m in messages:
            problems.add("pack.yaml", p, m)
    pack = Pack(root, manifest if isinstance(manifest, dict) else {})
    files = [f for f in root.rglob("*") if f.is_file()]
    if len(files) > MAX_FILES:
        problems.add(".", "", f"a pack holds at most {MAX_FILES} files")
    for folder in DOCUMENT_FOLDERS:
        pack.documents[folder] = {}
        for file in _files(root / folder, (".yaml", ".yml", ".json")):
            _add_document(pack, folder, file, root, problems)
    for file in _files(root / "data", (".csv",)):
        rel = file.relative_to(root).as_posix()
        rows = _read_csv(file, rel, problems)
        if rows is not None:
            pack.data[file.stem] = rows
    _check_references(pack, problems)
    org_file = root / sample_org.FILE
    if org_file.is_file():
        doc = _read(org_file, root, problems)
        if doc is not _UNREADABLE:
            pack.sample, found = sample_org.parse(doc, pack.data)
            for p, message in found.items():
                problems.add(sample_org.FILE, p, message)
    if problems.items:
        first = next(iter(problems.items))
        raise ValidationFailed(f"pack {pack.manifest.get('name', root.name)} is not valid: "
                               f"{first}: {problems.items[first][0]}", problems.items)
    return pack


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in suffixes)


_UNREADABLE = object()
# libyaml's safe loader when PyYAML was built with it (about ten times faster).
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(file: Path, root: Path, problems: _Problems) -> Any:
    """The parsed file, or ``_UNREADABLE`` after adding the problem."""
    rel = file.relative_to(root).as_posix()
    if file.stat().st_size > MAX_FILE_BYTES:
        problems.add(rel, "", f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return _UNREADABLE
    try:
        text = file.read_text(encoding="utf-8")
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except UnicodeDecodeError:
        problems.add(rel, "", "is not UTF-8 text")
    except json.JSONDecodeError as exc:
        problems.add(rel, f"line {exc.lineno}, column {exc.colno}", exc.msg)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.add(rel, where, str(getattr(exc, "problem", None) or exc))
    return _UNREADABLE


def _add_document(pack: Pack, folder: str, file: Path, root: Path, problems: _Problems) -> None:
    rel = file.relative_to(root).as_posix()
    doc = _read(file, root, problems)
    if doc is _UNREADABLE:
        return
    if not isinstance(doc, dict):
        problems.add(rel, "$", "must hold one mapping (a document)")
        return
    for path in _boolean_keys(doc, "$"):
        problems.add(rel, path, "YAML reads this key (on, off, yes, no...) as true or false; "
                                "quote it: \"on\":")
    kind = {"rules": "pack_rules", "dashboards": "dashboard",
            "automations": "automation", "apps": "app"}.get(folder)
    if kind is not None:
        for p, messages in schema_problems(kind, doc).items():
            for m in messages:
                problems.add(rel, p, m)
    key_name = "object" if folder in ("rules", "layouts") else "name"
    key = doc.get(key_name)
    if not isinstance(key, str) or not key:
        problems.add(rel, f"$.{key_name}", f"a document in {folder}/ names its {key_name}")
        return
    if key in pack.documents[folder]:
        other = pack.files[(folder, key)]
        problems.add(rel, f"$.{key_name}", f"'{key}' is also defined in {other}")
        return
    pack.documents[folder][key] = doc
    pack.files[(folder, key)] = rel


def _boolean_keys(value: Any, path: str) -> list[str]:
    """Paths of mapping keys YAML 1.1 turned into booleans (``on:`` is ``True:``)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, bool):
                found.append(f"{path}.{key}")
            found += _boolean_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _boolean_keys(item, f"{path}[{i}]")
    return found


def _read_csv(file: Path, rel: str, problems: _Problems) -> list[dict[str, str]] | None:
    if file.stat().st_size > MAX_FILE_BYTES:
        problems.add(rel, "", f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return None
    reader = csv.DictReader(io.StringIO(file.read_text(encoding="utf-8-sig"), newline=""))
    rows: list[dict[str, str]] = []
    try:
        for row in reader:
            if None in row:
                problems.add(rel, f"line {reader.line_num}", "has more cells than the header")
                return None
            rows.append({k: v for k, v in row.items() if k is not None})
            if len(rows) > MAX_ROWS:
                problems.add(rel, "", f"holds more than {MAX_ROWS} rows")
                return None
    except csv.Error as exc:
        problems.add(rel, f"line {reader.line_num}", str(exc))
        return None
    if reader.fieldnames is None:
        problems.add(rel, "", "has no header line")
        return None
    return rows


def _check_references(pack: Pack, problems: _Problems) -> None:
    """What can be judged without a tenant: rules, layouts and data name shipped objects,
    and data keys are unique."""
    objects = set(pack.docs("objects"))
    for folder in ("rules", "layouts"):
        for name in pack.docs(folder):
            if name not in objects:
                problems.add(pack.files[(folder, name)], "$.object",
                             f"names '{name}', which this pack does not define")
    for obj, rows in pack.data.items():
        rel = f"data/{obj}.csv"
        if obj not in objects:
            problems.add(rel, "", f"'{obj}' is not an object of this pack")
            continue
        keys: set[str] = set()
        for i, row in enumerate(rows, start=2):
            key = row.get("_key", "")
            if key and key in keys:
                problems.add(rel, f"line {i}", f"the key '{key}' is used twice")
            keys.add(key)
