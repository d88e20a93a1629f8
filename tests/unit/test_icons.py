"""The design system's icons (decision 0042): every icon a template draws is listed in
``vendor.json`` (so a wheel carries it), drawn inline as decorative SVG, and an unlisted
name is an error rather than a silently missing picture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmforge.web import vendor
from crmforge.web.pages import icons

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [*(ROOT / "crmforge" / "web" / "templates").glob("*.html"),
             *(ROOT / "admin_ui" / "templates").rglob("*.html")]
NODE_MODULES = str(ROOT / "node_modules")


def _used() -> set[str]:
    return {name for t in TEMPLATES for name in re.findall(r"icon\('([\w-]+)'\)", t.read_text())}


def test_every_icon_a_template_draws_is_listed() -> None:
    used = _used()
    assert {"inbox", "plus", "trash", "search"} <= used
    assert used - icons.names() == set()


def test_the_stylesheet_of_the_design_system_is_listed() -> None:
    assert vendor.manifest()["/assets/tabler.css"].startswith("@tabler/core/")


@pytest.mark.skipif(not (ROOT / "node_modules" / "@tabler").is_dir(), reason="npm packages not installed")
def test_an_icon_is_inline_decorative_svg() -> None:
    svg = str(icons.icon("inbox", NODE_MODULES))
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert 'aria-hidden="true"' in svg and 'class="icon icon-inbox"' in svg
    assert svg.count("<svg") == 1  # the package's own opening tag is replaced, not kept


def test_an_unlisted_icon_is_refused() -> None:
    with pytest.raises(icons.UnknownIcon):
        icons.icon("not-an-icon", NODE_MODULES)
