"""Messages the services write in English, shown in the reader's language.

The services know nothing of Flask or of a request's language: their errors are English,
the API's language. The pages show business users those messages beside form fields and
on error pages, and the API's error envelope carries them in the language a client asks
for, so both translate them here, through the same templates (``message_templates``). A
message that matches no template is shown as it is. Validation rule messages are already
in the reader's language (the rule carries both), so they pass through unchanged.

Matching is one dictionary lookup for the templates without a variable part, then one
regular expression compiled once from every other template (an alternation tried from the
template with the most fixed text to the one with the least), so a message costs the same
however many templates there are.
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


class _Matcher:
    """Every template compiled once: exact texts in a dictionary, the rest in one regex."""

    def __init__(self, templates: tuple[str, ...]) -> None:
        self.exact: dict[str, str] = {}
        branches: list[str] = []
        #: per branch: the template and its placeholders' (name, group number) pairs
        self.branches: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
        group = 0
        # The most specific first: a template with more fixed text is tried before one
        # whose placeholders could swallow it ("no %(kind)s named %(name)s").
        ordered = sorted(enumerate(templates),
                         key=lambda it: -len(_PLACEHOLDER.sub("", it[1])))
        for i, template in ordered:
            parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
            if len(parts) == 1:
                self.exact.setdefault(template, template)
                continue
            group += 1  # the branch's own named group
            name = f"t{i}"
            names: list[tuple[str, int]] = []
            regex = []
            for j, part in enumerate(parts):
                if j % 2 == 0:
                    regex.append(re.escape(part))
                else:
                    group += 1
                    names.append((part, group))
                    regex.append("(.+?)")
            branches.append(f"(?P<{name}>{''.join(regex)})")
            self.branches[name] = (template, tuple(names))
        self.pattern = re.compile("|".join(branches), re.DOTALL)

    def match(self, text: str) -> tuple[str, dict[str, str]] | None:
        if text in self.exact:
            return text, {}
        m = self.pattern.fullmatch(text)
        if m is None or m.lastgroup is None:
            return None
        template, names = self.branches[m.lastgroup]
        values: dict[str, str] = {}
        for name, number in names:
            values.setdefault(name, m.group(number))
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
