"""Every interface message in the templates has a Chinese translation, and the catalogs
compile (the app compiles them at start; no binary catalog is committed)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from crmforge.web.pages.i18n import SOURCE, compile_catalogs

TEMPLATES = Path(__file__).resolve().parents[2] / "crmforge" / "web" / "templates"
#: The designer's templates and its flash messages (``gettext("...")`` in its views).
ADMIN_UI = Path(__file__).resolve().parents[2] / "admin_ui"


def _template_messages() -> set[str]:
    found: set[str] = set()
    for path in [*TEMPLATES.glob("*.html"), *(ADMIN_UI / "templates").rglob("*.html")]:
        found |= set(re.findall(r"_\('([^']*)'", path.read_text(encoding="utf-8")))
    for path in ADMIN_UI.glob("*.py"):
        found |= set(re.findall(r'gettext\(\s*"([^"]*)"', path.read_text(encoding="utf-8")))
    return found


def test_designer_messages_are_covered() -> None:
    """The scan reaches the designer's templates and views (not only the business pages)."""
    wanted = _template_messages()
    assert {"Metadata history", "Field added.", "Designer"} <= wanted


def test_every_message_has_a_chinese_translation() -> None:
    with (SOURCE / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id: m.string for m in catalog if m.id}
    wanted = _template_messages()
    assert len(wanted) > 50
    missing = sorted(m for m in wanted if not translated.get(m))
    assert missing == []
    placeholders = re.compile(r"%\(\w+\)s")
    for msgid in wanted:
        assert sorted(placeholders.findall(msgid)) == sorted(placeholders.findall(translated[msgid]))


def test_catalogs_compile_to_a_content_keyed_folder() -> None:
    target = compile_catalogs()
    assert target == compile_catalogs()  # same content, same folder, reused
    with (target / "zh" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        catalog = read_mo(fh)
    assert catalog.get("Sign out") is not None
    assert catalog.get("Sign out").string == "退出登录"
    assert not list(SOURCE.rglob("*.mo"))
