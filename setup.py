"""The build steps pyproject.toml cannot declare: what a wheel carries besides the code.

- The front-end files the pages load (htmx, ECharts, bpmn-js, SortableJS, Swagger UI),
  copied from ``node_modules`` into ``crmforge/web/static/vendor/``: exactly the files
  ``crmforge/web/vendor.json`` lists, so an install needs no npm. Without node_modules
  (and no source distribution's copy) the build stops with a message instead of making a
  wheel whose pages load without their libraries.
- The industry packs (the top-level ``packs/``) as ``crmforge/packs/``, where
  ``crmforge pack install core`` finds them in an installed wheel.

A source distribution carries both as they appear in a checkout (``packs/``, the vendor
folder), so a wheel builds from it without npm. Editable installs skip the copies: they
run from the checkout, which serves node_modules and reads ``packs/`` directly (and
``make setup`` installs the package before it runs npm).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import FileError

ROOT = Path(__file__).resolve().parent
PACKS = ROOT / "packs"
VENDOR = Path("crmforge", "web", "static", "vendor")  # relative to a tree's root
PACKS_IN_WHEEL = Path("crmforge", "packs")


def _vendor_module() -> ModuleType:
    """crmforge/web/vendor.py, loaded by path: importing the package would need its
    dependencies, which the build environment does not have."""
    spec = importlib.util.spec_from_file_location("_crmforge_vendor", ROOT / "crmforge" / "web" / "vendor.py")
    if spec is None or spec.loader is None:
        raise FileError("cannot load crmforge/web/vendor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy_vendor(tree: Path) -> None:
    vendor = _vendor_module()
    try:
        size = vendor.build(tree / VENDOR, ROOT / "node_modules", fallback=ROOT / VENDOR)
    except vendor.VendorError as exc:
        raise FileError(f"cannot build CRMForge: {exc}") from None
    print(f"copied {len(vendor.manifest())} front-end files ({size / 1e6:.1f} MB) into {tree / VENDOR}")


def _copy_packs(dest: Path) -> None:
    if not (PACKS / "core" / "pack.yaml").is_file():
        raise FileError(f"cannot build CRMForge: no packs in {PACKS} (packs/core/pack.yaml is missing)")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(PACKS, dest, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]", ".*"))
    print(f"copied the packs {', '.join(sorted(p.name for p in dest.iterdir() if p.is_dir()))} into {dest}")


class BuildPy(build_py):
    """The usual build, then the front-end files and packs into the build tree (what the
    wheel is made of)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        build_lib = Path(self.build_lib)
        _copy_vendor(build_lib)
        _copy_packs(build_lib / PACKS_IN_WHEEL)


class Sdist(sdist):
    """The usual source tree, plus the packs and the front-end files in the places a
    checkout has them, so that building a wheel from it needs no npm."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _copy_vendor(Path(base_dir))
        _copy_packs(Path(base_dir) / "packs")


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
