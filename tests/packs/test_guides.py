"""A pack's guide page (``/guides/<pack>``), written from the installed metadata: what the
objects are, which process does what, which role sees what; for an administrator every
role, for anybody else their own, and only the objects they may read; in zh and en."""

from __future__ import annotations

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from tests.integration.conftest import browser_session

from .conftest import install

PASSWORD = "Reader-pass-1234"


def _strip(html: str) -> str:
    return " ".join(html.split())


def test_the_guide_says_what_the_pack_holds_for_each_reader(
        instance: Instance, client: FlaskClient, admin: dict[str, str]) -> None:
    install(instance, "core", "utilities")
    page = browser_session(instance).get("/guides/utilities?lang=en")
    assert page.status_code == 200
    text = _strip(page.text)
    assert "Guide: Electric utility" in text
    assert "Power customer" in text and "Power bill" in text
    assert "Connection approval" in text and "Bill write-off approval" in text  # processes
    assert "Which role sees what" in text and "Meter reader" in text
    # the meter reader's row for power customers: read, their department, arrears hidden
    assert "their department&#39;s records" in text
    assert "Arrears" in text
    home = browser_session(instance).get("/?lang=en").text
    assert 'href="/guides/utilities"' in home and 'href="/guides/core"' in home
    zh = _strip(browser_session(instance).get("/guides/utilities?lang=zh").text)
    assert "使用指南：电力营销与服务" in zh and "各角色能看到什么" in zh and "抄表员" in zh

    r = client.post("/api/v1/admin/users", headers=admin, json={
        "username": "reader", "password": PASSWORD, "roles": ["meter_reader"]})
    assert r.status_code == 201, r.json
    reader = browser_session(instance, "reader", PASSWORD)
    mine = _strip(reader.get("/guides/utilities?lang=en").text)
    assert "What your roles let you do" in mine and "Meter reader" in mine
    assert "Field engineer" not in mine  # another role: an administrator's business
    assert "Power bill" not in mine  # an object the meter reader may not read
    assert 'href="/guides/core"' not in reader.get("/?lang=en").text  # no core object readable
    assert reader.get("/guides/core").status_code == 404
    assert reader.get("/guides/nothing").status_code == 404
    assert "text/html" in reader.get("/guides/nothing").content_type
