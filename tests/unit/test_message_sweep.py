"""Every message a service can raise has a template with a Chinese translation.

The sweep reads the source (``message_sweep``): each refusal of the ``CRMError`` family,
each field type's conversion message, each envelope the web layer writes itself, each
refusal the metadata designer collects per JSON path (``problems.add``, ``option_problems``,
``name_problem``, a pattern RE2 refuses). A new
English-only refusal fails here until its template and translation are added, so the API
(``?lang=zh``) and the pages never show it in English to a Chinese reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask

from crmforge.web.message_templates import TEMPLATES
from crmforge.web.pages.i18n import SOURCE, install
from crmforge.web.server_messages import _matcher, template_of, translated

from .message_sweep import Found, family, messages, trees

CJK = re.compile(r"[\u4e00-\u9fff]")
#: Templates whose Chinese needs no Chinese character (a range, a composition).
LATIN = frozenset({"%(field)s: %(message)s"})


def _catalog(lang: str) -> dict[str, str]:
    with (SOURCE / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


@pytest.fixture(scope="module")
def found() -> list[Found]:
    return messages()


def test_the_sweep_reads_the_refusals_of_every_layer(found: list[Found]) -> None:
    """Guard against a sweep that silently finds nothing."""
    assert len(found) > 600
    layers = {Path(f.where).parts[1] for f in found if f.where.startswith("crmforge/")}
    assert {"core", "metadata", "rules", "security", "runtime", "workflow", "installer",
            "web"} <= layers
    assert {"ExpressionError", "LoginRefused", "TooSoon", "FileProblem"} <= family(trees())
    samples = {f.sample for f in found}
    assert {"is too large", "no x record x", "wrong username or password"} <= samples


def test_the_sweep_reads_the_designers_refusals(found: list[Found]) -> None:
    """``problems.add``, ``problems[path] = ...``, a field type's ``option_problems``, a
    ``*_problem`` helper, a pattern RE2 refuses: each kind of refusal the designer shows
    beside an input is found."""
    samples = {f.sample: f.where for f in found}
    assert samples["a x field cannot be unique"].startswith("crmforge/metadata/validation.py")
    assert samples["must be a whole number from 1 to 4000"].startswith(
        "crmforge/metadata/fieldtypes.py")
    assert samples["must be an ISO 4217 currency code such as CNY or USD"]
    assert samples["x 'x' is a reserved SQL word"].startswith("crmforge/core/names.py")
    assert samples["'x' is not a department of this file"].startswith("crmforge/installer/")
    assert samples["'x' is not a field of 'x' that links to 'x'"].startswith(
        "crmforge/workflow/automation/")
    assert samples["look-ahead (?=...) is not supported (patterns use RE2 syntax, which "
                   "never backtracks)"].startswith("crmforge/core/linear_regex.py")
    # a record's field errors, collected the same way
    assert samples["is a x field and computed"].startswith("crmforge/runtime/writes.py")
    designer = [f for f in found if f.where.startswith(("crmforge/metadata/", "crmforge/core/"
                                                        "names.py", "crmforge/workflow/"))]
    assert len(designer) > 150


def test_every_message_a_service_can_raise_has_a_chinese_template(found: list[Found]) -> None:
    zh = _catalog("zh")
    missing = sorted({f"{f.where}: {f.sample}" for f in found
                      if not zh.get(template_of(f.sample) or "")})
    assert not missing, "messages without a template translated into Chinese " \
        "(add them to crmforge/web/message_templates.py and both catalogs):\n" + \
        "\n".join(missing)


def test_every_template_is_in_both_catalogs() -> None:
    zh, en = _catalog("zh"), _catalog("en")
    placeholders = re.compile(r"%\(\w+\)s")
    for template in TEMPLATES:
        assert template in en, template
        assert (zh.get(template) and CJK.search(zh[template] or "")) or template in LATIN, template
        assert set(placeholders.findall(zh[template])) <= set(placeholders.findall(template))


def test_a_message_is_tried_against_a_few_templates_only() -> None:
    """Templates are filed by their first characters: a message meets a fraction of them."""
    matcher = _matcher()
    assert len(matcher.by_key) > 20 and len(matcher.by_tail) > 20
    assert len(matcher.unkeyed) < 40  # fixed text at neither end: tried for every message
    widest = max(len(v) for v in matcher.by_tail.values())
    for key in matcher.by_key:
        assert len(matcher.by_key[key]) + widest + len(matcher.unkeyed) < len(TEMPLATES) / 6, key


def test_a_template_starting_with_a_placeholder_is_found_by_its_end() -> None:
    """Filed by their last characters, they still match, the most specific first."""
    assert template_of("'12' is not a number") == "'%(value)s' is not a number"
    assert template_of("'stage' is a text field, not text") == \
        "'%(field)s' is a %(type)s field, not text"
    assert template_of("'owner' is a text field, not a user field") == \
        "'%(field)s' is a %(type)s field, not a user field"
    assert template_of("'x' is a text field, not something") == \
        "'%(field)s' is a %(type)s field, not %(what)s"
    assert template_of("'12' is not a whole number") == "'%(value)s' is not a whole number"
    assert template_of("'1,5' has more than 2 decimal places") == \
        "'%(value)s' has more than %(n)s decimal places"


def test_matching_is_compiled_once() -> None:
    """A message costs one dictionary lookup and one regex match."""
    import timeit
    app = Flask(__name__)
    app.config["SESSION_COOKIE_SECURE"] = False
    install(app)
    unknown = "a message no template knows about, " * 3
    with app.test_request_context("/?lang=zh"):
        assert translated("no user 7") == "不存在用户 7"
        seconds = timeit.timeit(lambda: translated(unknown), number=200) / 200
    assert seconds < 0.001, seconds
