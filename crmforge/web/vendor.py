"""Third-party front-end files (htmx, ECharts, bpmn-js, SortableJS, Swagger UI): where the
pages get them from, and the build step that copies them into the package.

``vendor.json`` beside this module is the one list of them: the URL path a page loads ->
the file's path inside ``node_modules`` (installed by npm from the lock file). A wheel
cannot rely on a ``node_modules`` folder, so building it copies exactly those files, and
nothing else of ``node_modules``, into the package's ``static/vendor/`` folder (laid out
by URL path); the app serves that copy when it is there and the npm folder otherwise (a
development checkout). Nothing third-party is committed: the folder is ignored by git.

The module uses only the standard library and no relative imports, because ``setup.py``
loads it by file path while building, before CRMForge's dependencies are installed.
``python crmforge/web/vendor.py`` (``make vendor``) fills the folder in a checkout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "vendor.json"
#: The packaged copy, laid out by URL path: ``/assets/htmx.js`` -> ``static/vendor/assets/htmx.js``.
PACKAGED = HERE / "static" / "vendor"
#: A checkout's npm folder (``make setup`` runs ``npm ci``).
NODE_MODULES = HERE.parents[1] / "node_modules"


class VendorError(Exception):
    """The files cannot be gathered: the build must stop rather than ship pages without them."""


@cache
def manifest(path: Path = MANIFEST) -> dict[str, str]:
    """URL path -> path inside node_modules, refused when an entry could escape its folder
    (the URL side becomes a file path in the package, the other side is read at build)."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, dict):
        raise VendorError(f"{path}: expected an object of URL path -> node_modules path")
    for url, source in entries.items():
        parts = [*url.split("/"), *str(source).split("/")]
        if not url.startswith("/") or not isinstance(source, str) or ".." in parts or source.startswith("/"):
            raise VendorError(f"{path}: bad entry {url!r}: {source!r}")
    return dict(entries)


def packaged(url: str) -> Path:
    return PACKAGED / url.lstrip("/")


def locate(url: str, node_modules: str | Path) -> Path | None:
    """The file to answer ``url`` with: the packaged copy, else the npm one (which may be
    missing: the caller's 404). None when the URL is not in the manifest, so only listed
    files are ever served."""
    source = manifest().get(url)
    if source is None:
        return None
    copy = packaged(url)
    return copy if copy.is_file() else Path(node_modules) / source


def build(dest: Path, node_modules: Path = NODE_MODULES, fallback: Path | None = PACKAGED) -> int:
    """Fill ``dest`` with the manifest's files, laid out by URL path, and nothing else.

    Each file comes from ``node_modules``, else from ``fallback``, an already filled
    folder (what an unpacked source distribution carries instead of node_modules). When
    any file is in neither, nothing is written and VendorError names what is missing.
    Returns the number of bytes copied.
    """
    plan: list[tuple[Path, str]] = []
    missing: list[str] = []
    for url, source in manifest().items():
        candidates = [node_modules / source]
        if fallback is not None:
            candidates.append(fallback / url.lstrip("/"))
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            missing.append(f"node_modules/{source} (for {url})")
        else:
            plan.append((found, url.lstrip("/")))
    if missing:
        raise VendorError(
            "the front-end libraries are missing, so the pages would load without them:\n  "
            + "\n  ".join(missing)
            + f"\nInstall them with `npm ci` in {node_modules.parent} (package-lock.json "
            "pins them; `make setup` does it), then build again.")
    # Built next to dest and swapped in, so dest may also be the fallback being read.
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    size = 0
    for source_file, rel in plan:
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_file, target)
        size += target.stat().st_size
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python crmforge/web/vendor.py",
                                     description="Copy the front-end files the pages load from "
                                                 "node_modules into the package's vendor folder.")
    parser.add_argument("--node-modules", type=Path, default=NODE_MODULES)
    parser.add_argument("--dest", type=Path, default=PACKAGED)
    args = parser.parse_args(argv)
    try:
        size = build(args.dest, args.node_modules, fallback=None)
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {len(manifest())} front-end files ({size / 1e6:.1f} MB) into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
