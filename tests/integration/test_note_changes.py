"""Notes can be changed by their author, deleted by their author or an administrator,
and brought back; every earlier text is kept (decision 0035, amended)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token
from .test_record_page import PASSWORD, _world


def _kept(instance: Instance) -> list[tuple[int, str, str]]:
    """(note, kind, body) of every kept earlier version, oldest first."""
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        if not sa.inspect(conn).has_table("sys_note_changes"):
            return []
        return [(int(r[0]), str(r[1]), str(r[2])) for r in conn.execute(sa.text(
            "SELECT note_id, kind, body FROM sys_note_changes ORDER BY id"))]


def _notes(client: FlaskClient, w: dict[str, Any], who: str = "clerk") -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/records/contract/{w['deal']}/notes", headers=w[who])
    assert r.status_code == 200, r.json
    return list(r.json["items"])


def test_the_author_changes_a_note_and_the_text_before_is_kept(
        client: FlaskClient, instance: Instance) -> None:
    w = _world(client)
    api = f"/api/v1/records/contract/{w['deal']}/notes"
    note = client.post(api, headers=w["clerk"],
                       json={"body": "Call back", "follow_up": "2030-01-15"}).json
    assert note["edited_at"] is None and note["author_id"] is not None
    r = client.patch(f"{api}/{note['id']}", headers=w["clerk"], json={"body": "Call back Monday"})
    assert r.status_code == 200, r.json
    assert r.json["body"] == "Call back Monday" and r.json["follow_up"] == "2030-01-15"
    assert r.json["edited_at"] is not None and r.json["at"] == note["at"]
    assert _kept(instance) == [(note["id"], "edited", "Call back")]
    r = client.patch(f"{api}/{note['id']}", headers=w["clerk"], json={"follow_up": None})
    assert r.status_code == 200 and r.json["follow_up"] is None
    assert r.json["body"] == "Call back Monday"
    assert [n["body"] for n in _notes(client, w)] == ["Call back Monday"]
    before = _kept(instance)
    # Bad input: a 422 on its key, nothing changes and nothing more is kept.
    r = client.patch(f"{api}/{note['id']}", headers=w["clerk"],
                     json={"body": " ", "follow_up": "2030-02-31"})
    assert r.status_code == 422 and set(r.json["error"]["fields"]) == {"body", "follow_up"}
    r = client.patch(f"{api}/{note['id']}?lang=zh", headers=w["clerk"], json={"body": ""})
    assert r.json["error"]["message"] == "备注没有修改"
    # Someone else's note, administrators included: 403, nothing changes.
    r = client.patch(f"{api}/{note['id']}", headers=w["admin"], json={"body": "Overwritten"})
    assert r.status_code == 403, r.json
    assert [n["body"] for n in _notes(client, w)] == ["Call back Monday"]
    assert _kept(instance) == before
    # A note of another record, a missing one, a record out of reach: 404.
    other = f"/api/v1/records/contract/{w['theirs']}/notes"
    theirs = client.post(other, headers=w["admin"], json={"body": "admin's"}).json
    assert client.patch(f"{api}/{theirs['id']}", headers=w["admin"],
                        json={"body": "x"}).status_code == 404
    assert client.patch(f"{other}/{theirs['id']}", headers=w["clerk"],
                        json={"body": "x"}).status_code == 404
    for bad in ("999999", "abc", "-1"):
        assert client.patch(f"{api}/{bad}", headers=w["clerk"],
                            json={"body": "x"}).status_code == 404
    assert client.patch(f"{api}/{note['id']}", headers=w["clerk"],
                        json=["body"]).status_code == 400


def test_deleted_notes_are_kept_and_come_back(client: FlaskClient, instance: Instance) -> None:
    w = _world(client)
    api = f"/api/v1/records/contract/{w['deal']}/notes"
    mine = client.post(api, headers=w["clerk"], json={"body": "mine"}).json
    admins = client.post(api, headers=w["admin"], json={"body": "the admin's"}).json
    # The clerk may not delete the administrator's note; the administrator may delete any.
    assert client.delete(f"{api}/{admins['id']}", headers=w["clerk"]).status_code == 403
    assert client.delete(f"{api}/{mine['id']}", headers=w["clerk"]).status_code == 204
    assert [n["body"] for n in _notes(client, w)] == ["the admin's"]
    assert _kept(instance) == [(mine["id"], "deleted", "mine")]
    assert client.delete(f"{api}/{mine['id']}", headers=w["clerk"]).status_code == 404
    # Back as it was, under its id; a note not deleted cannot be restored.
    r = client.post(f"{api}/{mine['id']}/restore", headers=w["clerk"])
    assert r.status_code == 200, r.json
    assert r.json == {**mine, "edited_at": None}
    assert client.post(f"{api}/{mine['id']}/restore", headers=w["clerk"]).status_code == 404
    assert client.post(f"{api}/{admins['id']}/restore", headers=w["clerk"]).status_code == 404
    assert client.delete(f"{api}/{mine['id']}", headers=w["admin"]).status_code == 204
    assert client.post(f"{api}/{mine['id']}/restore", headers=w["clerk"]).status_code == 200
    assert sorted(n["body"] for n in _notes(client, w)) == ["mine", "the admin's"]
    assert client.delete(f"{api}/{admins['id']}", headers=w["admin"]).status_code == 204
    assert client.post(f"{api}/{admins['id']}/restore",
                       headers=w["clerk"]).status_code == 403
    # A purge of the record deletes its notes and their kept versions for good.
    assert client.delete(f"/api/v1/records/contract/{w['deal']}",
                         headers=w["admin"]).status_code == 204
    r = client.delete(f"/api/v1/recycle-bin/contract/{w['deal']}", headers=w["admin"])
    assert r.status_code == 204, r.json
    assert _kept(instance) == []


def test_notes_are_changed_and_deleted_from_the_record_page(
        client: FlaskClient, instance: Instance) -> None:
    w = _world(client)
    api = f"/api/v1/records/contract/{w['deal']}/notes"
    mine = client.post(api, headers=w["clerk"], json={"body": "Ask <b>legal</b>"}).json
    admins = client.post(api, headers=w["admin"], json={"body": "From the admin"}).json
    c = browser_session(instance, "clerk", PASSWORD)
    url = f"/records/contract/{w['deal']}"
    page = c.get(url + "?lang=en").text
    # Edit and Delete beside the clerk's own note only.
    assert f'href="{url}/notes/{mine["id"]}/edit"' in page
    assert f'href="{url}/notes/{mine["id"]}/delete"' in page
    assert f"/notes/{admins['id']}/" not in page
    assert c.get(f"{url}/notes/{admins['id']}/edit").status_code == 403
    form = c.get(f"{url}/notes/{mine['id']}/edit?lang=zh")
    assert form.status_code == 200 and "编辑备注" in form.text
    assert "Ask &lt;b&gt;legal&lt;/b&gt;</textarea>" in form.text
    r = c.post(f"{url}/notes/{mine['id']}/edit?lang=zh",
               data={"csrf_token": csrf_token(form.text), "body": "", "follow_up": "x"})
    assert r.status_code == 422 and 'id="err-note-body">备注不能为空<' in r.text
    assert "请按 YYYY-MM-DD 格式输入跟进日期" in r.text
    r = c.post(f"{url}/notes/{mine['id']}/edit",
               data={"csrf_token": csrf_token(form.text), "body": "Ask legal today",
                     "follow_up": ""})
    assert r.status_code == 303 and r.headers["Location"].endswith(url + "#activity")
    page = c.get(url + "?lang=zh").text
    assert "Ask legal today" in page and "(已编辑)" in page
    # Delete asks first, then offers to undo.
    ask = c.get(f"{url}/notes/{mine['id']}/delete?lang=en")
    assert ask.status_code == 200 and "Delete this note?" in ask.text
    assert "Ask legal today" in ask.text
    r = c.post(f"{url}/notes/{mine['id']}/delete", data={"csrf_token": csrf_token(ask.text)})
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"{url}?deleted_note={mine['id']}#activity")
    after = c.get(f"{url}?deleted_note={mine['id']}&lang=en").text
    assert "Ask legal today" not in after and "The note is deleted." in after
    undo = re.search(r'<form method="post" class="note-undo[^"]*"[^>]*action="([^"]+)"', after)
    assert undo is not None and undo.group(1) == f"{url}/notes/{mine['id']}/restore"
    r = c.post(undo.group(1), data={"csrf_token": csrf_token(after)})
    assert r.status_code == 303
    assert "Ask legal today" in c.get(url).text
    # The administrator's note: not the clerk's to delete.
    r = c.post(f"{url}/notes/{admins['id']}/delete", data={"csrf_token": csrf_token(after)})
    assert r.status_code == 403
    assert "From the admin" in c.get(url).text
