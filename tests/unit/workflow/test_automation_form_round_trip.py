"""The designer's rule form keeps every key of a rule: a shipped rule shown as the form and
saved back is the same rule, `each` and `delivery` included (a save from the designer must
not silently turn a campaign's "update each invitee" into an update of the campaign)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from admin_ui.automation_forms import document, place_errors, values_of

PACKS = Path(__file__).resolve().parents[3] / "packs"
RULES = sorted(PACKS.glob("*/automations/*.yaml"))


def _kept(doc: dict[str, Any]) -> dict[str, Any]:
    """What the form edits (descriptions are kept by the designer apart from the form)."""
    return {k: v for k, v in doc.items() if k not in ("description", "enabled")}


@pytest.mark.parametrize("path", RULES, ids=[p.stem for p in RULES])
def test_a_shipped_rule_survives_the_form(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    back, problems = document(values_of(doc))
    assert problems == {}
    assert _kept(back) == _kept(doc)


def test_each_and_delivery_reach_the_form_and_their_errors_sit_beside_them() -> None:
    names = {p.stem for p in RULES}
    assert {"expo_campaign_send", "expo_invitation_mail"} <= names
    send = yaml.safe_load((PACKS / "exhibitions/automations/expo_campaign_send.yaml")
                          .read_text(encoding="utf-8"))
    form = values_of(send)
    assert (form["a-0-each_object"], form["a-0-each_link"]) == ("expo_invitee", "campaign")
    placed, general = place_errors({"$.actions[0].each.link": ["not a link"],
                                    "$.actions[0].delivery.sent": ["not a choice"]}, form)
    assert placed == {"a-0-each_link": ["not a link"], "a-0-delivery_sent": ["not a choice"]}
    assert general == []
