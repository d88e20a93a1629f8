"""The front-end files list (``crmforge/web/vendor.json``) and the build step that copies
them into the package: every file a template loads is listed, only listed files are copied,
and missing files stop the build (a wheel without them would serve pages that break)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmforge.web import vendor

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [*(ROOT / "crmforge" / "web" / "templates").glob("*.html"),
             *(ROOT / "admin_ui" / "templates").rglob("*.html")]
ROUTES = {"pages.asset": "/assets/", "api.docs.docs_asset": "/api/v1/docs/assets/"}


def _fake_node_modules(root: Path) -> Path:
    """A node_modules with every listed file (its text naming it) and one unlisted file."""
    for source in vendor.manifest().values():
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text(f"npm {source}")
    (root / "htmx.org" / "dist" / "htmx.js").write_text("not listed")
    return root


def test_every_library_a_template_loads_is_listed() -> None:
    used = set()
    for template in TEMPLATES:
        for endpoint, name in re.findall(r"url_for\('([\w.]+)', name='([^']+)'\)", template.read_text()):
            if endpoint in ROUTES:
                used.add(ROUTES[endpoint] + name)
    assert "/assets/htmx.js" in used and "/api/v1/docs/assets/swagger-ui-bundle.js" in used
    assert used - vendor.manifest().keys() == set()


def test_the_build_copies_exactly_the_listed_files_laid_out_by_url(tmp_path: Path) -> None:
    node_modules = _fake_node_modules(tmp_path / "node_modules")
    dest = tmp_path / "pkg" / "vendor"
    dest.mkdir(parents=True)
    (dest / "stale.js").write_text("from an older build")
    vendor.build(dest, node_modules, fallback=None)
    copied = {"/" + p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert copied == set(vendor.manifest())
    assert (dest / "assets" / "htmx.js").read_text() == "npm htmx.org/dist/htmx.min.js"
    assert not (tmp_path / "pkg" / "vendor.partial").exists()


def test_missing_files_stop_the_build_and_name_them(tmp_path: Path) -> None:
    node_modules = _fake_node_modules(tmp_path / "node_modules")
    (node_modules / "echarts" / "dist" / "echarts.min.js").unlink()
    dest = tmp_path / "vendor"
    with pytest.raises(vendor.VendorError, match=r"echarts/dist/echarts\.min\.js.*\n.*npm ci"):
        vendor.build(dest, node_modules, fallback=None)
    assert not dest.exists()
    with pytest.raises(vendor.VendorError, match=r"htmx\.min\.js"):
        vendor.build(dest, tmp_path / "absent", fallback=None)


def test_an_earlier_copy_stands_in_for_node_modules(tmp_path: Path) -> None:
    """What an unpacked source distribution does: it carries the copy, not node_modules.
    The copy may also be the destination (``make vendor`` run again without npm)."""
    earlier = tmp_path / "earlier"
    vendor.build(earlier, _fake_node_modules(tmp_path / "node_modules"), fallback=None)
    dest = tmp_path / "wheel" / "vendor"
    dest.parent.mkdir()
    vendor.build(dest, tmp_path / "absent", fallback=earlier)
    assert (dest / "api" / "v1" / "docs" / "assets" / "swagger-ui.css").read_text() \
        == "npm swagger-ui-dist/swagger-ui.css"
    vendor.build(earlier, tmp_path / "absent", fallback=earlier)
    assert len([p for p in earlier.rglob("*") if p.is_file()]) == len(vendor.manifest())


def test_entries_that_could_leave_their_folder_are_refused(tmp_path: Path) -> None:
    for bad in ('{"/assets/x.js": "../etc/passwd"}', '{"/../x.js": "a/b.js"}', '{"assets/x.js": "a.js"}',
                '{"/assets/x.js": "/etc/passwd"}', '["a"]'):
        path = tmp_path / "vendor.json"
        path.write_text(bad)
        with pytest.raises(vendor.VendorError):
            vendor.manifest(path)
