"""Editing a role that grants on many objects (decision 0040): the role page saves the
objects it shows (or one object alone) into the stored role without touching the others,
refuses a save over a newer version of the role with a 409 in the page's language, grants a
whole row or column of the operations grid and sets every field of an object at once with
plain form buttons, filters its objects, and copies a role (page and API) under a new,
checked name. Only administrators get in."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.core.errors import ValidationFailed
from crmforge.metadata.validation import OPERATIONS
from crmforge.runtime import Designer, Instance
from crmforge.runtime.designer_documents import StaleRole, role_version
from crmforge.security.principal import SYSTEM

from .conftest import BOOTH, EXHIBITOR, browser_session, csrf_token, sign_in

SALES = {"name": "sales", "label": {"zh": "销售", "en": "Sales"},
         "permissions": {
             "booth": {"operations": ["read"], "scope": "own", "fields": {"price": "hidden"}},
             "exhibitor": {"operations": ["read", "update"], "scope": "all"}}}


def _designer(instance: Instance) -> Designer:
    return Designer(instance.tenant("default"))


@pytest.fixture
def world(client: FlaskClient, instance: Instance) -> dict[str, Any]:
    """Booths, exhibitors, the role ``sales`` granting on both, an admin browser and API."""
    api = sign_in(client)
    for doc in (EXHIBITOR, BOOTH):
        assert client.post("/api/v1/meta/objects", json=doc, headers=api).status_code == 201
    assert client.post("/api/v1/admin/roles", json=SALES, headers=api).status_code == 201
    return {"api": api, "c": browser_session(instance)}


def _version(page: str) -> str:
    m = re.search(r'name="version" value="([0-9a-f]+)"', page)
    assert m, "the role form carries no version"
    return m.group(1)


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    page = c.get("/admin/roles/sales").text
    return c.post(path, data={"csrf_token": csrf_token(page), "version": _version(page),
                              **data})


def _form(**extra: Any) -> dict[str, Any]:
    """The role page as it shows both objects, booth changed and exhibitor typed over."""
    return {"shown": ["booth", "exhibitor"], "label_zh": "销售", "label_en": "Sales",
            "ops.booth": ["read", "create"], "scope.booth": "all",
            "field.booth.area": "read",
            "ops.exhibitor": ["delete"], "scope.exhibitor": "own", **extra}


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{re.escape(name)}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return html.unescape(m.group(1))


def test_saving_one_object_leaves_the_other_objects_as_stored(world: dict[str, Any],
                                                              instance: Instance) -> None:
    c = world["c"]
    before = _designer(instance).role("sales")
    r = _post(c, "/admin/roles/sales", _form(only="booth", label_en="Typed, not saved"))
    assert r.status_code == 303 and r.headers["Location"] == "/admin/roles/sales#grant-booth"
    stored = _designer(instance).role("sales")
    assert stored["permissions"]["booth"] == {"operations": ["read", "create"],
                                              "scope": "all", "fields": {"area": "read"}}
    assert stored["permissions"]["exhibitor"] == before["permissions"]["exhibitor"]
    assert stored["label"] == before["label"]  # only the object's grant was saved
    assert "Permissions on Booth saved." in c.get("/admin/roles/sales").text


def test_saving_the_shown_objects_leaves_the_hidden_ones(world: dict[str, Any],
                                                         instance: Instance) -> None:
    """A page filtered to booths saves booths and labels; exhibitors stay as stored."""
    c = world["c"]
    page = c.get("/admin/roles/sales?q=BOO").text
    assert 'id="grant-booth"' in page and 'id="grant-exhibitor"' not in page
    assert "1 of 2 objects shown" in page
    r = _post(c, "/admin/roles/sales", {**_form(label_en="Sellers", q="boo"),
                                        "shown": ["booth"]})
    assert r.status_code == 303 and r.headers["Location"] == "/admin/roles/sales?q=boo"
    stored = _designer(instance).role("sales")
    assert stored["label"]["en"] == "Sellers"
    assert stored["permissions"]["booth"]["operations"] == ["read", "create"]
    assert stored["permissions"]["exhibitor"] == SALES["permissions"]["exhibitor"]
    zh = c.get("/admin/roles/sales?q=展商&lang=zh").text
    assert 'id="grant-exhibitor"' in zh and 'id="grant-booth"' not in zh
    assert "显示 1 / 2 个对象" in zh
    assert "没有与筛选条件匹配的对象。" in c.get("/admin/roles/sales?q=zzz&lang=zh").text
    # a filter finding nothing: saving changes the labels and no grant
    r = _post(c, "/admin/roles/sales", {"editor": "objects", "q": "zzz", "label_en": "None",
                                        "label_zh": "无"})
    assert r.status_code == 303
    stored = _designer(instance).role("sales")
    assert stored["label"] == {"zh": "无", "en": "None"}
    assert stored["permissions"]["exhibitor"] == SALES["permissions"]["exhibitor"]
    assert stored["permissions"]["booth"]["operations"] == ["read", "create"]


@pytest.mark.parametrize("lang,words", [
    ("en", "Someone else changed this role after you opened it"),
    ("zh", "你打开此角色后，其他人修改了它")])
def test_a_stale_version_is_a_409_and_nothing_changes(world: dict[str, Any],
                                                      client: FlaskClient, instance: Instance,
                                                      lang: str, words: str) -> None:
    c = world["c"]
    page = c.get("/admin/roles/sales").text
    old = _version(page)
    changed = client.patch("/api/v1/admin/roles/sales", headers=world["api"],
                           json={"label": {"en": "Changed meanwhile"}})
    assert changed.status_code == 200
    after = _designer(instance).role("sales")
    r = c.post(f"/admin/roles/sales?lang={lang}", data={
        "csrf_token": csrf_token(page), "version": old, **_form(only="booth")})
    assert r.status_code == 409
    assert words in html.unescape(r.text) and 'role="alert"' in r.text
    assert _designer(instance).role("sales") == after
    # what was typed is still on the page, now on the current version
    assert re.search(r'id="op-booth-create" name="ops.booth" value="create"\s+checked', r.text)
    assert _version(r.text) == role_version(after) != old


def test_the_service_merges_one_grant_and_checks_the_version(world: dict[str, Any],
                                                             instance: Instance) -> None:
    d = _designer(instance)
    stored = d.role("sales")
    principal = SYSTEM
    d.set_role_grants(principal, "sales", {"booth": None}, role_version(stored))
    now = d.role("sales")
    assert "booth" not in now["permissions"]
    assert now["permissions"]["exhibitor"] == stored["permissions"]["exhibitor"]
    with pytest.raises(StaleRole):
        d.set_role_grants(principal, "sales", {"exhibitor": None}, role_version(stored))
    with pytest.raises(ValidationFailed):
        d.set_role_grants(principal, "sales", {"booth": {"operations": ["fly"]}},
                          role_version(now))
    assert d.role("sales") == now


def test_a_whole_row_grants_exactly_every_operation_of_the_object(
        world: dict[str, Any], instance: Instance) -> None:
    c = world["c"]
    r = _post(c, "/admin/roles/sales", _form(row="booth", **{
        "ops.exhibitor": ["read", "update"], "scope.exhibitor": "all"}))
    assert r.status_code == 303 and r.headers["Location"].endswith("#grant-booth")
    stored = _designer(instance).role("sales")["permissions"]
    assert stored["booth"]["operations"] == list(OPERATIONS)
    assert stored["exhibitor"] == SALES["permissions"]["exhibitor"]


def test_a_whole_column_grants_one_operation_on_every_shown_object(
        world: dict[str, Any], instance: Instance) -> None:
    c = world["c"]
    r = _post(c, "/admin/roles/sales", _form(column="export"))
    assert r.status_code == 303
    stored = _designer(instance).role("sales")["permissions"]
    assert stored["booth"]["operations"] == ["read", "create", "export"]
    assert stored["exhibitor"]["operations"] == ["delete", "export"]
    # filtered to exhibitors, the column reaches them only
    r = _post(c, "/admin/roles/sales", {
        "shown": ["exhibitor"], "column": "transfer", "ops.exhibitor": ["read"],
        "scope.exhibitor": "all"})
    assert r.status_code == 303
    stored = _designer(instance).role("sales")["permissions"]
    assert stored["exhibitor"]["operations"] == ["read", "transfer"]
    assert stored["booth"]["operations"] == ["read", "create", "export"]
    bad = _post(c, "/admin/roles/sales", _form(column="fly"))  # not an operation: ignored
    assert bad.status_code == 303
    assert "fly" not in str(_designer(instance).role("sales"))


def test_every_field_of_an_object_set_at_once(world: dict[str, Any],
                                              instance: Instance) -> None:
    c = world["c"]
    r = _post(c, "/admin/roles/sales", _form(**{"all_fields": "booth",
                                                "all_access.booth": "read"}))
    assert r.status_code == 303
    fields = _designer(instance).role("sales")["permissions"]["booth"]["fields"]
    assert fields == {f["name"]: "read" for f in BOOTH["fields"]}
    r = _post(c, "/admin/roles/sales", _form(**{"all_fields": "booth",
                                                "all_access.booth": "galaxy"}))
    assert r.status_code == 303  # an unknown level sets nothing; the typed rule is saved
    assert _designer(instance).role("sales")["permissions"]["booth"]["fields"] == {
        "area": "read"}


def test_copy_a_role_on_the_page(world: dict[str, Any], instance: Instance) -> None:
    c = world["c"]
    r = _post(c, "/admin/roles/sales/copy", {"copy_name": "sales_north",
                                             "copy_label_zh": "北区销售",
                                             "copy_label_en": "Sales north"})
    assert r.status_code == 303 and r.headers["Location"] == "/admin/roles/sales_north"
    original, copy = _designer(instance).role("sales"), _designer(instance).role("sales_north")
    assert copy == {**original, "name": "sales_north",
                    "label": {"zh": "北区销售", "en": "Sales north"}}
    assert "Role copied." in c.get("/admin/roles/sales_north").text
    for lang, words in (("en", "already exists"), ("zh", "已存在名为“sales_north”的角色")):
        again = _post(c, f"/admin/roles/sales/copy?lang={lang}",
                      {"copy_name": "sales_north", "copy_label_en": "Typed"})
        assert again.status_code == 422
        assert words in _error_beside(again.text, "copy_name")
        assert 'value="Typed"' in again.text  # what was typed stays
    bad = _post(c, "/admin/roles/sales/copy", {"copy_name": "Bad Name"})
    assert bad.status_code == 422 and _error_beside(bad.text, "copy_name")
    blank = _post(c, "/admin/roles/sales/copy", {"copy_name": ""})
    assert blank.status_code == 422 and _error_beside(blank.text, "copy_name")
    long = _post(c, "/admin/roles/sales/copy", {"copy_name": "ok", "copy_label_en": "x" * 300})
    assert long.status_code == 422 and _error_beside(long.text, "copy_label_en")
    assert {r["name"] for r in _designer(instance).roles()} == {"sales", "sales_north"}


def test_copy_a_role_through_the_api(world: dict[str, Any], client: FlaskClient,
                                     instance: Instance) -> None:
    api = world["api"]
    r = client.post("/api/v1/admin/roles/sales/copy", headers=api,
                    json={"name": "sales_copy", "label": {"en": "Sales copy"}})
    assert r.status_code == 201, r.json
    assert r.json == {**_designer(instance).role("sales"), "name": "sales_copy",
                      "label": {"en": "Sales copy"}}
    dup = client.post("/api/v1/admin/roles/sales/copy", headers=api, json={"name": "sales"})
    assert dup.status_code == 422 and "$.name" in dup.json["error"]["fields"]
    assert client.post("/api/v1/admin/roles/nobody/copy", headers=api,
                       json={"name": "x"}).status_code == 404
    assert client.post("/api/v1/admin/roles/sales/copy", headers=api,
                       json=["x"]).status_code == 400
    spec = client.get("/api/v1/openapi.json", headers=api).json
    assert "post" in spec["paths"]["/api/v1/admin/roles/{name}/copy"]


def test_an_api_change_with_if_match_never_overwrites_an_unseen_one(
        world: dict[str, Any], client: FlaskClient, instance: Instance) -> None:
    """Two clients read the role; the first change wins, the second (sent with the ETag
    it read) is a 409 and changes nothing; without If-Match the last change wins."""
    api = world["api"]
    read = client.get("/api/v1/admin/roles/sales", headers=api)
    etag = read.headers["ETag"]
    assert etag == f'"{role_version(read.json)}"'
    first = client.patch("/api/v1/admin/roles/sales", headers={**api, "If-Match": etag},
                         json={"label": {"en": "Sales east"}})
    assert first.status_code == 200 and first.headers["ETag"] != etag
    second = client.patch("/api/v1/admin/roles/sales", headers={**api, "If-Match": etag},
                          json={"label": {"en": "Sales west"}})
    assert second.status_code == 409 and second.json["error"]["code"] == "conflict"
    assert _designer(instance).role("sales")["label"] == {"en": "Sales east"}
    weak = {**api, "If-Match": "W/" + first.headers["ETag"]}
    assert client.patch("/api/v1/admin/roles/sales", headers=weak,
                        json={"label": {"en": "Sales north"}}).status_code == 200
    unguarded = client.patch("/api/v1/admin/roles/sales", headers=api,
                             json={"label": {"en": "Sales south"}})
    assert unguarded.status_code == 200
    assert _designer(instance).role("sales")["label"] == {"en": "Sales south"}
    spec = client.get("/api/v1/openapi.json", headers=api).json
    patch = spec["paths"]["/api/v1/admin/roles/{name}"]["patch"]
    assert "If-Match" in [p.get("name") for p in patch["parameters"]]


def test_only_administrators_edit_and_copy_roles(world: dict[str, Any], client: FlaskClient,
                                                 instance: Instance) -> None:
    api = world["api"]
    assert client.post("/api/v1/admin/users", headers=api, json={
        "username": "sue", "password": "Sue-pass-1234", "roles": ["sales"]}).status_code == 201
    sue = browser_session(instance, "sue", "Sue-pass-1234")
    token = csrf_token(sue.get("/").text)
    before = _designer(instance).role("sales")
    assert sue.get("/admin/roles/sales?q=booth").status_code == 403
    for path, data in (("/admin/roles/sales", {"shown": "booth", "row": "booth"}),
                       ("/admin/roles/sales/copy", {"copy_name": "sneaky"})):
        assert sue.post(path, data={"csrf_token": token, **data}).status_code == 403
    sue_api = sign_in(client, username="sue", password="Sue-pass-1234")
    assert client.post("/api/v1/admin/roles/sales/copy", headers=sue_api,
                       json={"name": "sneaky"}).status_code == 403
    assert {r["name"] for r in _designer(instance).roles()} == {"sales"}
    assert _designer(instance).role("sales") == before
