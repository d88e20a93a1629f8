"""Icons of the design system (Tabler Icons, from npm), drawn inline in the pages.

The pages draw a few dozen outline icons from ``@tabler/icons``. Each is listed in
``vendor.json`` (``/assets/icons/<name>.svg``), so a wheel carries exactly those files and
a checkout reads them from ``node_modules``. They are drawn inline rather than loaded as
images or a font: inline SVG takes the text's colour (``currentColor``), needs no extra
request, and the Content-Security-Policy needs no new source. The markup is read once per
process and name; the icon is decorative (``aria-hidden``), so the text beside it or the
control's own label names the action.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from markupsafe import Markup

from .. import vendor

#: The manifest's prefix of icon entries.
PREFIX = "/assets/icons/"
_OPEN = re.compile(r"<svg\b[^>]*>", re.S)


class UnknownIcon(LookupError):
    """A template asked for an icon that is not in the manifest: a programming error that
    a test catches (every template's icon names are checked against the manifest)."""


def names() -> frozenset[str]:
    """The icons the pages may draw."""
    return frozenset(url[len(PREFIX):-len(".svg")] for url in vendor.manifest()
                     if url.startswith(PREFIX))


@cache
def _markup(name: str, node_modules: str) -> str:
    path = vendor.locate(f"{PREFIX}{name}.svg", node_modules)
    if path is None:
        raise UnknownIcon(name)
    svg = Path(path).read_text(encoding="utf-8")
    opening = _OPEN.search(svg)
    body = svg[opening.end():] if opening else svg
    # One opening tag of our own: the size comes from the design system's ``.icon`` class,
    # and screen readers skip the drawing.
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
            'stroke="currentColor" stroke-width="2" stroke-linecap="round" '
            f'stroke-linejoin="round" class="icon icon-{name}" aria-hidden="true" '
            'focusable="false">' + " ".join(body.split()))


def icon(name: str, node_modules: str) -> Markup:
    """The inline SVG of icon ``name`` (its file is trusted: it comes from the npm package
    the lock file pins, never from a user)."""
    return Markup(_markup(name, node_modules))  # noqa: S704 - a pinned package's file
