"""The automation rule designer (``/admin/automations``) through a browser session: the
list, a new rule from the form, a refused merge field shown beside its input with nothing
saved, the rule running as designed, enable/disable from the list, both languages, the
run log, removal and administrators only."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.workflow.automation import AutomationService

from .automation_world import build, items, record, settle
from .conftest import browser_session, csrf_token


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/admin/automations").text),
                              **data})


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return m.group(1)


FORM = {"name": "follow_up", "object": "deal", "label_zh": "跟进", "label_en": "Follow-up",
        "enabled": "1", "when": "created", "condition": "amount > 100",
        "a-0-type": "create", "a-0-object": "task",
        "a-0-values": "subject = concat('Call ', title)\ndeal = id",
        "a-1-type": "notify", "a-1-owner": "1", "a-1-message_en": "New deal {{ title }}",
        "a-1-message_zh": "新商机 {{ title }}"}


def test_design_a_rule_in_the_browser(instance: Instance, client: FlaskClient,
                                      admin: dict[str, str]) -> None:
    h = build(client, admin)
    c = browser_session(instance)
    page = c.get("/admin/automations")
    assert page.status_code == 200 and "No automation rules yet." in page.text
    form = c.get("/admin/automations/new?name=follow_up&object=deal")
    assert form.status_code == 200 and 'name="a-0-type"' in form.text
    bad = _post(c, "/admin/automations/new", {**FORM, "a-1-message_en": "{{ nope }}"})
    assert bad.status_code == 422
    assert "nope" in _error_beside(bad.text, "a-1-message_en")
    assert AutomationService(instance.tenant("default")).list() == []
    r = _post(c, "/admin/automations/new", FORM)
    assert r.status_code == 303, r.text
    stored = AutomationService(instance.tenant("default")).get("follow_up")
    assert stored["actions"][0] == {"type": "create", "object": "task",
                                    "values": {"subject": "concat('Call ', title)",
                                               "deal": "id"}}
    assert stored["actions"][1]["to"] == {"owner": True}
    # The form shows the stored rule again, and a save keeps it as it was.
    edit = c.get("/admin/automations/follow_up")
    assert "concat(&#39;Call &#39;, title)" in edit.text and 'name="a-2-type"' in edit.text
    again = _post(c, "/admin/automations/follow_up", {**FORM, "a-2-type": ""})
    assert again.status_code == 303
    assert AutomationService(instance.tenant("default")).get("follow_up")["actions"] == \
        stored["actions"]
    deal = record(client, h["sam"], "deal", title="Clinic", amount="500")
    settle(client)
    assert [(t["subject"], t["deal"]) for t in items(client, h["sam"], "task")] == [
        ("Call Clinic", deal["id"])]
    assert "ok" in c.get("/admin/automations/follow_up").text  # the run log
    off = _post(c, "/admin/automations/follow_up/enabled", {})
    assert off.status_code == 303
    assert AutomationService(instance.tenant("default")).get("follow_up")["enabled"] is False
    zh = c.get("/admin/automations?lang=zh").text
    assert "自动化规则" in zh and "启用" in zh
    gone = _post(c, "/admin/automations/follow_up/delete", {"confirm": "1"})
    assert gone.status_code == 303
    assert AutomationService(instance.tenant("default")).list() == []


def test_only_administrators(instance: Instance, client: FlaskClient,
                             admin: dict[str, str]) -> None:
    build(client, admin)
    from .automation_world import PASSWORD
    c = browser_session(instance, "sam", PASSWORD)
    assert c.get("/admin/automations").status_code == 403
