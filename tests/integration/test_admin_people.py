"""Users and departments in the designer (``/admin/users``, ``/admin/departments``) through
a browser session: the list and its filter, creating users (and each refusal, beside its
input in the page's language, with nothing created), roles and department, deactivation,
unlocking and a new password checked by signing in, the department tree (create, rename,
move, a cycle refused, deleting a department in use refused), admins only."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.core.errors import Unauthorized
from crmforge.runtime import Instance
from crmforge.security import accounts, org
from crmforge.web import create_app

from .conftest import browser_session, csrf_token, sign_in

PASSWORD = "Clerk-pass-1234"
NEW_PASSWORD = "Fresh-pass-5678"


def _post(c: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data={"csrf_token": csrf_token(c.get("/admin/users").text), **data})


def _error_beside(text: str, name: str) -> str:
    m = re.search(rf'<p class="field-error" id="err-{re.escape(name)}">([^<]*)</p>', text)
    assert m, f"no error beside {name}"
    return html.unescape(m.group(1))


def _signs_in(client: FlaskClient, username: str, password: str) -> bool:
    r = client.post("/api/v1/auth/token", json={"username": username, "password": password},
                    headers={"X-Tenant": "default"})
    assert r.status_code in (200, 401), r.json
    return r.status_code == 200


def _users(instance: Instance) -> dict[str, dict[str, Any]]:
    with instance.tenant("default").read() as conn:
        return {u["username"]: u for u in org.list_users(conn)}


def _departments(instance: Instance) -> dict[str, dict[str, Any]]:
    with instance.tenant("default").read() as conn:
        return {d["name"]: d for d in org.list_departments(conn)}


@pytest.fixture
def world(client: FlaskClient, instance: Instance) -> dict[str, Any]:
    """Two roles, a sales department under head office, and an admin browser."""
    api = sign_in(client)
    for name in ("sales", "support"):
        r = client.post("/api/v1/admin/roles", json={"name": name,
                                                    "label": {"zh": name + "角色", "en": name}},
                        headers=api)
        assert r.status_code == 201, r.json
    for body in ({"name": "head_office", "label": {"zh": "总部", "en": "Head office"}},
                 {"name": "sales_dept", "label": {"zh": "销售部", "en": "Sales"},
                  "parent": "head_office"}):
        assert client.post("/api/v1/admin/departments", json=body,
                           headers=api).status_code == 201
    return {"api": api, "c": browser_session(instance)}


def _create(c: FlaskClient, username: str = "clerk", **extra: Any) -> Any:
    return _post(c, "/admin/users", {"username": username, "password": PASSWORD,
                                     "department": "sales_dept", "roles": ["sales"], **extra})


def test_create_list_and_filter(world: dict[str, Any], client: FlaskClient,
                                instance: Instance) -> None:
    c = world["c"]
    r = _create(c, display_name="Carla <b>Clerk</b>")
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/users/clerk")
    assert _create(c, "bob", roles=["support"], department="").status_code == 303
    user = _users(instance)["clerk"]
    assert (user["department"], user["roles"], user["is_admin"]) == (
        "sales_dept", ["sales"], False)
    assert _signs_in(client, "clerk", PASSWORD)

    listing = c.get("/admin/users?lang=en")
    assert listing.status_code == 200
    for text in ("clerk", "bob", "admin", "Sales", "Carla &lt;b&gt;Clerk&lt;/b&gt;"):
        assert text in listing.text
    assert "<b>Clerk</b>" not in listing.text
    filtered = c.get("/admin/users?q=sales").text  # the role, the department
    assert 'href="/admin/users/clerk"' in filtered and 'href="/admin/users/bob"' not in filtered
    assert 'href="/admin/users/bob"' in c.get("/admin/users?q=SUPPORT").text
    assert 'href="/admin/users/clerk"' not in c.get("/admin/users?q=nobody").text


def test_pages_in_chinese(world: dict[str, Any]) -> None:
    c = world["c"]
    assert _create(c).status_code == 303
    page = c.get("/admin/users?lang=zh").text
    assert "创建用户" in page and "筛选用户" in page and "销售部" in page
    assert "重置密码" in c.get("/admin/users/clerk?lang=zh").text
    tree = c.get("/admin/departments?lang=zh").text
    assert "部门树" in tree and "创建部门" in tree and ">总部</a>" in tree
    home = c.get("/admin/?lang=zh").text
    assert 'href="/admin/users"' in home and 'href="/admin/departments"' in home


@pytest.mark.parametrize(("data", "field", "en", "zh"), [
    ({"password": "short1"}, "password", "must have at least 8 characters",
     "至少需要 8 个字符"),
    ({"username": "admin"}, "username", "already taken", "已被占用"),
    ({"department": "nowhere"}, "department", "no department named 'nowhere'",
     "nowhere"),
    ({"roles": ["ghost"]}, "roles", "no role named ghost", "没有名为 ghost 的角色"),
])
def test_create_refusals_beside_their_input(world: dict[str, Any], client: FlaskClient,
                                            instance: Instance, data: dict[str, Any],
                                            field: str, en: str, zh: str) -> None:
    c = world["c"]
    before = _users(instance)
    for lang, text in (("en", en), ("zh", zh)):
        c.get(f"/admin/users?lang={lang}")  # remembered for the form's post
        r = _create(c, "newbie", **data) if data.get("username") is None else \
            _post(c, "/admin/users", {"password": PASSWORD, "department": "sales_dept",
                                      **data})
        assert r.status_code in (409, 422), r.text
        assert text in _error_beside(r.text, field)
        if lang == "zh" and field != "department":
            assert re.search(r"[\u4e00-\u9fff]", _error_beside(r.text, field))
    assert _users(instance) == before
    assert not _signs_in(client, "newbie", PASSWORD)


def test_edit_roles_and_department(world: dict[str, Any], instance: Instance) -> None:
    c = world["c"]
    assert _create(c).status_code == 303
    page = c.get("/admin/users/clerk").text
    assert 'id="role-sales" name="roles" value="sales" checked' in page
    r = c.post("/admin/users/clerk", data={"csrf_token": csrf_token(page),
                                           "display_name": "Carla",
                                           "department": "head_office",
                                           "roles": ["support", "sales"]})
    assert r.status_code == 303
    user = _users(instance)["clerk"]
    assert (user["department"], user["roles"], user["display_name"]) == (
        "head_office", ["sales", "support"], "Carla")
    refused = c.post("/admin/users/clerk", data={"csrf_token": csrf_token(page),
                                                 "department": "nowhere", "roles": []})
    assert refused.status_code == 422
    assert "nowhere" in _error_beside(refused.text, "department")
    assert _users(instance)["clerk"]["roles"] == ["sales", "support"]  # nothing changed


def test_deactivate_refuses_sign_in_and_activate_lets_in(world: dict[str, Any],
                                                         client: FlaskClient) -> None:
    c = world["c"]
    assert _create(c).status_code == 303
    token = sign_in(client, username="clerk", password=PASSWORD)
    page = c.get("/admin/users/clerk").text
    r = c.post("/admin/users/clerk/active", data={"csrf_token": csrf_token(page),
                                                  "active": "0"})
    assert r.status_code == 303
    assert not _signs_in(client, "clerk", PASSWORD)
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401  # sessions ended
    assert "Inactive" in c.get("/admin/users?lang=en").text
    r = c.post("/admin/users/clerk/active", data={"csrf_token": csrf_token(page),
                                                  "active": "1"})
    assert r.status_code == 303 and _signs_in(client, "clerk", PASSWORD)


def test_an_admin_cannot_deactivate_themselves(world: dict[str, Any],
                                               client: FlaskClient) -> None:
    c = world["c"]
    page = c.get("/admin/users/admin?lang=zh").text
    r = c.post("/admin/users/admin/active", data={"csrf_token": csrf_token(page),
                                                  "active": "0"})
    assert r.status_code == 422 and "不能停用自己的账户" in _error_beside(r.text, "active")
    assert _signs_in(client, "admin", "Admin-pass-123")


def _lock(instance: Instance, username: str) -> None:
    for _ in range(5):
        with instance.tenant("default").write() as conn, pytest.raises(Unauthorized):
            accounts.sign_in(conn, username, "Wrong-pass-000")


def test_unlock(world: dict[str, Any], client: FlaskClient, instance: Instance) -> None:
    c = world["c"]
    assert _create(c).status_code == 303
    _lock(instance, "clerk")
    assert not _signs_in(client, "clerk", PASSWORD)
    page = c.get("/admin/users/clerk?lang=en").text
    assert 'id="unlock-form"' in page and "Locked" in page
    r = c.post("/admin/users/clerk/unlock", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 303
    assert _signs_in(client, "clerk", PASSWORD)
    assert 'id="unlock-form"' not in c.get("/admin/users/clerk").text


def test_reset_password(world: dict[str, Any], client: FlaskClient,
                        instance: Instance) -> None:
    c = world["c"]
    assert _create(c).status_code == 303
    _lock(instance, "clerk")
    page = c.get("/admin/users/clerk?lang=zh").text
    weak = c.post("/admin/users/clerk/password", data={"csrf_token": csrf_token(page),
                                                       "password": "onlyletters"})
    assert weak.status_code == 422
    assert "必须混合字母与数字或符号" in _error_beside(weak.text, "password")
    same = c.post("/admin/users/clerk/password", data={"csrf_token": csrf_token(page),
                                                       "password": PASSWORD})
    assert same.status_code == 422 and "与原密码相同" in _error_beside(same.text, "password")
    assert _users(instance)["clerk"]["locked"]  # nothing changed
    r = c.post("/admin/users/clerk/password", data={"csrf_token": csrf_token(page),
                                                    "password": NEW_PASSWORD})
    assert r.status_code == 303
    assert _signs_in(client, "clerk", NEW_PASSWORD)  # and unlocked
    assert not _signs_in(client, "clerk", PASSWORD)


def test_department_tree(world: dict[str, Any], instance: Instance) -> None:
    c = world["c"]
    assert _create(c).status_code == 303  # a member of sales_dept
    page = c.get("/admin/departments?lang=en").text
    assert re.search(r">Head office</a>.*<ul>\s*<li><a [^>]*>Sales</a>", page, re.S)
    token = csrf_token(page)
    r = c.post("/admin/departments", data={"csrf_token": token, "name": "east",
                                           "label_zh": "华东", "label_en": "East",
                                           "parent": "sales_dept", "head": "clerk"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/departments/east")
    assert _departments(instance)["east"] == {
        **_departments(instance)["east"], "parent": "sales_dept", "head": "clerk",
        "label": {"zh": "华东", "en": "East"}}
    taken = c.post("/admin/departments", data={"csrf_token": token, "name": "east"})
    assert taken.status_code == 409 and "already exists" in _error_beside(taken.text, "name")
    bad = c.post("/admin/departments?lang=zh", data={"csrf_token": token, "name": "Bad Name"})
    assert bad.status_code == 422 and "小写英文字母" in _error_beside(bad.text, "name")

    # rename (labels) and move under head office
    r = c.post("/admin/departments/east", data={"csrf_token": token, "label_zh": "华东区",
                                                "label_en": "East region",
                                                "parent": "head_office", "head": ""})
    assert r.status_code == 303
    east = _departments(instance)["east"]
    assert (east["label"], east["parent"], east["head"]) == (
        {"zh": "华东区", "en": "East region"}, "head_office", None)
    # a cycle: head office below its own sub-department
    cycle = c.post("/admin/departments/head_office?lang=zh",
                   data={"csrf_token": token, "label_zh": "总部", "parent": "east"})
    assert cycle.status_code == 422
    assert "不能移到自身" in _error_beside(cycle.text, "parent")
    assert _departments(instance)["head_office"]["parent"] is None
    # deleting refused while in use, then allowed once empty
    members = c.post("/admin/departments/sales_dept/delete?lang=en", data={"csrf_token": token})
    assert members.status_code == 409 and "has members" in members.text
    children = c.post("/admin/departments/head_office/delete?lang=zh",
                      data={"csrf_token": token})
    assert children.status_code == 409 and "该部门有下级部门" in children.text
    assert {"sales_dept", "head_office", "east"} <= set(_departments(instance))
    r = c.post("/admin/departments/east/delete", data={"csrf_token": token})
    assert r.status_code == 303 and "east" not in _departments(instance)


def test_non_admins_are_refused_and_change_nothing(world: dict[str, Any], client: FlaskClient,
                                                   instance: Instance) -> None:
    c = world["c"]
    assert _create(c).status_code == 303
    before = (_users(instance), _departments(instance))
    clerk = browser_session(instance, "clerk", PASSWORD)
    token = csrf_token(clerk.get("/").text)
    for path in ("/admin/users", "/admin/users/admin", "/admin/departments"):
        assert clerk.get(path).status_code == 403
    for path, data in (("/admin/users", {"username": "mallory", "password": PASSWORD}),
                       ("/admin/users/clerk", {"roles": ["sales", "support"],
                                               "is_admin": "1"}),
                       ("/admin/users/admin/active", {"active": "0"}),
                       ("/admin/users/admin/password", {"password": NEW_PASSWORD}),
                       ("/admin/departments", {"name": "rogue"}),
                       ("/admin/departments/sales_dept/delete", {})):
        assert clerk.post(path, data={"csrf_token": token, **data}).status_code == 403
    assert (_users(instance), _departments(instance)) == before
    r = create_app(instance, {"TESTING": True}).test_client().get("/admin/users")
    assert r.status_code in (302, 303) and "/login" in r.headers["Location"]
