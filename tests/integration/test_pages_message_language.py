"""A Chinese page shows no service message in English and no API name where a label
exists: the sign-in page's refusals, a list's refused filter (the field's label), a record
that does not exist (the object's label), a transfer to nobody."""

from __future__ import annotations

import html
import re
from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web.app import create_app

from .conftest import ADMIN_PASSWORD, BOOTH, EXHIBITOR, browser_session, csrf_token

CJK = re.compile(r"[\u4e00-\u9fff]")
BOOTH_ZH: dict[str, Any] = {**BOOTH, "fields": [
    {**f, "label": {"zh": "面积", "en": "Area"}} if f["name"] == "area" else f
    for f in BOOTH["fields"]]}


def _booths(client: FlaskClient, admin: dict[str, str]) -> int:
    for doc in (EXHIBITOR, BOOTH_ZH):
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    r = client.post("/api/v1/records/booth", json={"number": "A-1", "area": 10}, headers=admin)
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _alert(page: str, ident: str = "") -> str:
    found = re.search(rf'<p class="error"[^>]*{ident}[^>]*>([^<]*)</p>', page)
    assert found is not None, page[-3000:]
    return html.unescape(found.group(1))


def test_the_sign_in_page_refuses_in_chinese(instance: Instance) -> None:
    c = create_app(instance, {"TESTING": True}).test_client()
    token = csrf_token(c.get("/login?lang=zh").text)
    r = c.post("/login?lang=zh", data={"username": "admin", "password": "wrong",
                                       "csrf_token": token})
    assert r.status_code == 401
    assert _alert(r.text, 'id="login-error"') == "用户名或密码错误"
    r = c.post("/login?lang=zh", data={"username": "admin", "password": ADMIN_PASSWORD,
                                       "csrf_token": token, "tenant": "nowhere"},
               headers={"X-Tenant": "nowhere"})
    assert r.status_code == 404 and _alert(r.text, 'id="login-error"') == "没有这个名称的组织"
    r = c.post("/login?lang=en", data={"username": "admin", "password": "wrong",
                                       "csrf_token": token})
    assert _alert(r.text, 'id="login-error"') == "wrong username or password"


def test_a_refused_filter_names_the_field_by_its_label(client: FlaskClient,
                                                       admin: dict[str, str],
                                                       instance: Instance) -> None:
    _booths(client, admin)
    c = browser_session(instance)
    zh = c.get("/records/booth?area__gte=abc&lang=zh")
    assert zh.status_code == 400
    assert _alert(zh.text) == "筛选“面积”：“abc”不是数字"
    en = c.get("/records/booth?area__gte=abc&lang=en")
    assert _alert(en.text) == "filter on 'Area': 'abc' is not a number"
    # The API keeps writing API names.
    r = client.get("/api/v1/records/booth?area__gte=abc", headers=admin)
    assert r.json["error"]["message"] == "filter on 'area': 'abc' is not a number"


def test_a_missing_record_names_the_object_by_its_label(client: FlaskClient,
                                                        admin: dict[str, str],
                                                        instance: Instance) -> None:
    _booths(client, admin)
    c = browser_session(instance)
    r = c.get("/records/booth/99999?lang=zh")
    assert r.status_code == 404
    assert _alert(r.text) == "不存在 展位 记录 99999"
    assert "booth" not in _alert(r.text)


def test_a_refused_transfer_is_reported_in_chinese(client: FlaskClient, admin: dict[str, str],
                                                   instance: Instance) -> None:
    rid = _booths(client, admin)
    c = browser_session(instance)
    c.get("/records/booth?lang=zh")
    token = csrf_token(c.get("/records/booth").text)
    r = c.post("/records/booth/_mass", data={"csrf_token": token, "action": "transfer",
                                             "id": [str(rid)], "owner": "ghost",
                                             "confirmed": "1"})
    items = re.findall(r"</a>: ([^<]*)</li>", r.text)
    assert items and all(CJK.search(m) for m in items), r.text[-2000:]
    assert not re.search(r"no active user|no user", r.text)
