"""Global search (decision 0032): titles by text, Chinese titles by pinyin and initials,
through the permission engine, kept in step with every write."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance, RecordService
from crmforge.runtime.search import SearchService
from crmforge.runtime.search_keys import search_built, search_keys
from crmforge.security.principal import SYSTEM

from .conftest import error_of, sign_in

PASSWORD = "Search-pass-123"

CONTACT: dict[str, Any] = {
    "name": "contact", "label": {"zh": "联系人", "en": "Contact"},
    "fields": [{"name": "name", "type": "text", "required": True},
               {"name": "phone", "type": "text"}],
}
SECRET: dict[str, Any] = {
    "name": "secret", "label": {"zh": "机密", "en": "Secret"},
    "fields": [{"name": "name", "type": "text", "required": True}],
}
ROLES: list[dict[str, Any]] = [
    {"name": "north_rep", "permissions": {
        "contact": {"operations": ["create", "read", "update", "delete"],
                    "scope": "department"}}},
    {"name": "blind", "permissions": {
        "contact": {"operations": ["read"], "scope": "all", "fields": {"name": "hidden"}}}},
]


def _titles(body: dict[str, Any], obj: str | None = None) -> list[str]:
    return [r["title"] for g in body["groups"] if obj is None or g["object"] == obj
            for r in g["results"]]


class World:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.admin = sign_in(client)
        for name in ("north", "south"):
            assert client.post("/api/v1/admin/departments", headers=self.admin, json={
                "name": name, "label": {"en": name}}).status_code == 201
        for doc in (CONTACT, SECRET):
            assert client.post("/api/v1/meta/objects", json=doc,
                               headers=self.admin).status_code == 201
        for role in ROLES:
            assert client.post("/api/v1/admin/roles", json=role,
                               headers=self.admin).status_code == 201
        self.users: dict[str, dict[str, str]] = {}
        for username, dept, roles in (("rep_n", "north", ["north_rep"]),
                                      ("rep_s", "south", ["north_rep"]),
                                      ("blind", "north", ["blind"])):
            r = client.post("/api/v1/admin/users", headers=self.admin, json={
                "username": username, "password": PASSWORD, "department": dept,
                "roles": roles})
            assert r.status_code == 201, r.json
            self.users[username] = sign_in(client, username=username, password=PASSWORD)

    def create(self, obj: str, name: str, who: str = "admin") -> int:
        headers = self.admin if who == "admin" else self.users[who]
        r = self.client.post(f"/api/v1/records/{obj}", headers=headers, json={"name": name})
        assert r.status_code == 201, r.json
        return int(r.json["id"])

    def search(self, q: str, who: str = "admin", **params: Any) -> dict[str, Any]:
        headers = self.admin if who == "admin" else self.users[who]
        r = self.client.get("/api/v1/search", headers=headers, query_string={"q": q, **params})
        assert r.status_code == 200, r.json
        return dict(r.json)


@pytest.fixture
def world(client: FlaskClient) -> World:
    return World(client)


def test_finds_chinese_titles_by_text_pinyin_prefix_and_initials(world: World) -> None:
    world.create("contact", "张三")
    world.create("contact", "李四")
    world.create("contact", "ACME 上海分公司")
    world.create("contact", "Zhang Industries")
    assert _titles(world.search("张")) == ["张三"]
    assert _titles(world.search("zhangsan")) == ["张三"]
    assert _titles(world.search("ZhangSan")) == ["张三"]
    # Both the pinyin prefix and the plain title contain "zhang"; the exact-prefix title
    # of a plain text record ranks first, the pinyin next.
    assert set(_titles(world.search("zhang"))) == {"张三", "Zhang Industries"}
    assert _titles(world.search("zs")) == ["张三"]
    assert _titles(world.search("shanghai")) == ["ACME 上海分公司"]
    assert _titles(world.search("上海")) == ["ACME 上海分公司"]
    assert _titles(world.search("acme")) == ["ACME 上海分公司"]
    assert _titles(world.search("ls")) == ["李四"]
    assert _titles(world.search("nothing-like-this")) == []
    body = world.search("zs")
    assert body["groups"][0]["object"] == "contact"
    assert body["groups"][0]["label"] == "Contact"
    assert world.search("zs", lang="zh")["groups"][0]["label"] == "联系人"


def test_like_wildcards_are_literal(world: World) -> None:
    world.create("contact", "100% 王五")
    world.create("contact", "a_b")
    world.create("contact", "axb")
    assert _titles(world.search("%")) == ["100% 王五"]
    assert _titles(world.search("_")) == ["a_b"]


def test_exact_and_prefix_first_and_limit(world: World) -> None:
    world.create("contact", "老张三")
    world.create("contact", "张三丰")
    world.create("contact", "张三")
    assert _titles(world.search("张三")) == ["张三", "张三丰", "老张三"]
    assert _titles(world.search("张三", limit=2)) == ["张三", "张三丰"]
    assert world.search("张三", limit=2)["count"] == 2


def test_scope_unreadable_objects_and_hidden_titles(world: World) -> None:
    world.create("contact", "张北方", who="rep_n")
    world.create("contact", "张南方", who="rep_s")
    world.create("secret", "张机密")
    assert _titles(world.search("zhang", who="rep_n")) == ["张北方"]
    assert _titles(world.search("zhang", who="rep_s")) == ["张南方"]
    assert {g["object"] for g in world.search("zhang", who="rep_n")["groups"]} == {"contact"}
    assert world.search("zhang", who="blind")["groups"] == []
    assert world.search("张", who="blind")["groups"] == []
    assert sorted(_titles(world.search("zhang"))) == ["张北方", "张南方", "张机密"]


def test_rename_delete_restore(world: World) -> None:
    rid = world.create("contact", "张三")
    r = world.client.patch(f"/api/v1/records/contact/{rid}", headers=world.admin,
                           json={"name": "王五", "version": 1})
    assert r.status_code == 200, r.json
    assert _titles(world.search("zs")) == []
    assert _titles(world.search("zhangsan")) == []
    assert _titles(world.search("ww")) == ["王五"]
    assert _titles(world.search("wangwu")) == ["王五"]
    assert world.client.delete(f"/api/v1/records/contact/{rid}",
                               headers=world.admin).status_code == 204
    assert _titles(world.search("wangwu")) == []
    assert _titles(world.search("王五")) == []
    r = world.client.post(f"/api/v1/records/contact/{rid}/restore", headers=world.admin)
    assert r.status_code == 200, r.json
    assert _titles(world.search("wangwu")) == ["王五"]


def test_bulk_create_keeps_keys(world: World, instance: Instance) -> None:
    names = [f"张{chr(0x4e00 + i)}" for i in range(50)]
    r = world.client.post("/api/v1/records/contact/bulk", headers=world.admin, json={
        "mode": "create", "records": [{"name": n} for n in names]})
    assert r.status_code == 200, r.json
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        keys = conn.execute(sa.select(search_keys.c.full, search_keys.c.initials)).all()
    assert len(keys) == 50
    assert all(full.startswith("zhang") and initials.startswith("z") for full, initials in keys)
    assert len(_titles(world.search("zhang", limit=100))) == 50
    ids = RecordService(tenant).create_many(SYSTEM, "contact", [{"name": "赵六"}])
    assert len(ids) == 1
    assert _titles(world.search("zhaoliu")) == ["赵六"]


def test_records_from_before_search_are_built_lazily(world: World, instance: Instance) -> None:
    tenant = instance.tenant("default")
    world.create("contact", "张三")
    with tenant.write() as conn:  # as if the records were written before search existed
        conn.execute(search_keys.delete())
        conn.execute(search_built.delete())
    svc = SearchService(tenant)
    assert _titles(svc.search(SYSTEM, "zs")) == ["张三"]
    with tenant.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(search_keys)).scalar() == 1


@pytest.mark.parametrize(("query", "message"), [
    ({}, "q is required"), ({"q": ""}, "q is required"), ({"q": "   "}, "q is required"),
    ({"q": "x" * 101}, "q is too long"), ({"q": "x", "limit": "abc"}, "limit must be"),
    ({"q": "x", "limit": "0"}, "limit must be"), ({"q": "x", "limit": "1000"}, "limit must be")])
def test_bad_requests(client: FlaskClient, admin: dict[str, str], query: dict[str, str],
                      message: str) -> None:
    r = client.get("/api/v1/search", headers=admin, query_string=query)
    assert r.status_code == 400
    assert message in error_of(r)["message"]


def test_search_needs_sign_in(client: FlaskClient) -> None:
    r = client.get("/api/v1/search", query_string={"q": "x"})
    assert r.status_code == 401


def test_search_page_in_both_languages(world: World, instance: Instance) -> None:
    from .conftest import browser_session
    rid = world.create("contact", "张三")
    c = browser_session(instance)
    page = c.get("/search", query_string={"q": "zs", "lang": "en"})
    assert page.status_code == 200
    assert 'role="search"' in page.text  # the top bar's box
    assert "<h2" in page.text and "Contact" in page.text
    assert f'href="/records/contact/{rid}"' in page.text and "张三" in page.text
    none = c.get("/search", query_string={"q": "qqqq", "lang": "en"})
    assert "Nothing matches" in none.text and "fewer letters" in none.text
    assert "张三" not in none.text
    zh = c.get("/search", query_string={"q": "zhangsan", "lang": "zh"})
    assert "联系人" in zh.text and "张三" in zh.text and "找到 1 条" in zh.text
    zh_none = c.get("/search", query_string={"q": "qqqq", "lang": "zh"})
    assert "没有与“qqqq”匹配的记录" in zh_none.text and "拼音" in zh_none.text
    empty = c.get("/search")
    assert empty.status_code == 200 and "Nothing matches" not in empty.text
    long = c.get("/search", query_string={"q": "x" * 101, "lang": "en"})
    assert long.status_code == 200 and "too long" in long.text
    escaped = c.get("/search", query_string={"q": "<b>x</b>", "lang": "en"})
    assert "<b>x</b>" not in escaped.text and "&lt;b&gt;x&lt;/b&gt;" in escaped.text
    home = c.get("/", query_string={"lang": "en"})
    assert 'action="/search"' in home.text


def test_purge_removes_keys(world: World, instance: Instance) -> None:
    tenant = instance.tenant("default")
    rid = world.create("contact", "张三")
    keep = world.create("contact", "张四")
    records = RecordService(tenant)
    records.delete(SYSTEM, "contact", rid)
    records.purge(SYSTEM, "contact", rid)
    with tenant.read() as conn:
        left = conn.execute(sa.select(search_keys.c.record_id)).scalars().all()
    assert left == [keep]
    assert _titles(world.search("zhang")) == ["张四"]


def test_a_new_title_field_is_searched_after_a_lazy_build(world: World) -> None:
    world.create("contact", "张三")
    r = world.client.post("/api/v1/records/contact", headers=world.admin,
                          json={"name": "Someone", "phone": "李四办公室"})
    assert r.status_code == 201, r.json
    assert _titles(world.search("ls")) == []
    doc = world.client.get("/api/v1/meta/objects/contact", headers=world.admin).json
    r = world.client.patch("/api/v1/meta/objects/contact", headers=world.admin,
                           json={**doc, "title_field": "phone"})
    assert r.status_code == 200, r.json
    assert _titles(world.search("ls")) == ["李四办公室"]
    assert _titles(world.search("zs")) == []  # the old title's key no longer matches


def test_what_a_search_shows_is_in_the_access_audit(world: World) -> None:
    """A search reads titles: the records it showed are audited, as a list page's are."""
    world.create("contact", "张三", "rep_n")
    world.create("contact", "张三丰", "rep_s")  # another department: never shown to rep_n
    shown = world.search("zhangsan", "rep_n")
    ids = [r["id"] for g in shown["groups"] for r in g["results"]]
    assert len(ids) == 1
    log = world.client.get("/api/v1/admin/audit/access?user=rep_n",
                           headers=world.admin).json["items"]
    searches = [e for e in log if e["action"] == "search"]
    assert len(searches) == 1 and searches[0]["records"] == ids


def test_temporary_access_ends_on_time_for_a_kept_visibility(world: World,
                                                             instance: Instance) -> None:
    """Lists keep each reader's visibility predicate (security.engine): the time that
    ends temporary access is taken when each statement runs, never when the predicate was
    built, so access granted until a moment ends at that moment on the very next list."""
    import datetime as dt

    from crmforge.core import clock
    from crmforge.core.filters import parse_list_query
    from crmforge.security import sharing
    from crmforge.security.accounts import principal_of

    theirs = world.create("contact", "南区客户", "rep_s")
    tenant = instance.tenant("default")
    service = RecordService(tenant)
    with tenant.write() as conn:
        rep_n = principal_of(conn, "rep_n")
        obj_id = tenant.snapshot(conn).object("contact").id
        until = clock.now().replace(tzinfo=None) + dt.timedelta(hours=1)
        sharing.grant_temporary_access(conn, obj_id, theirs, int(rep_n.user_id or 0),
                                       "approval", expires_at=until)

    def seen() -> set[int]:
        return {r["id"] for r in service.list(rep_n, "contact",
                                              parse_list_query([("limit", "100")]))["items"]}

    assert theirs in seen() and theirs in seen()  # the second list uses the kept predicate
    later = clock.now() + dt.timedelta(hours=2)
    clock.set_clock(lambda: later)
    try:
        assert theirs not in seen()
    finally:
        clock.set_clock(None)
