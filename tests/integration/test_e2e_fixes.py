"""Fixes found by the end-to-end browser test (tests/browser/test_end_to_end.py), each
checked here without a browser."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session
from .workflow_world import PASSWORD, act, build, new_deal, process, submit


def _browser(instance: Instance, username: str) -> FlaskClient:
    return browser_session(instance, username, PASSWORD)


def test_the_end_of_an_approval_is_named_in_the_record_history(
        client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
    """The run logs a ``finish`` action when it ends; the record page showed that raw
    word in both languages instead of a sentence."""
    heads = build(client, admin, process(
        {"name": "review", "mode": "single", "approvers": {"users": ["alice"]}}))
    deal = new_deal(client, heads["sam"])
    submit(client, heads["sam"], deal["id"])
    act(client, heads["alice"], "approve", comment="fine")
    sam = _browser(instance, "sam")
    history = re.search(r'<ol class="timeline approval-history">(.*?)</ol>',
                        sam.get(f"/records/deal/{deal['id']}?lang=en").text, re.S)
    assert history
    assert "ended the approval" in history.group(1)
    assert "finish" not in history.group(1)
    zh = sam.get(f"/records/deal/{deal['id']}?lang=zh").text
    assert "结束了审批" in zh
