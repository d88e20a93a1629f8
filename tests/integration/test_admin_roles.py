"""The permission matrix in the designer (``/admin/roles``) through a browser session:
pages in both languages, creating a role, editing its operations, scope and field rules
(checked in the stored role document and through the record API as a user holding it),
refusals beside their inputs with nothing saved, deleting a role in use, status rules the
record API then enforces, the explain page, admins only, labels shown as text."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Designer, Instance
from crmforge.web import create_app

from .conftest import BOOTH, EXHIBITOR, browser_session, csrf_token, sign_in

SALES_PASSWORD = "Sales-pass-1234"


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/admin/roles").text), **data})


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{re.escape(name)}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return html.unescape(m.group(1))


def _designer(instance: Instance) -> Designer:
    return Designer(instance.tenant("default"))


@pytest.fixture
def world(client: FlaskClient, instance: Instance) -> dict[str, Any]:
    """Booths and exhibitors, one booth record, an admin browser and the admin's API headers."""
    api = sign_in(client)
    for doc in (EXHIBITOR, BOOTH):
        assert client.post("/api/v1/meta/objects", json=doc, headers=api).status_code == 201
    r = client.post("/api/v1/records/booth", headers=api,
                    json={"number": "A-1", "area": "10", "price": "5"})
    assert r.status_code == 201, r.json
    return {"api": api, "booth": r.json["id"], "c": browser_session(instance)}


def _create_sales(c: FlaskClient, **extra: str) -> Any:
    return _post(c, "/admin/roles", {"name": "sales", "label_zh": "销售",
                                     "label_en": "Sales <script>alert(1)</script>", **extra})


def _grant_form(**extra: Any) -> dict[str, Any]:
    """The role form granting create/read/update/export on booths, own scope, price hidden."""
    return {"label_zh": "销售", "label_en": "Sales", "reports_to": "",
            "ops.booth": ["create", "read", "update", "export"], "scope.booth": "own",
            "field.booth.price": "hidden", "field.booth.area": "read",
            "ops.exhibitor": ["read"], "scope.exhibitor": "all", **extra}


def test_pages_in_both_languages_and_labels_as_text(world: dict[str, Any]) -> None:
    c = world["c"]
    assert _create_sales(c).status_code == 303
    for lang, words in (("en", ("Permission matrix", "Create a role", "Explain tool")),
                        ("zh", ("权限矩阵", "创建角色", "解释工具"))):
        matrix = c.get(f"/admin/roles?lang={lang}")
        assert matrix.status_code == 200
        assert words[0] in matrix.text and words[1] in matrix.text
        assert 'href="/admin/roles/sales"' in matrix.text and 'href="/admin/explain"' in matrix.text
        assert "<script>alert(1)" not in matrix.text
        if lang == "en":  # the label of the page's language, as text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in matrix.text
        else:
            assert ">销售</a>" in matrix.text
        page = c.get(f"/admin/roles/sales?lang={lang}")
        assert page.status_code == 200 and 'id="scope-booth"' in page.text
        assert 'id="field-booth-price"' in page.text and 'id="op-booth-transfer"' in page.text
        assert "<script>alert(1)" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the English label input
        explain = c.get(f"/admin/explain?lang={lang}")
        assert explain.status_code == 200 and words[2] in explain.text
        rules = c.get(f"/admin/objects/booth/status-rules?lang={lang}")
        assert rules.status_code == 200 and 'name="field"' in rules.text
    assert 'href="/admin/objects/booth/status-rules"' in c.get("/admin/objects/booth").text


def test_create_a_role_and_refusals_beside_the_inputs(world: dict[str, Any],
                                                      instance: Instance) -> None:
    c = world["c"]
    r = _create_sales(c)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/roles/sales"
    assert _designer(instance).role("sales")["label"]["zh"] == "销售"
    again = _create_sales(c)
    assert again.status_code == 422
    assert "already exists" in _error_beside(again.text, "name")
    bad = _post(c, "/admin/roles", {"name": "Bad Name", "label_en": "x"})
    assert bad.status_code == 422 and _error_beside(bad.text, "name")
    assert 'value="Bad Name"' in bad.text  # what was typed stays
    assert _post(c, "/admin/roles", {"name": "rep", "reports_to": "sales"}).status_code == 303
    assert _designer(instance).role("rep")["reports_to"] == "sales"
    matrix = c.get("/admin/roles").text
    assert "<code>rep</code> → <code>sales</code>" in matrix


def test_edit_operations_scope_and_field_rules_then_the_api_hides_the_field(
        world: dict[str, Any], client: FlaskClient, instance: Instance) -> None:
    c, api = world["c"], world["api"]
    assert _create_sales(c).status_code == 303
    r = _post(c, "/admin/roles/sales", _grant_form())
    assert r.status_code == 303, r.text
    stored = _designer(instance).role("sales")
    assert stored["label"] == {"zh": "销售", "en": "Sales"}
    assert stored["permissions"] == {
        "booth": {"operations": ["create", "read", "update", "export"], "scope": "own",
                  "fields": {"price": "hidden", "area": "read"}},
        "exhibitor": {"operations": ["read"], "scope": "all"}}
    page = c.get("/admin/roles/sales").text
    assert re.search(r'id="op-booth-update" name="ops.booth" value="update"\s+checked', page)
    assert re.search(r'<option value="hidden" selected>', page)
    assert "CRUE" in c.get("/admin/roles").text  # the matrix cell's operation marks

    assert client.post("/api/v1/admin/users", headers=api, json={
        "username": "sam", "password": SALES_PASSWORD, "roles": ["sales"]}).status_code == 201
    sam = sign_in(client, username="sam", password=SALES_PASSWORD)
    mine = client.post("/api/v1/records/booth", headers=sam, json={"number": "B-2"})
    assert mine.status_code == 201, mine.json
    assert "price" not in mine.json
    priced = client.patch(f"/api/v1/records/booth/{mine.json['id']}", headers=api,
                          json={"price": "7", "area": "3", "version": mine.json["version"]})
    assert priced.status_code == 200 and priced.json["price"] is not None
    got = client.get(f"/api/v1/records/booth/{mine.json['id']}", headers=sam)
    assert got.status_code == 200, got.json
    # total = area * price: derived from the hidden price, so hidden too
    assert "price" not in got.json and "total" not in got.json and got.json["number"] == "B-2"
    # own scope: the admin's booth is out of reach
    assert client.get(f"/api/v1/records/booth/{world['booth']}", headers=sam).status_code == 404
    # area is read-only for the role
    changed = client.patch(f"/api/v1/records/booth/{mine.json['id']}", headers=sam,
                           json={"area": "4", "version": got.json["version"]})
    assert changed.status_code in (403, 422)

    # a second save without the field rule: the field follows the operations again
    r = _post(c, "/admin/roles/sales", _grant_form(**{"field.booth.price": ""}))
    assert r.status_code == 303
    assert _designer(instance).role("sales")["permissions"]["booth"]["fields"] == {"area": "read"}
    assert "price" in client.get(f"/api/v1/records/booth/{mine.json['id']}", headers=sam).json


def test_the_hierarchy_is_shown_and_its_switch_saved(world: dict[str, Any],
                                                    instance: Instance) -> None:
    """The matrix shows who reports to whom and, per object, whether a superior reaches its
    subordinates' records; the role page switches it (stored as ``hierarchy: false`` only
    when off, the default being on)."""
    c = world["c"]
    assert _create_sales(c).status_code == 303
    assert _post(c, "/admin/roles", {"name": "rep", "label_en": "Rep",
                                     "reports_to": "sales"}).status_code == 303
    assert _post(c, "/admin/roles/sales", _grant_form()).status_code == 303  # no switch sent
    assert "hierarchy" not in _designer(instance).role("sales")["permissions"]["booth"]
    page = c.get("/admin/roles/sales").text
    assert re.search(r'id="hierarchy-booth" name="hierarchy.booth" value="on"\s+checked', page)
    assert "Roles below this one: Rep (rep)." in page

    r = _post(c, "/admin/roles/sales", _grant_form(**{
        "hierarchy.booth": ["off"], "hierarchy.exhibitor": ["off", "on"]}))
    assert r.status_code == 303, r.text
    stored = _designer(instance).role("sales")["permissions"]
    assert stored["booth"]["hierarchy"] is False and "hierarchy" not in stored["exhibitor"]
    page = c.get("/admin/roles/sales").text
    assert re.search(r'id="hierarchy-booth" name="hierarchy.booth" value="on"\s+aria', page)
    assert re.search(r'id="hierarchy-exhibitor" name="hierarchy.exhibitor" value="on"\s+checked',
                     page)
    rep_page = c.get("/admin/roles/rep").text
    assert "No role reports to this one" in rep_page

    matrix = c.get("/admin/roles").text
    tree = matrix[matrix.index('id="role-tree"'):]
    assert re.search(r'href="/admin/roles/sales">Sales</a> <code>sales</code>'
                     r'\s*<ul>\s*<li><a href="/admin/roles/rep">Rep</a>', tree)
    assert 'class="tag hierarchy-off">Hierarchy off<' in matrix
    assert 'class="tag hierarchy-on">+ roles below<' in matrix
    zh = c.get("/admin/roles?lang=zh").text
    assert "角色层级" in zh and "层级已关闭" in zh and "+ 下级角色" in zh
    assert "下级角色的记录" in c.get("/admin/roles/sales?lang=zh").text

    # A refused save shows the switch as it was sent; switching it on again drops the key.
    bad = _post(c, "/admin/roles/sales", _grant_form(**{
        "scope.booth": "galaxy", "hierarchy.booth": ["off"], "hierarchy.exhibitor": ["off"]}))
    assert bad.status_code == 422
    assert re.search(r'id="hierarchy-exhibitor" name="hierarchy.exhibitor" value="on"\s+aria',
                     bad.text)
    assert _post(c, "/admin/roles/sales", _grant_form(**{
        "hierarchy.booth": ["off", "on"]})).status_code == 303
    assert "hierarchy" not in _designer(instance).role("sales")["permissions"]["booth"]


def test_invalid_input_is_refused_with_422_and_nothing_changes(world: dict[str, Any],
                                                               instance: Instance) -> None:
    c = world["c"]
    assert _create_sales(c).status_code == 303
    assert _post(c, "/admin/roles/sales", _grant_form()).status_code == 303
    before = _designer(instance).role("sales")
    version = _designer(instance).snapshot().version
    bad = _post(c, "/admin/roles/sales", _grant_form(**{
        "scope.booth": "galaxy", "field.booth.number": "write", "ops.exhibitor": ["fly"],
        "label_en": "x" * 300}))
    assert bad.status_code == 422
    assert "galaxy" in _error_beside(bad.text, "scope.booth")
    assert "write" in _error_beside(bad.text, "field.booth.number")
    assert _error_beside(bad.text, "label_en")
    assert re.search(r"<details\s+open>", bad.text)  # the field rules with an error are shown
    assert _designer(instance).role("sales") == before
    assert _designer(instance).snapshot().version == version
    unknown = _post(c, "/admin/roles/sales", _grant_form(**{"ops.exhibitor": ["fly"]}))
    assert unknown.status_code == 422
    assert "unknown operation 'fly'" in _error_beside(unknown.text, "ops.exhibitor")
    assert _designer(instance).role("sales") == before
    cycle = _post(c, "/admin/roles/sales", _grant_form(reports_to="sales"))
    assert cycle.status_code == 422 and _error_beside(cycle.text, "reports_to")


def test_delete_asks_first_and_is_refused_while_in_use(world: dict[str, Any],
                                                       client: FlaskClient,
                                                       instance: Instance) -> None:
    c, api = world["c"], world["api"]
    assert _create_sales(c).status_code == 303
    ask = c.get("/admin/roles/sales/delete")
    assert ask.status_code == 200 and "Yes, delete the role" in ask.text
    assert client.post("/api/v1/admin/users", headers=api, json={
        "username": "sam", "password": SALES_PASSWORD, "roles": ["sales"]}).status_code == 201
    refused = _post(c, "/admin/roles/sales/delete", {})
    assert refused.status_code == 409 and "users hold the role" in refused.text
    assert _designer(instance).role("sales")["name"] == "sales"
    assert client.patch("/api/v1/admin/users/sam", headers=api,
                        json={"roles": []}).status_code == 200
    gone = _post(c, "/admin/roles/sales/delete", {})
    assert gone.status_code == 303 and gone.headers["Location"] == "/admin/roles"
    assert "sales" not in {r["name"] for r in _designer(instance).roles()}


def test_status_rules_are_saved_and_enforced(world: dict[str, Any], client: FlaskClient,
                                             instance: Instance) -> None:
    c, api, booth = world["c"], world["api"], world["booth"]
    shown = _post(c, "/admin/objects/booth/status-rules", {"field": "status", "_refresh": "1"})
    assert shown.status_code == 200 and 'value="contracted"' in shown.text
    assert _designer(instance).snapshot().object("booth").options.get("status_rules") is None
    r = _post(c, "/admin/objects/booth/status-rules", {
        "field": "status", "restrict": ["contracted"], "ops.contracted": ["read", "export"],
        "editable.contracted": ["area"]})
    assert r.status_code == 303, r.text
    stored = _designer(instance).snapshot().object("booth").options["status_rules"]
    assert stored == {"field": "status", "states": {"contracted": {
        "operations": ["read", "export"], "editable_fields": ["area"]}}}
    page = c.get("/admin/objects/booth/status-rules").text
    assert re.search(r'name="restrict" value="contracted"\s+checked', page)

    rec = client.get(f"/api/v1/records/booth/{booth}", headers=api).json
    r = client.patch(f"/api/v1/records/booth/{booth}", headers=api,
                     json={"status": "contracted", "version": rec["version"]})
    assert r.status_code == 200, r.json
    locked = client.patch(f"/api/v1/records/booth/{booth}", headers=api,
                          json={"price": "99", "version": r.json["version"]})
    assert locked.status_code == 403, locked.json
    assert "contracted" in locked.json["error"]["message"]
    ok = client.patch(f"/api/v1/records/booth/{booth}", headers=api,
                      json={"area": "11", "version": r.json["version"]})
    assert ok.status_code == 200, ok.json

    bad = _post(c, "/admin/objects/booth/status-rules", {"field": "number"})
    assert bad.status_code == 422 and "picklist" in _error_beside(bad.text, "field")
    assert _designer(instance).snapshot().object("booth").options["status_rules"] == stored
    r = _post(c, "/admin/objects/booth/status-rules", {"field": ""})
    assert r.status_code == 303
    assert _designer(instance).snapshot().object("booth").options.get("status_rules") is None


def test_explain_shows_the_reason(world: dict[str, Any], client: FlaskClient) -> None:
    c, api = world["c"], world["api"]
    assert _create_sales(c).status_code == 303
    assert _post(c, "/admin/roles/sales", _grant_form()).status_code == 303
    assert client.post("/api/v1/admin/users", headers=api, json={
        "username": "sam", "password": SALES_PASSWORD, "roles": ["sales"]}).status_code == 201
    args = {"user": "sam", "object": "booth", "operation": "delete"}
    page = c.get("/admin/explain", query_string=args)
    assert page.status_code == 200 and "Not allowed" in page.text
    expected = client.get("/api/v1/admin/explain", query_string=args, headers=api).json
    assert expected["allowed"] is False
    assert expected["reason"].replace("'", "&#39;") in page.text
    allowed = c.get("/admin/explain", query_string={**args, "operation": "read",
                                                    "record": str(world["booth"])})
    api_answer = client.get("/api/v1/admin/explain", headers=api, query_string={
        **args, "operation": "read", "record": str(world["booth"])}).json
    assert api_answer["allowed"] is False and "scope 'own'" in api_answer["reason"]
    assert "scope &#39;own&#39;" in allowed.text
    # Both reasons in Chinese on the Chinese page.
    zh = c.get("/admin/explain", query_string={**args, "lang": "zh"})
    assert "该用户的角色（sales）均未授予对 booth 的“delete”操作" in zh.text
    zh = c.get("/admin/explain", query_string={**args, "operation": "read", "lang": "zh",
                                               "record": str(world["booth"])})
    assert "该记录超出用户的数据范围“own”" in zh.text
    unknown = c.get("/admin/explain", query_string={**args, "user": "nobody"})
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text
    # the API keeps its own argument checks
    assert client.get("/api/v1/admin/explain", query_string={"user": "sam"},
                      headers=api).status_code == 400


def test_only_administrators_get_in(world: dict[str, Any], client: FlaskClient,
                                    instance: Instance) -> None:
    api = world["api"]
    assert client.post("/api/v1/admin/users", headers=api, json={
        "username": "sue", "password": "Sue-pass-1234", "roles": []}).status_code == 201
    sue = browser_session(instance, "sue", "Sue-pass-1234")
    token = csrf_token(sue.get("/").text)
    for path in ("/admin/roles", "/admin/roles/sales", "/admin/explain?user=admin",
                 "/admin/objects/booth/status-rules"):
        assert sue.get(path).status_code == 403, path
    r = sue.post("/admin/roles", data={"csrf_token": token, "name": "sneaky"})
    assert r.status_code == 403
    assert "sneaky" not in {d["name"] for d in _designer(instance).roles()}
    anonymous = create_app(instance, {"TESTING": True}).test_client()
    assert anonymous.get("/admin/roles").status_code == 302
