"""Merge fields in automation messages: ``{{ field }}`` replaced by the record's value.

Why a tiny renderer rather than Jinja2: a template names values, nothing else. No
attribute access, filters, loops or expressions means nothing to sandbox and nothing a
rule author can use to reach beyond the record; the expression language already covers
computed values (a formula field can be merged). Anything that is not exactly
``{{ name }}`` stays literal text, and rendered values are never rendered again.

Names are the object's fields, its system fields and a few specials (``owner``: the
owner's display name; ``url``: the record's page; ``rule``; ``object``; ``today``). They
are checked when the rule is saved (``names``), so a template naming an unknown field is
refused with its JSON path instead of rendering blanks for ever.

Who may read what (decision 0025): a notification to a user renders the merge fields as
that user may read them. ``Values.visible`` is the set of field names the recipient may
read; anything else renders as an empty string, and so does every field of a record the
recipient cannot see at all. External e-mail addresses (a contact's own address) get the
values as the system sees them: the rule's author, an administrator, chose to send them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: ``{{ name }}`` with optional spaces; the name is an API name.
MERGE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: Names every template may use besides the record's fields.
SPECIAL = frozenset({"owner", "url", "rule", "object", "today"})
MAX_RENDERED = 8000


def names(template: str) -> list[str]:
    """The merge field names a template uses, in order."""
    return [m.group(1) for m in MERGE.finditer(template)]


@dataclass(frozen=True)
class Values:
    """What one recipient gets for each merge name: ``text(name, lang)`` gives the value
    as display text; ``visible`` limits it to the names the recipient may read (None: all
    of them)."""

    text: Callable[[str, str], str]
    visible: frozenset[str] | None = None


def render(template: str, values: Values, lang: str) -> str:
    """The template with every merge field replaced (hidden or unknown ones by '')."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if values.visible is not None and name not in values.visible:
            return ""
        return values.text(name, lang)

    return MERGE.sub(one, template)[:MAX_RENDERED]


def both(texts: Mapping[str, str], values: Values, sep: str) -> str:
    """A ``{"zh", "en"}`` template rendered in each language it has, joined by ``sep``
    (Chinese first): the platform keeps no language per user, so a message carries both."""
    out = [render(texts[lang], values, lang) for lang in ("zh", "en") if texts.get(lang)]
    return sep.join(out)


__all__ = ["MERGE", "SPECIAL", "Values", "both", "names", "render"]
