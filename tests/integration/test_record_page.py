"""The record page (decision 0035): a read view first (header with owner and key fields,
read-only sections, Edit), locked records read-only with the reason, the stage path, the
activity timeline with notes, and related lists as tables with a "New" button."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, sign_in

PASSWORD = "Clerk-pass-1234"

ACCOUNT: dict[str, Any] = {
    "name": "account", "label": {"zh": "客户", "en": "Account"},
    "fields": [{"name": "name", "type": "text", "required": True,
                "label": {"zh": "名称", "en": "Name"}}]}

CONTRACT: dict[str, Any] = {
    "name": "contract", "label": {"zh": "合同", "en": "Contract"},
    "fields": [
        {"name": "title", "type": "text", "required": True,
         "label": {"zh": "标题", "en": "Title"}},
        {"name": "amount", "type": "currency", "label": {"zh": "金额", "en": "Amount"}},
        {"name": "notes", "type": "textarea", "label": {"zh": "说明", "en": "Remarks"}},
        {"name": "secret", "type": "text", "label": {"zh": "机密", "en": "Secret"}},
        {"name": "account", "type": "lookup", "target": "account",
         "label": {"zh": "客户", "en": "Account"}},
        {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
         "default": "'draft'",
         "choices": [{"value": "draft", "label": {"zh": "草稿", "en": "Draft"}},
                     {"value": "signed", "label": {"zh": "已签", "en": "Signed"}},
                     {"value": "closed", "label": {"zh": "已关闭", "en": "Closed"}}]},
    ],
    "status_rules": {"field": "stage", "states": {
        "signed": {"operations": ["read", "update"], "editable_fields": ["notes"]},
        "closed": {"operations": ["read", "export"]}}},
}


def _world(client: FlaskClient) -> dict[str, Any]:
    """Accounts and contracts, and a clerk who may not see ``secret`` and sees only
    their department's records (the administrator's are outside it)."""
    admin = sign_in(client)
    for doc in (ACCOUNT, CONTRACT):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/admin/departments", headers=admin,
                    json={"name": "north", "label": {"en": "North"}, "parent": None})
    assert r.status_code == 201, r.json
    ops = ["create", "read", "update", "delete"]
    role = {"name": "clerk", "permissions": {
        "account": {"operations": ops, "scope": "department"},
        "contract": {"operations": ops, "scope": "department",
                     "fields": {"secret": "hidden"}}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "clerk", "password": PASSWORD, "department": "north", "roles": ["clerk"]})
    assert r.status_code == 201, r.json
    clerk = sign_in(client, username="clerk", password=PASSWORD)
    acct = client.post("/api/v1/records/account", json={"name": "Acme"}, headers=clerk).json
    deal = client.post("/api/v1/records/contract", headers=clerk, json={
        "title": "Big <b>deal</b>", "amount": "1200", "account": acct["id"]}).json
    # The administrator sets the hidden field: its change must stay out of the clerk's view.
    r = client.patch(f"/api/v1/records/contract/{deal['id']}", headers=admin,
                     json={"secret": "launch code 0000", "version": deal["version"]})
    assert r.status_code == 200, r.json
    theirs = client.post("/api/v1/records/contract", headers=admin,
                         json={"title": "Not yours"}).json
    return {"admin": admin, "clerk": clerk, "account": acct["id"], "deal": deal["id"],
            "theirs": theirs["id"]}


def _notes_stored(instance: Instance) -> int:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        if not sa.inspect(conn).has_table("sys_notes"):
            return 0
        return int(conn.execute(sa.text("SELECT count(*) FROM sys_notes")).scalar_one())


def test_the_page_opens_on_a_read_view_and_edit_opens_the_form(client: FlaskClient,
                                                               instance: Instance) -> None:
    w = _world(client)
    c = browser_session(instance, "clerk", PASSWORD)
    page = c.get(f"/records/contract/{w['deal']}?lang=en")
    assert page.status_code == 200
    text = page.text
    head = re.search(r'<header class="record-head">(.*?)</header>', text, re.S)
    assert head is not None
    assert "<h1>Big &lt;b&gt;deal&lt;/b&gt;</h1>" in head.group(1)  # escaped
    assert 'id="record-owner">Owner: clerk<' in head.group(1)
    assert "<dt>Amount</dt>" in head.group(1) and "1,200.00" in head.group(1)  # formatted
    # Read-only: values, no inputs, no save; an Edit button to the form.
    assert 'class="record-form"' not in text and 'name="amount"' not in text
    assert ">Save<" not in text
    assert f'href="/records/contract/{w["deal"]}/edit"' in text
    assert 'href="/records/account/' in text and ">Acme<" in text
    # The hidden field appears nowhere: neither its label, nor its value, nor its change.
    assert "Secret" not in text and "launch code" not in text
    zh = c.get(f"/records/contract/{w['deal']}?lang=zh").text
    assert ">编辑<" in zh and "<dt>金额</dt>" in zh and "机密" not in zh
    # The form is one click away and still posts to the record's own address.
    form = c.get(f"/records/contract/{w['deal']}/edit?lang=en").text
    assert 'class="record-form"' in form and 'name="amount"' in form
    assert f'action="/records/contract/{w["deal"]}"' in form and 'name="secret"' not in form
    r = c.post(f"/records/contract/{w['deal']}", data={
        "csrf_token": csrf_token(form), "title": "Big deal", "amount": "1300",
        "account": str(w["account"]), "stage": "draft", "notes": "", "version": "2"})
    assert r.status_code == 303, r.text
    assert r.headers["Location"].endswith(f"/records/contract/{w['deal']}")
    after = c.get(f"/records/contract/{w['deal']}?lang=en").text
    assert "1,300.00" in after and "launch code" not in after
    # Someone else's record: 404 on the read view and on the form.
    assert c.get(f"/records/contract/{w['theirs']}").status_code == 404
    assert c.get(f"/records/contract/{w['theirs']}/edit").status_code == 404


def test_the_timeline_leaves_out_changes_of_hidden_fields(client: FlaskClient,
                                                          instance: Instance) -> None:
    w = _world(client)
    clerk = browser_session(instance, "clerk", PASSWORD)
    text = clerk.get(f"/records/contract/{w['deal']}?lang=en").text
    activity = re.search(r'<ol class="timeline activity-list">(.*?)</ol>', text, re.S)
    assert activity is not None
    assert "<strong>Amount</strong>" in activity.group(1)  # the creation's fields
    assert "Secret" not in activity.group(1) and "launch code" not in activity.group(1)
    # The administrator, who may read it, sees that change.
    admin = browser_session(instance)
    seen = admin.get(f"/records/contract/{w['deal']}?lang=en").text
    assert "<strong>Secret</strong>" in seen and "launch code 0000" in seen


def test_locked_records_show_the_reason_and_no_edit(client: FlaskClient,
                                                    instance: Instance) -> None:
    w = _world(client)
    admin = w["admin"]
    closed = client.post("/api/v1/records/contract", headers=admin,
                         json={"title": "Closed one", "stage": "closed"}).json["id"]
    signed = client.post("/api/v1/records/contract", headers=admin,
                         json={"title": "Signed one", "stage": "signed"}).json["id"]
    c = browser_session(instance)
    text = c.get(f"/records/contract/{closed}?lang=en").text
    assert "This record is in status Closed: it cannot be changed." in text
    assert 'id="edit"' not in text and "/edit" not in text
    assert "该记录处于“已关闭”状态：不能修改。" in c.get(f"/records/contract/{closed}?lang=zh").text
    # Signed: only the remarks may change, so Edit stays, leading to just that field.
    text = c.get(f"/records/contract/{signed}?lang=en").text
    assert "This record is in status Signed: only Remarks can be changed." in text
    assert f'href="/records/contract/{signed}/edit"' in text
    form = c.get(f"/records/contract/{signed}/edit?lang=en").text
    assert 'name="notes"' in form and 'name="amount"' not in form and 'name="title"' not in form


def test_the_stage_path_marks_reached_and_current_steps(client: FlaskClient,
                                                        instance: Instance) -> None:
    w = _world(client)
    signed = client.post("/api/v1/records/contract", headers=w["admin"],
                         json={"title": "Signed one", "stage": "signed"}).json["id"]
    text = browser_session(instance).get(f"/records/contract/{signed}?lang=en").text
    path = re.search(r'<nav class="stage-path" aria-label="Stage">(.*?)</nav>', text, re.S)
    assert path is not None
    steps = re.findall(r'<li class="step is-(\w+)"( aria-current="step")?>.*?'
                       r'<span class="step-label">(.*?)</span>\s*'
                       r'<span class="visually-hidden">\((.*?)\)</span>', path.group(1), re.S)
    assert [(s[0], bool(s[1]), s[2], s[3]) for s in steps] == [
        ("done", False, "Draft", "reached"), ("current", True, "Signed", "current stage"),
        ("todo", False, "Closed", "not reached")]
    zh = browser_session(instance).get(f"/records/contract/{signed}?lang=zh").text
    assert "当前阶段" in zh and ">已签<" in zh


def test_notes_from_the_page_and_the_api(client: FlaskClient, instance: Instance) -> None:
    w = _world(client)
    c = browser_session(instance, "clerk", PASSWORD)
    url = f"/records/contract/{w['deal']}"
    page = c.get(url + "?lang=en").text
    r = c.post(url + "/notes", data={"csrf_token": csrf_token(page),
                                     "body": "Call <script>alert(1)</script> back",
                                     "follow_up": "2030-01-15"})
    assert r.status_code == 303 and r.headers["Location"].endswith(url + "#activity")
    r = c.post(url + "/notes", data={"csrf_token": csrf_token(page), "body": "Second"})
    assert r.status_code == 303
    text = c.get(url + "?lang=en").text
    assert "Call &lt;script&gt;alert(1)&lt;/script&gt; back" in text
    assert "<script>alert(1)" not in text
    assert "follow up on 2030-01-15" in text
    assert 'id="record-follow-up">Next follow-up: 2030-01-15<' in text  # in the header
    assert text.index("Second") < text.index("Call &lt;script")  # newest first
    # Bad input: said beside the field, in the page's language, nothing stored.
    before = _notes_stored(instance)
    r = c.post(url + "/notes?lang=zh", data={"csrf_token": csrf_token(page), "body": "  ",
                                              "follow_up": "2030-02-31"})
    assert r.status_code == 422 and r.mimetype == "text/html"
    assert 'id="err-note-body">备注不能为空<' in r.text
    assert "请按 YYYY-MM-DD 格式输入跟进日期" in r.text
    assert _notes_stored(instance) == before
    # The API: the same notes, newest first; a note added there shows on the page.
    clerk = w["clerk"]
    api = f"/api/v1/records/contract/{w['deal']}/notes"
    items = client.get(api, headers=clerk).json["items"]
    assert [i["body"] for i in items] == ["Second", "Call <script>alert(1)</script> back"]
    assert items[1]["follow_up"] == "2030-01-15" and items[1]["author"] == "clerk"
    r = client.post(api, headers=clerk, json={"body": "From the API", "follow_up": None})
    assert r.status_code == 201 and r.json["body"] == "From the API"
    r = client.post(api, headers=clerk, json={"body": "", "follow_up": "soon"})
    assert r.status_code == 422 and set(r.json["error"]["fields"]) == {"body", "follow_up"}
    assert "From the API" in c.get(url).text


def test_a_record_one_cannot_read_takes_no_notes(client: FlaskClient,
                                                 instance: Instance) -> None:
    w = _world(client)
    c = browser_session(instance, "clerk", PASSWORD)
    token = csrf_token(c.get(f"/records/contract/{w['deal']}").text)
    before = _notes_stored(instance)
    r = c.post(f"/records/contract/{w['theirs']}/notes",
               data={"csrf_token": token, "body": "sneaky"})
    assert r.status_code == 404 and r.mimetype == "text/html"
    api = f"/api/v1/records/contract/{w['theirs']}/notes"
    assert client.post(api, headers=w["clerk"], json={"body": "sneaky"}).status_code == 404
    assert client.post(api, headers=w["clerk"], json={"body": ""}).status_code == 404
    assert client.get(api, headers=w["clerk"]).status_code == 404
    assert client.post("/api/v1/records/contract/999999/notes", headers=w["clerk"],
                       json={"body": "x"}).status_code == 404
    assert _notes_stored(instance) == before
    # The administrator can, and the clerk still cannot list them.
    assert client.post(api, headers=w["admin"], json={"body": "mine"}).status_code == 201
    assert client.get(api, headers=w["clerk"]).status_code == 404


def test_notes_go_to_the_recycle_bin_with_their_record(client: FlaskClient,
                                                       instance: Instance) -> None:
    w = _world(client)
    admin = w["admin"]
    api = f"/api/v1/records/contract/{w['deal']}/notes"
    assert client.post(api, headers=admin, json={"body": "keep me"}).status_code == 201
    assert client.delete(f"/api/v1/records/contract/{w['deal']}",
                         headers=admin).status_code == 204
    assert client.get(api, headers=admin).status_code == 404
    assert client.post(api, headers=admin, json={"body": "x"}).status_code == 404
    r = client.post(f"/api/v1/records/contract/{w['deal']}/restore", headers=admin)
    assert r.status_code == 200, r.json
    assert [i["body"] for i in client.get(api, headers=admin).json["items"]] == ["keep me"]
    # A purge deletes them for good.
    assert client.delete(f"/api/v1/records/contract/{w['deal']}",
                         headers=admin).status_code == 204
    r = client.delete(f"/api/v1/recycle-bin/contract/{w['deal']}", headers=admin)
    assert r.status_code == 204, r.json
    assert _notes_stored(instance) == 0


def test_related_lists_are_tables_with_a_new_button(client: FlaskClient,
                                                    instance: Instance) -> None:
    w = _world(client)
    c = browser_session(instance, "clerk", PASSWORD)
    text = c.get(f"/records/account/{w['account']}?lang=en").text
    table = re.search(r'<table class="records related-table[^"]*">(.*?)</table>', text, re.S)
    assert table is not None
    assert '<th scope="col">Title</th>' in table.group(1)
    assert '<th scope="col">Amount</th>' in table.group(1)
    assert '<th scope="col">Account</th>' not in table.group(1)  # the parent itself
    assert "Secret" not in table.group(1)
    assert f'href="/records/contract/{w["deal"]}">Big &lt;b&gt;deal&lt;/b&gt;</a>' in table.group(1)
    new = f"/records/contract/new?account={w['account']}"
    assert f'href="{new}"' in text
    form = c.get(new + "&lang=en").text
    assert re.search(rf'<option selected value="{w["account"]}">Acme</option>', form)


def test_approval_steps_and_notes_share_the_timeline(client: FlaskClient, admin: dict[str, str],
                                                     instance: Instance) -> None:
    """A record in approval: its steps are in the activity next to the notes, the page
    says why it is locked, and a note may still be added (it is no change of the record)."""
    from .workflow_world import PASSWORD as WF_PASSWORD
    from .workflow_world import act, build, inbox, new_deal, process, submit

    heads = build(client, admin, process(
        {"name": "review", "mode": "single", "approvers": {"users": ["alice"]}}))
    deal = new_deal(client, heads["sam"])
    submit(client, heads["sam"], deal["id"])
    assert len(inbox(client, heads["alice"])) == 1
    act(client, heads["alice"], "comment", comment="Check the margin")
    sam = browser_session(instance, "sam", WF_PASSWORD)
    url = f"/records/deal/{deal['id']}"
    page = sam.get(url + "?lang=en").text
    assert "This record is in approval" in page
    r = sam.post(url + "/notes", data={"csrf_token": csrf_token(page), "body": "Margin is 30%"})
    assert r.status_code == 303
    text = sam.get(url + "?lang=en").text
    activity = re.search(r'<ol class="timeline activity-list">(.*?)</ol>', text, re.S)
    assert activity is not None
    items = re.findall(r'<li class="activity-(\w+)">', activity.group(1))
    assert items[0] == "note" and "approval" in items and items[-1] == "change"
    assert "Approval</span> · submitted" in activity.group(1)
    assert "<q>Check the margin</q>" in activity.group(1)
    zh = sam.get(url + "?lang=zh").text
    assert "审批</span> · 提交了审批" in zh


PROJECT: dict[str, Any] = {
    "name": "project", "label": {"zh": "项目", "en": "Project"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "label": {"en": "Title"}},
        {"name": "budget", "type": "decimal", "scale": 2, "label": {"en": "Budget"}},
        {"name": "sponsor", "type": "text", "label": {"en": "Sponsor"}},
        {"name": "code", "type": "text", "label": {"en": "Code"}},
        {"name": "phase", "type": "picklist", "label": {"en": "Phase"},
         "choices": [{"value": "plan", "label": {"en": "Plan"}},
                     {"value": "build", "label": {"en": "Build"}},
                     {"value": "run", "label": {"en": "Run"}}]},
    ],
}


def _head(text: str) -> str:
    m = re.search(r'<(?:header|section|div)[^>]*class="record-head".*?</dl>', text, re.S)
    assert m is not None
    return m.group(0)


def test_the_layout_chooses_the_key_fields_and_the_stage_path(client: FlaskClient,
                                                             instance: Instance) -> None:
    """``record.highlights`` and ``record.stage`` of the layout: set through the API or
    the designer's form, checked against the object, kept when the form editor saves."""
    api = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=PROJECT, headers=api).status_code == 201
    rid = client.post("/api/v1/records/project", headers=api, json={
        "title": "Line 3", "budget": "1200", "sponsor": "Wang", "code": "P-7",
        "phase": "build"}).json["id"]
    c = browser_session(instance)
    page = c.get(f"/records/project/{rid}?lang=en").text
    assert 'class="stage-path"' not in page  # "phase" is not a name the page guesses
    assert ">Budget<" in _head(page)
    # Through the API: the key fields in their order, and the stage's picklist.
    layout = client.get("/api/v1/meta/objects/project/layout", headers=api).json
    body = {k: layout[k] for k in ("form", "list")}
    r = client.put("/api/v1/meta/objects/project/layout", headers=api,
                   json={**body, "record": {"highlights": ["code", "sponsor"], "stage": "phase"}})
    assert r.status_code == 200, r.json
    page = c.get(f"/records/project/{rid}?lang=en").text
    head = _head(page)
    assert head.index(">Code<") < head.index(">Sponsor<") and ">Budget<" not in head
    assert 'class="stage-path"' in page and "Build" in page
    # Refused: a field that does not exist, twice the same, a stage that is no picklist.
    bad = client.put("/api/v1/meta/objects/project/layout", headers=api, json={
        **body, "record": {"highlights": ["code", "code", "nope"], "stage": "budget"}})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {
        "$.record.highlights[1]", "$.record.highlights[2]", "$.record.stage"}
    zh = client.put("/api/v1/meta/objects/project/layout",
                    headers={**api, "Accept-Language": "zh"},
                    json={**body, "record": {"stage": "budget"}})
    assert zh.json["error"]["fields"]["$.record.stage"] == ["阶段路径只能依据选项列表字段"]
    # The form editor's save keeps the record part.
    editor = c.get("/admin/objects/project/layout").text
    token = csrf_token(editor)
    base = re.search(r'name="base" value="([^"]+)"', editor)
    assert base is not None
    r = c.post("/admin/objects/project/layout", data={
        "csrf_token": token, "base": base.group(1),
        "layout": json.dumps({"form": body["form"], "list": {"columns": ["title", "budget"]}})})
    assert r.status_code == 303
    after = client.get("/api/v1/meta/objects/project/layout", headers=api).json
    assert after["record"] == {"highlights": ["code", "sponsor"], "stage": "phase"}
    assert after["list"]["columns"] == ["title", "budget"]
    # The designer's record form: ticked fields, the stage; none ticked goes back to the
    # list columns.
    assert 'id="ld-key-sponsor" value="sponsor" checked' in editor
    r = c.post("/admin/objects/project/layout/record", data={
        "csrf_token": token, "highlight": ["budget"], "stage": ""})
    assert r.status_code == 303
    after = client.get("/api/v1/meta/objects/project/layout", headers=api).json
    assert after["record"] == {"highlights": ["budget"]}
    page = c.get(f"/records/project/{rid}?lang=en").text
    assert 'class="stage-path"' not in page
    r = c.post("/admin/objects/project/layout/record", data={"csrf_token": token, "stage": ""})
    assert r.status_code == 303
    assert "record" not in client.get("/api/v1/meta/objects/project/layout", headers=api).json
