"""Small comforts of the workspace: deleting asks first, lists say why they are empty and
what to do next (zh and en), and the pages carry an icon."""

from __future__ import annotations

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, sign_in

NOTE = {"name": "note", "label": {"zh": "便签", "en": "Note"}, "fields": [
    {"name": "title", "type": "text", "required": True, "searchable": True}]}


def test_delete_asks_first(client: FlaskClient, instance: Instance) -> None:
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=NOTE, headers=admin).status_code == 201
    rid = client.post("/api/v1/records/note", json={"title": "Call <Li>"}, headers=admin).json["id"]
    c = browser_session(instance)
    page = c.get(f"/records/note/{rid}")
    assert f'href="/records/note/{rid}/delete"' in page.text  # a link to the question
    ask = c.get(f"/records/note/{rid}/delete?lang=en")
    assert ask.status_code == 200
    assert "Delete Call &lt;Li&gt;?" in ask.text and "can be restored from there" in ask.text
    assert "Yes, move it to the recycle bin" in ask.text and f'href="/records/note/{rid}"' in ask.text
    assert "确定，移入回收站" in c.get(f"/records/note/{rid}/delete?lang=zh").text
    assert client.get(f"/api/v1/records/note/{rid}", headers=admin).status_code == 200  # asked only
    r = c.post(f"/records/note/{rid}/delete", data={"csrf_token": csrf_token(ask.text)})
    assert r.status_code == 303
    assert client.get(f"/api/v1/records/note/{rid}", headers=admin).status_code == 404
    assert c.get(f"/records/note/{rid}/delete").status_code == 404  # gone: nothing to ask


def test_empty_lists_say_why_and_what_next(client: FlaskClient, instance: Instance) -> None:
    admin = sign_in(client)
    assert client.post("/api/v1/meta/objects", json=NOTE, headers=admin).status_code == 201
    c = browser_session(instance)
    empty = c.get("/records/note?lang=en").text
    assert "No Note records yet." in empty and 'href="/records/note/new">Create the first one' in empty
    assert "还没有便签记录。" in c.get("/records/note?lang=zh").text
    assert client.post("/api/v1/records/note", json={"title": "x"}, headers=admin).status_code == 201
    none = c.get("/records/note?q=nothing-like-it&lang=en").text
    assert "No records match these filters or this search." in none
    assert 'href="/records/note">Show all records' in none
    assert "没有符合这些筛选或搜索条件的记录。" in c.get("/records/note?title=zzz&lang=zh").text
    bad = c.get("/records/note?nofield=1&lang=en")
    assert bad.status_code == 400 and "could not be read as asked" in bad.text


def test_pages_carry_an_icon(instance: Instance) -> None:
    c = browser_session(instance)
    assert 'rel="icon" href="/static/favicon.svg"' in c.get("/").text
    icon = c.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    r = create_client(instance).get("/favicon.ico")  # asked by browsers, signed in or not
    assert r.status_code == 301 and r.headers["Location"].endswith("/static/favicon.svg")


def create_client(instance: Instance) -> FlaskClient:
    from crmforge.web import create_app

    return create_app(instance, {"TESTING": True}).test_client()
