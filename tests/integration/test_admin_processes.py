"""The approval process designer (``/admin/processes``) through a browser session (Flask's
test client): the list, a new process from the form, steps added, moved and removed, an
invalid expression refused beside its input with nothing saved, a BPMN file's import, the
BPMN export, the editor's save, removal, both languages, escaping and admins only."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.workflow.bpmn import compile_process
from crmforge.workflow.definitions import ProcessService

from .conftest import browser_session, csrf_token
from .test_workflow_definitions import DEAL, PROCESS


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/admin/processes").text), **data})


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return m.group(1)


def _setup(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.post("/api/v1/meta/objects", json=DEAL, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/roles", json={"name": "board", "permissions": {}},
                    headers=admin)
    assert r.status_code == 201, r.json


def _stored(instance: Instance, name: str) -> dict[str, Any]:
    return ProcessService(instance.tenant("default")).get(name)


def _form(**extra: str) -> dict[str, str]:
    return {"label_en": "Deal approval", "label_zh": "商机审批", "entry_criteria": "amount > 0",
            "steps-0-original": "", "steps-0-name": "review", "steps-0-mode": "single",
            "steps-0-field": "reviewer",
            "steps-1-original": "", "steps-1-name": "board", "steps-1-mode": "all",
            "steps-1-pass_rate": "60", "steps-1-criteria": "amount >= 1000",
            "steps-1-users": "admin", "steps-1-role": "board",
            "on_approve-0-field": "status", "on_approve-0-expr": "'approved'",
            "on_reject-0-field": "status", "on_reject-0-expr": "'rejected'", **extra}


def test_new_process_from_the_form_and_its_steps(client: FlaskClient, admin: dict[str, str],
                                                 instance: Instance) -> None:
    _setup(client, admin)
    c = browser_session(instance)
    page = c.get("/admin/processes")
    assert page.status_code == 200 and "No approval processes yet." in page.text
    page = c.get("/admin/processes/new?name=deal_approval&object=deal")
    assert page.status_code == 200 and 'value="deal_approval"' in page.text
    assert '<option value="reviewer"' in page.text  # the object's user fields
    r = _post(c, "/admin/processes/new", {"name": "deal_approval", "object": "deal", **_form()})
    assert r.status_code == 303, r.text
    assert r.headers["Location"].endswith("/admin/processes/deal_approval")
    stored = _stored(instance, "deal_approval")
    assert stored["label"] == {"en": "Deal approval", "zh": "商机审批"}
    assert stored["steps"] == [
        {"name": "review", "mode": "single", "approvers": {"field": "reviewer"}},
        {"name": "board", "mode": "all", "pass_rate": 60, "criteria": "amount >= 1000",
         "approvers": {"users": ["admin"], "role": "board"}}]
    assert stored["on_approve"] == {"status": "'approved'"}

    page = c.get("/admin/processes")
    assert "Deal approval" in page.text and "<td>2</td>" in page.text
    page = c.get("/admin/processes/deal_approval")
    assert page.status_code == 200
    assert 'name="steps-1-pass_rate" type="number" value="60"' in page.text
    assert 'data-src="/admin/processes/deal_approval/bpmn"' in page.text
    assert "bpmn-viewer.js" in page.text and "bpmn-modeler.js" not in page.text

    # move the board up (without saving), add a step, then save: the order is stored
    values = {**_form(), "steps-0-original": "review", "steps-1-original": "board"}
    r = _post(c, "/admin/processes/deal_approval", {**values, "_op": "up-1"})
    assert r.status_code == 200
    assert r.text.index('value="board"') < r.text.index('value="review"')
    assert _stored(instance, "deal_approval")["version"] == 1
    r = _post(c, "/admin/processes/deal_approval", {**values, "_op": "add"})
    assert 'name="steps-2-name"' in r.text
    swapped = {**values, "steps-0-name": "board", "steps-0-original": "board",
               "steps-0-mode": "all", "steps-0-pass_rate": "60", "steps-0-users": "admin",
               "steps-0-field": "", "steps-0-criteria": "",
               "steps-1-name": "review", "steps-1-original": "review", "steps-1-mode": "single",
               "steps-1-pass_rate": "", "steps-1-users": "", "steps-1-role": "",
               "steps-1-criteria": "", "steps-1-manager": "1", "entry_criteria": "",
               "on_reject-0-field": "", "on_reject-0-expr": ""}
    r = _post(c, "/admin/processes/deal_approval", swapped)
    assert r.status_code == 303, r.text
    stored = _stored(instance, "deal_approval")
    assert [s["name"] for s in stored["steps"]] == ["board", "review"]
    assert stored["steps"][1]["approvers"] == {"manager": True}
    assert stored["version"] == 2 and "entry_criteria" not in stored and "on_reject" not in stored
    r = _post(c, "/admin/processes/deal_approval", {**swapped, "_op": "remove-0"})
    assert r.status_code == 200 and 'name="steps-1-name"' not in r.text


def test_a_refused_process_shows_errors_beside_inputs(client: FlaskClient,
                                                      admin: dict[str, str],
                                                      instance: Instance) -> None:
    _setup(client, admin)
    assert client.post("/api/v1/meta/processes", json=PROCESS, headers=admin).status_code == 201
    c = browser_session(instance)
    before = _stored(instance, "deal_approval")
    bad = _form(**{"steps-1-criteria": "amount >= 'x'", "steps-1-users": "ghost",
                   "entry_criteria": "unknown_field > 1", "on_approve-0-expr": "nope("})
    r = _post(c, "/admin/processes/deal_approval", bad)
    assert r.status_code == 422, r.text
    assert "unknown_field" in _error_beside(r.text, "entry_criteria")
    assert _error_beside(r.text, "steps-1-users")
    assert _error_beside(r.text, "steps-1-criteria")
    assert _error_beside(r.text, "on_approve-0-expr")
    assert 'value="ghost"' in r.text  # what was typed stays
    assert _stored(instance, "deal_approval") == before  # nothing saved
    r = _post(c, "/admin/processes/deal_approval", _form(**{"steps-0-field": ""}))
    assert r.status_code == 422 and _error_beside(r.text, "steps-0-approvers")
    r = _post(c, "/admin/processes/deal_approval", _form(**{"steps-1-mode": "single"}))
    assert r.status_code == 422
    assert "pass rate" in _error_beside(r.text, "steps-1-pass_rate")
    r = _post(c, "/admin/processes/new", {"name": "Bad Name", "object": "deal", **_form()})
    assert r.status_code == 422 and _error_beside(r.text, "name")
    assert _stored(instance, "deal_approval") == before


def test_bpmn_import_export_and_removal(client: FlaskClient, admin: dict[str, str],
                                        instance: Instance) -> None:
    _setup(client, admin)
    c = browser_session(instance)
    xml = compile_process({**PROCESS, "steps": [dict(s, mode=s.get("mode", "single"))
                                                for s in PROCESS["steps"]]})
    r = c.post("/admin/processes/import", data={
        "csrf_token": csrf_token(c.get("/admin/processes").text), "import_name": "imported",
        "import_object": "deal", "file": (io.BytesIO(xml), "deal.bpmn")},
        content_type="multipart/form-data")
    assert r.status_code == 303, r.text
    stored = _stored(instance, "imported")
    assert [s["name"] for s in stored["steps"]] == ["review", "board"]
    assert stored["steps"][1]["pass_rate"] == 60
    r = c.post("/admin/processes/import", data={
        "csrf_token": csrf_token(c.get("/admin/processes").text), "import_name": "broken",
        "import_object": "deal", "file": (io.BytesIO(b"<not xml"), "broken.bpmn")},
        content_type="multipart/form-data")
    assert r.status_code == 422 and "not XML" in _error_beside(r.text, "file")
    r = c.post("/admin/processes/import", data={
        "csrf_token": csrf_token(c.get("/admin/processes").text), "import_name": "imported",
        "import_object": "deal", "file": (io.BytesIO(xml), "deal.bpmn")},
        content_type="multipart/form-data")
    assert r.status_code == 422 and "already exists" in _error_beside(r.text, "import_name")

    r = c.get("/admin/processes/imported/bpmn")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    assert r.data == ProcessService(instance.tenant("default")).bpmn("imported")
    assert b"task_review" in r.data and b"scriptTask" not in r.data  # the steps drawn only
    assert "attachment" in c.get("/admin/processes/imported/bpmn?download=1").headers[
        "Content-Disposition"]

    # the editor: it opens the exported BPMN; its save reads the XML like an import
    page = c.get("/admin/processes/imported/diagram")
    assert page.status_code == 200 and "bpmn-modeler.js" in page.text
    assert "bpmn-viewer.js" not in page.text
    data = re.search(r'<script type="application/json" id="designer-data">(.*?)</script>',
                     page.text, re.S)
    assert data and "crmforge:step" in data.group(1)
    edited = xml.replace(b'pass_rate&quot;: 60', b'pass_rate&quot;: 75')
    r = _post(c, "/admin/processes/imported/diagram", {"bpmn": edited.decode()})
    assert r.status_code == 303, r.text
    assert _stored(instance, "imported")["steps"][1]["pass_rate"] == 75
    r = _post(c, "/admin/processes/imported/diagram",
              {"bpmn": edited.decode().replace("amount &gt;= 1000", "amount &gt;= 'x'")})
    assert r.status_code == 422 and "$.steps[1].criteria" in r.text
    assert _stored(instance, "imported")["steps"][1]["criteria"] == "amount >= 1000"
    r = _post(c, "/admin/processes/drawn/diagram", {"bpmn": xml.decode(), "object": "deal"})
    assert r.status_code == 303 and _stored(instance, "drawn")["version"] == 1
    page = c.get("/admin/processes/draw?name=fresh&object=deal")
    assert page.status_code == 200 and 'action="/admin/processes/fresh/diagram"' in page.text

    r = _post(c, "/admin/processes/imported/delete", {})
    assert r.status_code == 422 and _error_beside(r.text, "confirm")
    r = _post(c, "/admin/processes/imported/delete", {"confirm": "1"})
    assert r.status_code == 303
    assert c.get("/admin/processes/imported").status_code == 404


def test_languages_escaping_and_admins_only(client: FlaskClient, admin: dict[str, str],
                                            instance: Instance) -> None:
    _setup(client, admin)
    evil = {**PROCESS, "label": {"en": "<script>alert(1)</script>", "zh": "合同审批"}}
    assert client.post("/api/v1/meta/processes", json=evil, headers=admin).status_code == 201
    c = browser_session(instance)
    for path in ("/admin/processes", "/admin/processes/deal_approval",
                 "/admin/processes/deal_approval/diagram"):
        en = c.get(path + "?lang=en")
        assert en.status_code == 200, path
        assert "<script>alert(1)</script>" not in en.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in en.text, path
        zh = c.get(path + "?lang=zh")
        assert zh.status_code == 200 and "审批流程" in zh.text, path
    assert "合同审批" in c.get("/admin/processes?lang=zh").text
    assert "Steps" in c.get("/admin/processes?lang=en").text

    r = client.post("/api/v1/admin/users", json={"username": "sue", "password": "Sue-pass-1234",
                                                  "roles": []}, headers=admin)
    assert r.status_code == 201
    sue = browser_session(instance, "sue", "Sue-pass-1234")
    for path in ("/admin/processes", "/admin/processes/deal_approval",
                 "/admin/processes/deal_approval/bpmn", "/admin/processes/deal_approval/diagram",
                 "/admin/processes/draw?name=x&object=deal"):
        assert sue.get(path).status_code == 403, path
    token = csrf_token(sue.get("/").text)
    r = sue.post("/admin/processes/deal_approval/delete", data={"csrf_token": token,
                                                                 "confirm": "1"})
    assert r.status_code == 403
    assert _stored(instance, "deal_approval")["version"] == 1


def test_designer_edits_step_fields_copies_and_approval_rules(
        client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
    _setup(client, admin)
    c = browser_session(instance)
    form = _form(**{"steps-0-fields": "notes:edit, reviewer:hidden", "steps-1-cc_users": "admin",
                    "repeated_approver": "adjacent", "reject_requires_comment": "1"})
    r = _post(c, "/admin/processes/new", {"name": "deal_approval", "object": "deal", **form})
    assert r.status_code == 303, r.text
    stored = _stored(instance, "deal_approval")
    assert stored["steps"][0]["fields"] == {"notes": "edit", "reviewer": "hidden"}
    assert stored["steps"][1]["cc"] == {"users": ["admin"]}
    assert stored["repeated_approver"] == "adjacent" and stored["reject_requires_comment"]
    page = c.get("/admin/processes/deal_approval?lang=zh").text
    assert 'value="notes:edit, reviewer:hidden"' in page and "抄送" in page
    r = _post(c, "/admin/processes/deal_approval",
              {**form, "steps-0-original": "review", "steps-1-original": "board",
               "steps-0-fields": "notes:everything"})
    assert r.status_code == 422 and "deal_approval" in r.text
    assert _stored(instance, "deal_approval")["version"] == 1


CORPUS = Path(__file__).parents[1] / "unit" / "workflow" / "data" / "corpus"


def _import(c: FlaskClient, name: str, xml: bytes) -> Any:
    return c.post("/admin/processes/import", data={
        "csrf_token": csrf_token(c.get("/admin/processes").text), "import_name": name,
        "import_object": "deal", "file": (io.BytesIO(xml), f"{name}.bpmn")},
        content_type="multipart/form-data")


def test_an_import_names_what_it_leaves_out_and_what_it_refuses_in_chinese(
        client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
    _setup(client, admin)
    c = browser_session(instance)
    assert c.get("/admin/processes?lang=zh").status_code == 200
    r = _import(c, "contract", (CORPUS / "crmforge_modeler_extras.bpmn").read_bytes())
    assert r.status_code == 303, r.text
    page = c.get(r.headers["Location"]).text
    warnings = re.findall(r'<p class="flash warn[^"]*" role="status">([^<]*)</p>', page)
    assert len(warnings) == 7
    assert any("(Archive) 不会执行：审批直接越过它继续" in w for w in warnings), warnings
    assert all("is not run" not in w and "is ignored" not in w for w in warnings)
    r = _import(c, "approvals", (CORPUS / "spiff_Approvals.bpmn").read_bytes())
    assert r.status_code == 422
    beside = _error_beside(r.text, "file")
    assert "(Approvals.Gateway4) 无法执行：不导入其他建模工具绘制的分支" in beside
    assert "(Approvals.First_Approval_Wins) 无法执行：不支持子流程" in beside
    assert "approvals" not in {p["name"] for p in ProcessService(
        instance.tenant("default")).list()}


def test_an_import_refused_for_its_content_says_why(client: FlaskClient, admin: dict[str, str],
                                                    instance: Instance) -> None:
    _setup(client, admin)
    c = browser_session(instance)
    xml = (CORPUS / "crmforge_modeler_extras.bpmn").read_bytes()
    r = _import(c, "contract", xml.replace(b'assignee="admin"', b'assignee="nobody_here"'))
    assert r.status_code == 422
    assert "no user &#39;nobody_here&#39;" in r.text or "no user 'nobody_here'" in r.text


def test_the_form_runs_steps_in_a_parallel_group(client: FlaskClient, admin: dict[str, str],
                                                 instance: Instance) -> None:
    _setup(client, admin)
    c = browser_session(instance)
    three = _form(**{"steps-0-parallel": "reviews", "steps-1-parallel": "reviews",
                     "steps-2-original": "", "steps-2-name": "ceo", "steps-2-mode": "single",
                     "steps-2-users": "admin"})
    r = _post(c, "/admin/processes/new", {"name": "par", "object": "deal", **three})
    assert r.status_code == 303, r.text
    stored = _stored(instance, "par")
    assert [s.get("parallel") for s in stored["steps"]] == ["reviews", "reviews", None]
    page = c.get("/admin/processes/par")
    assert 'name="steps-0-parallel"' in page.text and 'value="reviews"' in page.text
    diagram = c.get("/admin/processes/par/bpmn").data
    assert b"split_reviews" in diagram and b"join_reviews" in diagram
    c.get("/admin/processes?lang=zh")
    alone = {**three, "steps-1-parallel": ""}
    r = _post(c, "/admin/processes/par", {**alone, "steps-0-original": "review",
                                          "steps-1-original": "board",
                                          "steps-2-original": "ceo"})
    assert r.status_code == 422
    assert "并行组“reviews”至少需要两个步骤" in _error_beside(r.text, "steps-0-parallel")


def test_the_form_offers_owner_and_lookup_targets_as_updates(
        client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
    """An approval may set the object's fields and owner, and those of a record a lookup
    points to: the form offers them, and a process saved with them keeps them."""
    _setup(client, admin)
    account = {"name": "account", "label": {"en": "Account", "zh": "客户"}, "fields": [
        {"name": "name", "type": "text", "label": {"en": "Name", "zh": "名称"}}]}
    assert client.post("/api/v1/meta/objects", json=account, headers=admin).status_code == 201
    r = client.post("/api/v1/meta/objects/deal/fields", headers=admin, json={
        "name": "account", "type": "lookup", "target": "account",
        "label": {"en": "Account", "zh": "客户"}})
    assert r.status_code == 201, r.json
    c = browser_session(instance)
    page = c.get("/admin/processes/new?name=deal_approval&object=deal")
    for key in ("owner_id", "account.name", "account.owner_id"):
        assert f'<option value="{key}"' in page.text, key
    assert "Account → Name (account.name)" in page.text
    r = _post(c, "/admin/processes/new", {"name": "deal_approval", "object": "deal", **_form(
        **{"on_approve-1-field": "account.owner_id", "on_approve-1-expr": "'admin'"})})
    assert r.status_code == 303, r.text
    assert _stored(instance, "deal_approval")["on_approve"]["account.owner_id"] == "'admin'"
    page = c.get("/admin/processes/deal_approval")
    assert re.search(r'<option value="account.owner_id"[^>]*selected', page.text)
