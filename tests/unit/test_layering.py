"""The dependency rule of DESIGN §1, made executable: a layer imports only layers below it.

core <- metadata <- rules <- security <- runtime <- workflow <- integrations <- installer <- tasks
<- web, cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "crmforge"
ORDER = ["core", "metadata", "rules", "security", "runtime", "workflow", "integrations",
         "installer", "tasks", "web"]
RANK = {name: i for i, name in enumerate(ORDER)} | {"cli": len(ORDER)}


def _layer_of(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    if rel.parts[0] in ("cli.py", "serving.py", "wsgi.py"):
        return "cli"
    if rel.parts[0] in ("tasks.py", "composition.py"):
        return "tasks"
    return rel.parts[0] if rel.parts[0] in RANK else None


def _imported_layers(path: Path) -> list[tuple[int, str]]:
    """(line, layer) for every import of a crmforge layer in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel_parts = path.relative_to(PACKAGE).parts[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "crmforge" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel_parts[: len(rel_parts) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = target if target else [a.name for a in node.names]
                if target:
                    found.append((node.lineno, target[0]))
                else:
                    found.extend((node.lineno, n) for n in names)
            elif node.module and node.module.split(".")[0] == "crmforge":
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.append((node.lineno, parts[1]))
                else:
                    found.extend((node.lineno, a.name) for a in node.names)
    return [(line, layer) for line, layer in found if layer in RANK]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if _layer_of(p) is not None)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    own = _layer_of(path)
    assert own is not None
    wrong = [f"line {line}: {own} imports {layer}"
             for line, layer in _imported_layers(path) if RANK[layer] > RANK[own]]
    assert not wrong, "; ".join(wrong)


def test_the_checker_catches_a_backwards_import(tmp_path: Path) -> None:
    """Guard against a checker that silently passes everything."""
    fake = PACKAGE / "metadata" / "_layering_probe.py"
    fake.write_text("from ..runtime import records\nimport crmforge.web\n")
    try:
        layers = [layer for _, layer in _imported_layers(fake)]
    finally:
        fake.unlink()
    assert layers == ["runtime", "web"]


#: The designer (top-level ``admin_ui``) sits at the web layer: it may import crmforge, but
#: crmforge imports it only where the app factory registers its blueprint.
DESIGNER_DOOR = PACKAGE / "web" / "app.py"


def _imports_of_admin_ui(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        if any(n.split(".")[0] == "admin_ui" for n in names):
            lines.append(node.lineno)
    return lines


def test_only_the_app_factory_imports_the_designer() -> None:
    wrong = [f"{p.relative_to(PACKAGE)} line {line}" for p in sorted(PACKAGE.rglob("*.py"))
             if p != DESIGNER_DOOR for line in _imports_of_admin_ui(p)]
    assert not wrong, "; ".join(wrong)
    assert _imports_of_admin_ui(DESIGNER_DOOR)  # the one registration (the checker sees it)
