"""Messages the services write in English, shown in the reader's language.

The services know nothing of Flask or of a request's language: their errors are English,
the API's language. The pages show business users those messages beside form fields and
on error pages, and the API's error envelope carries them in the language a client asks
for, so both translate them here, through the same templates (``message_templates``). A
message that matches no template is shown as it is. Validation rule messages are already
in the reader's language (the rule carries both), so they pass through unchanged.

Matching is one dictionary lookup for the templates without a variable part, then one
regular expression compiled once per first three characters of fixed text (an alternation
of the templates starting so, tried from the template with the most fixed text to the one
with the least), so a message is tried against a few dozen templates, not all of them. A
template starting with a placeholder (``'%(field)s' is computed and never edited``) is
filed by its last three characters instead, and a message meets only those ending as it
does; the few with fixed text at neither end are tried for every message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache

from flask_babel import force_locale, gettext

from .message_templates import TEMPLATES

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

#: Placeholders holding another service message (a filter's conversion error), translated
#: in turn.
NESTED = frozenset({"reason", "message", "what", "noun"})


#: How many leading characters of fixed text file a template under a key: a message is
#: tried only against the templates filed under its own first characters, those filed
#: under its last characters (they start with a placeholder, or nearly) and the few with
#: less fixed text at both ends.
KEY = 3


class _Matcher:
    """Every template compiled once: exact texts in a dictionary, the others in regexes
    filed by their first characters, each an alternation from the most specific template
    (the most fixed text) to the least."""

    def __init__(self, templates: tuple[str, ...]) -> None:
        self.exact: dict[str, str] = {}
        #: per template with placeholders: its branch and its placeholders' names
        self.parts: list[tuple[str, str, tuple[str, ...]]] = []
        self.by_key: dict[str, list[int]] = {}
        #: templates starting with a placeholder, filed by their last characters
        self.by_tail: dict[str, list[int]] = {}
        self.unkeyed: list[int] = []
        # The most specific first: a template with more fixed text is tried before one
        # whose placeholders could swallow it ("no %(kind)s named %(name)s").
        ordered = sorted(templates, key=lambda t: -len(_PLACEHOLDER.sub("", t)))
        for template in ordered:
            parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
            if len(parts) == 1:
                self.exact.setdefault(template, template)
                continue
            regex = "".join(re.escape(p) if j % 2 == 0 else "(.+?)"
                            for j, p in enumerate(parts))
            index = len(self.parts)
            self.parts.append((template, regex, tuple(parts[1::2])))
            head, tail = parts[0], parts[-1]
            if len(head) >= KEY:
                self.by_key.setdefault(head[:KEY], []).append(index)
            elif len(tail) >= KEY:
                self.by_tail.setdefault(tail[-KEY:], []).append(index)
            else:
                self.unkeyed.append(index)
        #: one alternation per (first, last characters) met, at most one per pair of keys
        self.compiled: dict[tuple[str, str], tuple[re.Pattern[str], Mapping[str, int]]] = {}

    def _pattern(self, key: str, tail: str) -> tuple[re.Pattern[str], Mapping[str, int]]:
        """The alternation for messages starting with ``key`` and ending with ``tail``,
        compiled on first use; the most specific template first, as everywhere."""
        found = self.compiled.get((key, tail))
        if found is None:
            indexes = sorted([*self.by_key.get(key, []), *self.by_tail.get(tail, []),
                              *self.unkeyed])
            branches = [f"(?P<t{i}>{self.parts[i][1]})" for i in indexes]
            pattern = re.compile("|".join(branches), re.DOTALL)
            found = self.compiled[(key, tail)] = (pattern, pattern.groupindex)
        return found

    def match(self, text: str) -> tuple[str, dict[str, str]] | None:
        if text in self.exact:
            return text, {}
        key = text[:KEY] if text[:KEY] in self.by_key else ""
        tail = text[-KEY:] if text[-KEY:] in self.by_tail else ""
        pattern, groups = self._pattern(key, tail)
        m = pattern.fullmatch(text)
        if m is None or m.lastgroup is None:
            return None
        template, _, names = self.parts[int(m.lastgroup[1:])]
        first = groups[m.lastgroup]
        values: dict[str, str] = {}
        for offset, name in enumerate(names, start=1):
            values.setdefault(name, m.group(first + offset))
        return template, values


@cache
def _matcher() -> _Matcher:
    return _Matcher(TEMPLATES)


def template_of(message: str) -> str | None:
    """The template ``message`` was written from, if any (for the sweep's test)."""
    found = _matcher().match(message)
    return found[0] if found is not None else None


#: ``gettext(template, **values)``: Flask-Babel's in a request, a catalog's on the command line.
Gettext = Callable[..., str]
#: ``shown(placeholder, value)``: how a page shows a value (an object's label for its name).
Shown = Callable[[str, str], str]


def translated(message: object, translate: Gettext | None = None,
               shown: Shown | None = None) -> str:
    """``message`` in the current locale's language when it is one of the known templates
    (``translate``: the gettext to use outside a request; ``shown``: what a page writes
    for a placeholder's value instead of the API name the service wrote)."""
    text = str(message)
    found = _matcher().match(text)
    if found is None:
        return text
    template, values = found
    use: Gettext = translate or gettext
    return str(use(template, **{
        k: translated(v, translate, shown) if k in NESTED else shown(k, v) if shown else v
        for k, v in values.items()}))


def translated_in(lang: str, message: str,
                  fields: Mapping[str, list[str]]) -> tuple[str, dict[str, list[str]]]:
    """An error's message and its field messages in ``lang`` (English: as written, so
    existing clients read exactly what they always did)."""
    if lang == "en":
        return message, {k: list(v) for k, v in fields.items()}
    with force_locale(lang):
        return translated(message), {k: [translated(m) for m in v] for k, v in fields.items()}


__all__ = ["NESTED", "TEMPLATES", "Gettext", "Shown", "template_of", "translated",
           "translated_in"]
