"""The top bar of a tenant with many objects in one app (here the "Other" app, as no app
lists them): the first few inline, the rest behind "More", and the object being viewed
always inline."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.web.pages import NAV_INLINE

from .conftest import browser_session


def _bar(text: str) -> tuple[list[str], list[str]]:
    nav = re.search(r'<nav aria-label="[^"]*" class="objects">(.*?)</nav>', text, re.S)
    assert nav
    # The narrow screen's menu repeats every object; the wide bar is what comes before it.
    bar = nav.group(1).split('<li class="nav-more app-menu"')[0]
    more = re.search(r'<li class="nav-more app-object">(.*?)</li>\s*</ul>\s*</details>', bar,
                     re.S)
    hidden = re.findall(r'href="/records/(\w+)"', more.group(0)) if more else []
    shown = [n for n in re.findall(r'href="/records/(\w+)"', bar) if n not in hidden]
    return shown, hidden


def test_many_objects_fold_behind_more(client: FlaskClient, admin: dict[str, str],
                                       instance: Instance) -> None:
    names = [f"obj_{i:02d}" for i in range(NAV_INLINE + 5)]
    for n in names:
        r = client.post("/api/v1/meta/objects", headers=admin, json={
            "name": n, "label": {"en": f"Object {n[-2:]}"}, "fields": [{"name": "t", "type": "text"}]})
        assert r.status_code == 201, r.json
    browser = browser_session(instance)
    shown, hidden = _bar(browser.get("/").text)
    assert shown == names[:NAV_INLINE] and hidden == names[NAV_INLINE:]
    assert "More (5)" in browser.get("/").text
    # The object being viewed stays in the bar even when it sorts late.
    shown, hidden = _bar(browser.get(f"/records/{names[-1]}").text)
    assert names[-1] in shown and names[-1] not in hidden and len(hidden) == 4
    assert "更多（5）" in browser.get("/?lang=zh").text
