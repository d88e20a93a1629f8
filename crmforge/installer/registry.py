"""Where packs are found: a path to a pack folder, or a name looked up in the pack folders.

The folders are, in order: those in ``CRMFORGE_PACK_PATH`` (separated like ``PATH``), the
instance's ``packs/`` folder, and the packs that ship with CRMForge: the repository's
top-level ``packs/``, which a wheel carries as the package's ``crmforge/packs/`` (the
build copies them there; see ``setup.py``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..core.errors import NotFound
from .loader import Pack, load_pack


def _shipped() -> Path:
    """Where the shipped packs are: inside the installed package (a wheel install, where no
    repository exists), else the checkout's ``packs/`` (development, editable installs)."""
    installed = resources.files("crmforge") / "packs"
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "packs"


BUILTIN = _shipped()


def search_path(instance_dir: Path | None = None) -> list[Path]:
    extra = [Path(p) for p in os.environ.get("CRMFORGE_PACK_PATH", "").split(os.pathsep) if p]
    local = [instance_dir / "packs"] if instance_dir is not None else []
    return [*extra, *local, BUILTIN]


def find(ref: str | Path, instance_dir: Path | None = None) -> Pack:
    """Load a pack from a folder path (anything with a path separator or an existing
    folder), else by name from the search path."""
    path = Path(ref)
    ref = str(ref)
    if os.sep in ref or "/" in ref or (path.is_dir() and (path / "pack.yaml").is_file()):
        if not path.is_dir():
            raise NotFound(f"no pack folder at {ref}")
        return load_pack(path)
    for folder in search_path(instance_dir):
        candidate = folder / ref
        if (candidate / "pack.yaml").is_file():
            return load_pack(candidate)
    raise NotFound(f"no pack named '{ref[:40]}' (looked in "
                   f"{', '.join(str(p) for p in search_path(instance_dir))})")


def available(instance_dir: Path | None = None) -> list[Pack]:
    """Every loadable pack on the search path (the first of a name wins)."""
    seen: dict[str, Pack] = {}
    for folder in search_path(instance_dir):
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.iterdir()):
            if (candidate / "pack.yaml").is_file() and candidate.name not in seen:
                seen[candidate.name] = load_pack(candidate)
    return list(seen.values())
