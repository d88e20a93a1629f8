"""Locked records are shown read-only with the reason (zh and en): a record in approval,
a record whose status rules forbid edits or allow only some fields. The page offers no
control the save would refuse; a save posted anyway changes nothing and says why."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, sign_in
from .workflow_world import PASSWORD, build, new_deal, process, submit

CONTRACT: dict[str, Any] = {
    "name": "contract", "label": {"zh": "合同", "en": "Contract"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "label": {"en": "Title"}},
        {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
        {"name": "notes", "type": "textarea", "label": {"zh": "备注", "en": "Notes"}},
        {"name": "stage", "type": "picklist", "label": {"en": "Stage"}, "default": "'draft'",
         "choices": [{"value": "draft", "label": {"zh": "草稿", "en": "Draft"}},
                     {"value": "signed", "label": {"zh": "已签", "en": "Signed"}},
                     {"value": "closed", "label": {"zh": "已关闭", "en": "Closed"}}]},
    ],
    "status_rules": {"field": "stage", "states": {
        "signed": {"operations": ["read", "update"], "editable_fields": ["notes"]},
        "closed": {"operations": ["read", "export"]}}},
}


def _contract(client: FlaskClient, admin: dict[str, str], stage: str) -> int:
    r = client.post("/api/v1/records/contract", headers=admin,
                    json={"title": f"C {stage}", "amount": "10", "stage": stage})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def test_a_closed_record_is_read_only_with_the_reason(client: FlaskClient,
                                                      instance: Instance) -> None:
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=CONTRACT, headers=admin).status_code == 201
    rid = _contract(client, admin, "closed")
    c = browser_session(instance)
    page = c.get(f"/records/contract/{rid}?lang=en")
    assert page.status_code == 200
    text = page.text
    assert 'id="lock-reason"' in text
    assert "This record is in status Closed: it cannot be changed." in text
    assert "it cannot be deleted" in text
    assert 'name="amount"' not in text and 'name="notes"' not in text  # no controls
    assert ">Save<" not in text and f"/records/contract/{rid}/delete" not in text
    zh = c.get(f"/records/contract/{rid}?lang=zh").text
    assert "该记录处于“已关闭”状态：不能修改。" in zh and "不能删除" in zh
    # A save posted anyway (an old tab): the page again, saying why; nothing written.
    r = c.post(f"/records/contract/{rid}", data={
        "csrf_token": csrf_token(text), "amount": "99", "version": "1"})
    assert r.status_code == 409 and r.mimetype == "text/html" and "不能修改" in r.text
    assert client.get(f"/api/v1/records/contract/{rid}", headers=admin).json["amount"] == "10.00"
    draft = c.get(f"/records/contract/{_contract(client, admin, 'draft')}/edit?lang=en").text
    assert 'id="lock-reason"' not in draft and 'name="amount"' in draft
    assert "/delete" in draft


def test_a_signed_record_offers_only_its_editable_fields(client: FlaskClient,
                                                         instance: Instance) -> None:
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=CONTRACT, headers=admin).status_code == 201
    rid = _contract(client, admin, "signed")
    c = browser_session(instance)
    page = c.get(f"/records/contract/{rid}/edit?lang=en")
    text = page.text
    assert "This record is in status Signed: only Notes can be changed." in text
    assert 'name="notes"' in text and 'name="amount"' not in text and ">Save<" in text
    assert "该记录处于“已签”状态：只能修改备注。" in c.get(f"/records/contract/{rid}?lang=zh").text
    r = c.post(f"/records/contract/{rid}", data={
        "csrf_token": csrf_token(text), "notes": "signed copy filed", "version": "1"})
    assert r.status_code == 303, r.text
    saved = client.get(f"/api/v1/records/contract/{rid}", headers=admin).json
    assert saved["notes"] == "signed copy filed" and saved["amount"] == "10.00"


def test_a_record_in_approval_is_read_only_with_the_reason(client: FlaskClient,
                                                           admin: dict[str, str],
                                                           instance: Instance) -> None:
    heads = build(client, admin, process(
        {"name": "review", "mode": "single", "approvers": {"users": ["alice"]}}))
    deal = new_deal(client, heads["sam"])
    submit(client, heads["sam"], deal["id"])
    sam = browser_session(instance, "sam", PASSWORD)
    page = sam.get(f"/records/deal/{deal['id']}/edit?lang=en")
    assert page.status_code == 200
    # The process lets the notes change while in approval (workflow_world's allow_changes).
    assert ("This record is in approval: only notes can be changed, and it cannot be deleted, "
            "until the approval ends.") in page.text
    assert 'name="title"' not in page.text and 'name="notes"' in page.text
    assert f"/records/deal/{deal['id']}/delete" not in page.text
    zh = sam.get(f"/records/deal/{deal['id']}?lang=zh").text
    assert "该记录正在审批中：审批结束前只能修改notes，且不能删除。" in zh
