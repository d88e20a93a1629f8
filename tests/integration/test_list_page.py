"""The list page: a filter form fitted to each field's type whose conditions land in the
address (the REST API's parameters), the count and the pages both ways, the user's
columns, a search that says when there is nothing to search in, and the board view per
picklist whose cards move through the ordinary record update."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, sign_in

PASSWORD = "Clerk-pass-1234"

DEAL: dict[str, Any] = {
    "name": "deal", "label": {"zh": "商机", "en": "Deal"},
    "fields": [
        {"name": "title", "type": "text", "required": True, "searchable": True,
         "label": {"zh": "标题", "en": "Title"}},
        {"name": "qty", "type": "integer", "label": {"zh": "数量", "en": "Qty"}},
        {"name": "price", "type": "currency", "label": {"zh": "单价", "en": "Price"}},
        {"name": "closes", "type": "date", "label": {"zh": "结束日", "en": "Closes"}},
        {"name": "hot", "type": "boolean", "label": {"zh": "重点", "en": "Hot"}},
        {"name": "stage", "type": "picklist", "label": {"zh": "阶段", "en": "Stage"},
         "choices": [{"value": "new", "label": {"zh": "新建", "en": "New"}},
                     {"value": "won", "label": {"zh": "赢单", "en": "Won"}},
                     {"value": "lost", "label": {"zh": "输单", "en": "Lost"}}]},
        {"name": "secret", "type": "decimal", "label": {"zh": "底价", "en": "Floor"}},
        {"name": "grand", "type": "formula", "result_type": "currency", "stored": True,
         "expression": "qty * price", "label": {"zh": "总额", "en": "Grand"}},
        {"name": "due", "type": "formula", "result_type": "date", "stored": True,
         "expression": "closes + 30", "label": {"zh": "到期", "en": "Due"}},
        {"name": "margin", "type": "formula", "result_type": "decimal", "stored": True,
         "expression": "if_blank(secret, 0) * 2", "label": {"zh": "毛利", "en": "Margin"}},
    ],
    "validation_rules": [{"name": "won_needs_price", "condition": "stage != 'won' or price > 0",
                          "message": {"zh": "赢单需要单价", "en": "A won deal needs a price"},
                          "field": "price"}],
    "status_rules": {"field": "stage", "states": {
        "lost": {"operations": ["read"], "editable_fields": []}}},
}
BARE: dict[str, Any] = {"name": "note", "label": {"zh": "便签", "en": "Note"},
                        "fields": [{"name": "body", "type": "text"}]}


def _world(client: FlaskClient, n: int = 6) -> dict[str, str]:
    admin = sign_in(client)
    for doc in (DEAL, BARE):
        r = client.post("/api/v1/meta/objects", json=doc, headers=admin)
        assert r.status_code == 201, r.json
    rows = [{"title": f"Deal {i:03d}", "qty": i, "price": "10" if i % 2 else "0",
             "closes": f"2024-0{1 + i % 9}-15", "hot": i % 3 == 0,
             "stage": "new" if i % 2 == 0 else "won", "secret": str(i)} for i in range(n)]
    r = client.post("/api/v1/records/deal/bulk", headers=admin,
                    json={"records": rows, "mode": "create", "all_or_none": True})
    assert r.status_code == 200, r.json
    role = {"name": "clerk", "permissions": {
        "deal": {"operations": ["read", "update"], "scope": "all",
                 "fields": {"secret": "hidden"}},
        "note": {"operations": ["read"], "scope": "all"}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": "clerk", "password": PASSWORD, "roles": ["clerk"]})
    assert r.status_code == 201, r.json
    return admin


def _query(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query)


def _titles(text: str) -> list[str]:
    return re.findall(r'href="/records/deal/\d+">(Deal \d+)</a>', text)


def test_the_filter_form_offers_what_fits_each_type(client: FlaskClient,
                                                    instance: Instance) -> None:
    _world(client)
    c = browser_session(instance)
    page = c.get("/records/deal?ff=grand&pick=1")
    assert page.status_code == 200
    form = page.text[page.text.index('id="filter-form"'):page.text.index("</form>",
                                                                          page.text.index('id="filter-form"'))]
    ops = re.findall(r'<option value="(\w+)"[^>]*>', form[form.index('id="fo"'):])
    assert ops == ["eq", "ne", "gt", "gte", "lt", "lte", "between", "isnull", "notnull"]
    assert 'type="number"' in form and 'id="fv2"' in form
    date = c.get("/records/deal?ff=due&pick=1").text
    assert 'id="fv" name="fv" type="date"' in date and ">on or after<" in date
    assert ">contains<" not in date
    pick = c.get("/records/deal?ff=stage&pick=1&lang=zh").text
    assert 'type="checkbox" name="fv" value="won"' in pick and "赢单" in pick
    assert ">包含<" not in pick.split('id="fo"')[1].split("</select>")[0]
    yes_no = c.get("/records/deal?ff=hot&pick=1&lang=en").text
    assert re.search(r'<select [^>]*id="fv" name="fv"[^>]*>\s*<option value="true"\s*>Yes', yes_no)
    text = c.get("/records/deal?ff=title&pick=1").text
    assert ">contains<" in text.split('id="fo"')[1].split("</select>")[0]
    # Hidden fields and what is derived from them are never offered, even when asked for.
    clerk = browser_session(instance, "clerk", PASSWORD)
    offered = clerk.get("/records/deal").text
    assert 'value="secret"' not in offered and 'value="margin"' not in offered
    assert 'value="grand"' in offered
    asked = clerk.get("/records/deal?ff=margin&fo=gte&fv=1")
    assert asked.status_code == 400 and 'id="filter-problem"' in asked.text


def test_conditions_go_into_the_address_as_the_apis_parameters(client: FlaskClient,
                                                               instance: Instance) -> None:
    admin = _world(client)
    c = browser_session(instance)
    r = c.get("/records/deal?sort=title&ff=grand&fo=gte&fv=30")
    assert r.status_code == 303
    assert _query(r.headers["Location"]) == [("sort", "title"), ("grand__gte", "30")]
    # A second condition keeps the first; picklist choices become eq or in; booleans,
    # ranges and emptiness take the API's values.
    steps = [("ff=stage&fo=eq&fv=won", ("stage", "won")),
             ("ff=stage&fo=eq&fv=won&fv=new", ("stage__in", "won,new")),
             ("ff=hot&fo=eq&fv=false", ("hot", "false")),
             ("ff=due&fo=between&fv=2024-02-01&fv2=2024-06-30",
              ("due__between", "2024-02-01,2024-06-30")),
             ("ff=closes&fo=notnull", ("closes__isnull", "false")),
             ("ff=title&fo=contains&fv=Deal", ("title__contains", "Deal"))]
    for step, pair in steps:
        r = c.get(f"/records/deal?grand__gte=30&{step}")
        assert r.status_code == 303, step
        assert _query(r.headers["Location"]) == [("grand__gte", "30"), pair], step
    # The same address answers the same records as the API (bookmarkable).
    address = "grand__gte=30&hot=false&due__between=2024-02-01,2024-07-31"
    page = c.get(f"/records/deal?{address}&sort=title")
    api = client.get(f"/api/v1/records/deal?{address}&sort=title", headers=admin).json
    assert _titles(page.text) == [i["title"] for i in api["items"]] and api["items"]
    assert "Grand at least 30" in html.unescape(page.text)
    assert "Hot is No" in html.unescape(page.text)
    zh = c.get(f"/records/deal?{address}&lang=zh").text
    assert "总额 不小于 30" in html.unescape(zh)


def test_a_value_that_does_not_fit_is_refused_beside_its_input(client: FlaskClient,
                                                               instance: Instance) -> None:
    _world(client)
    c = browser_session(instance)
    for query, says in (("ff=grand&fo=gte&fv=abc", "'abc' is not a number"),
                        ("ff=due&fo=gte&fv=soon", "is not a date"),
                        ("ff=grand&fo=between&fv=1", "Enter both ends of the range."),
                        ("ff=grand&fo=gte", "Enter a value."),
                        ("ff=grand&fo=contains&fv=1", "Choose a condition for this field."),
                        ("ff=nothing&fo=eq&fv=1", "Choose a field to filter by.")):
        r = c.get(f"/records/deal?stage=won&{query}")
        assert r.status_code == 400, query
        problem = re.search(r'id="filter-problem" role="alert">([^<]*)<', r.text)
        assert problem and says in html.unescape(problem.group(1)), (query, problem)
        assert "Deal 001" in r.text  # the list stays as it was
    zh = c.get("/records/deal?ff=grand&fo=gte&fv=abc&lang=zh")
    assert zh.status_code == 400 and "不是数字" in zh.text


def test_count_and_pages_both_ways(client: FlaskClient, instance: Instance) -> None:
    _world(client, 120)
    c = browser_session(instance)
    first = c.get("/records/deal?sort=title")
    assert re.search(r"id=\"list-count\" role=\"status\">\s*1–50 of 120\s*<", first.text)
    assert "Page 1 of 3" in first.text and 'rel="prev"' not in first.text
    assert _titles(first.text)[0] == "Deal 000"
    seen = []
    page = first
    for n in (2, 3):
        nxt = html.unescape(re.search(r'href="([^"]+)" rel="next"', page.text).group(1))
        assert f"page={n}" in nxt
        page = c.get(nxt)
        assert f"Page {n} of 3" in page.text
        seen.append(_titles(page.text))
    assert seen[0][0] == "Deal 050" and seen[1] == [f"Deal {i:03d}" for i in range(100, 120)]
    assert "101–120 of 120" in page.text and 'rel="next"' not in page.text
    # Back from page 3: page 2 again, read backward through its keyset, in list order.
    prev = html.unescape(re.search(r'href="([^"]+)" rel="prev"', page.text).group(1))
    assert "back=1" in prev and "page=2" in prev
    back = c.get(prev)
    assert _titles(back.text) == seen[0] and "51–100 of 120" in back.text
    again = html.unescape(re.search(r'href="([^"]+)" rel="next"', back.text).group(1))
    assert _titles(c.get(again).text) == seen[1]
    to_first = html.unescape(re.search(r'href="([^"]+)" rel="prev"', back.text).group(1))
    assert "cursor" not in to_first and _titles(c.get(to_first).text)[0] == "Deal 000"
    # Descending, with a filter: the same walk.
    down = c.get("/records/deal?sort=-qty&stage=new")
    assert "1–50 of 60" in down.text and _titles(down.text)[0] == "Deal 118"


def test_past_the_cap_the_count_is_an_estimate(client: FlaskClient, instance: Instance,
                                              monkeypatch: Any) -> None:
    from crmforge.runtime import plans
    from crmforge.web.pages import lists

    _world(client, 120)
    monkeypatch.setattr(plans, "COUNT_CAP", 60)
    monkeypatch.setattr(lists, "COUNT_CAP", 60)
    page = browser_session(instance).get("/records/deal?sort=title").text
    count = re.search(r'id="list-count" role="status">\s*([^<]*?)\s*<', page).group(1)
    # SQLite keeps no estimate: "more than" the cap; PostgreSQL answers its planner's.
    assert count == "1–50 of more than 60" or re.fullmatch(r"1–50 of about [\d,]+", count)
    assert "Page 1<" in page and "Page 1 of" not in page and 'rel="next"' in page


def test_users_choose_their_columns(client: FlaskClient, instance: Instance) -> None:
    _world(client)
    clerk = browser_session(instance, "clerk", PASSWORD)
    page = clerk.get("/records/deal")
    offered = re.findall(r'name="column" value="(\w+)"', page.text)
    assert "secret" not in offered and "margin" not in offered and "grand" in offered
    # System fields are offered by name in the page's language, never their API name.
    assert re.search(r'value="created_at"\s*>\s*Created at</label>', page.text)
    form = re.search(r'<form method="post" action="([^"]+)" id="columns-form"', page.text)
    r = clerk.post(html.unescape(form.group(1)), data={
        "csrf_token": csrf_token(page.text), "column": ["title", "grand", "due"]})
    assert r.status_code == 303
    shown = clerk.get("/records/deal").text
    heads = re.findall(r'<a href="[^"]*" data-field="(\w+)"', shown)
    assert heads == ["title", "grand", "due"]
    # Kept per user: the administrator still sees the layout's columns.
    admin = browser_session(instance)
    assert re.findall(r'data-field="(\w+)"', admin.get("/records/deal").text) != heads
    # A hidden field cannot be chosen (nothing kept), and the reset returns to the layout.
    token = csrf_token(shown)
    r = clerk.post("/records/deal/_columns", data={"csrf_token": token,
                                                   "column": ["title", "secret"]})
    assert r.status_code == 422 and "no field named" in r.text
    assert re.findall(r'data-field="(\w+)"', clerk.get("/records/deal").text) == heads
    r = clerk.post("/records/deal/_columns", data={"csrf_token": token})
    assert r.status_code == 422
    r = clerk.post("/records/deal/_columns", data={"csrf_token": token, "reset": "1"})
    assert r.status_code == 303
    assert re.findall(r'data-field="(\w+)"', clerk.get("/records/deal").text) != heads
    # The address may name the columns too (a bookmark), never a hidden one.
    named = clerk.get("/records/deal?fields=qty,secret,title").text
    assert re.findall(r'data-field="(\w+)"', named) == ["qty", "title"]


def test_search_says_when_there_is_nothing_to_search(client: FlaskClient,
                                                     instance: Instance) -> None:
    admin = _world(client)
    client.post("/api/v1/records/note", json={"body": "hello"}, headers=admin)
    c = browser_session(instance)
    deal = c.get("/records/deal").text
    assert 'id="q"' in deal and "Searches in: Title" in deal
    note = c.get("/records/note")
    assert 'id="q"' not in note.text and "No field of Note can be searched." in note.text
    asked = c.get("/records/note?q=hello")
    assert asked.status_code == 200 and "was not searched for" in html.unescape(asked.text)
    assert ">hello<" in asked.text  # the list is shown, not an empty one
    zh = c.get("/records/note?q=hello&lang=zh").text
    assert "没有可搜索的字段" in zh


def _board_cards(text: str) -> dict[str, list[str]]:
    out = {}
    for value, body in re.findall(
            r'data-kanban-column data-value="(\w*)">(.*?)</ul>', text, re.S):
        out[value] = re.findall(r'class="kanban-title" href="[^"]+">([^<]+)<', body)
    return out


def test_the_board_moves_cards_through_the_record_update(client: FlaskClient,
                                                         instance: Instance) -> None:
    admin = _world(client)
    clerk = browser_session(instance, "clerk", PASSWORD)
    board = clerk.get("/records/deal?view=kanban&by=stage&sort=title")
    assert board.status_code == 200
    cards = _board_cards(board.text)
    assert cards["new"] == ["Deal 000", "Deal 002", "Deal 004"] and cards["lost"] == []
    assert cards["won"] == ["Deal 001", "Deal 003", "Deal 005"]
    assert "赢单" in clerk.get("/records/deal?view=kanban&by=stage&lang=zh").text
    clerk.get("/records/deal?lang=en")
    r = client.post("/api/v1/records/deal", json={"title": "Deal 999", "price": "1"},
                    headers=admin)
    assert r.status_code == 201, r.json
    assert _board_cards(clerk.get("/records/deal?view=kanban&by=stage").text)[""] == \
        ["Deal 999"]  # records without a value have a column of their own
    ids = {i["title"]: i for i in client.get("/api/v1/records/deal?limit=100",
                                             headers=admin).json["items"]}
    token = csrf_token(board.text)
    back = "/records/deal?sort=title&view=kanban&by=stage"

    def move(title: str, value: str, version: int | None = None, **headers: str) -> Any:
        rec = ids[title]
        return clerk.post(f"/records/deal/{rec['id']}/_move", headers=headers, data={
            "csrf_token": token, "field": "stage", "value": value, "back": back,
            "version": str(version if version is not None else rec["version"])})

    # Without JavaScript: the card's form, then back to the board.
    r = move("Deal 001", "new")
    assert r.status_code == 303 and r.headers["Location"] == back
    assert "Deal 001" in _board_cards(clerk.get(back).text)["new"]
    # The board's script: JSON answers with the new version.
    r = move("Deal 003", "new", Accept="application/json")
    assert r.status_code == 200 and r.json["moved"] is True
    assert r.json["version"] == ids["Deal 003"]["version"] + 1
    # Refusals: validation (a won deal needs a price), a stale card, a status rule.
    r = move("Deal 000", "won", Accept="application/json")
    assert r.status_code == 200 and r.json["moved"] is False and r.json["status"] == 422
    assert r.json["error"]["message"] == "Price: A won deal needs a price"
    r = move("Deal 002", "won")
    assert r.status_code == 422 and "A won deal needs a price" in r.text
    assert "Deal 002" in _board_cards(r.text)["new"]
    r = move("Deal 001", "won", Accept="application/json")  # its card is out of date
    assert r.json["status"] == 409 and "reload" in r.json["error"]["message"]
    r = move("Deal 005", "lost", Accept="application/json")
    assert r.json["moved"] is True
    r = move("Deal 005", "won", version=r.json["version"], Accept="application/json")
    assert r.json["moved"] is False and r.json["status"] == 403, r.json  # a status rule
    zh = clerk.post(f"/records/deal/{ids['Deal 000']['id']}/_move?lang=zh",
                    headers={"Accept": "application/json"}, data={
                        "csrf_token": token, "field": "stage", "value": "won", "back": back,
                        "version": str(ids["Deal 000"]["version"])})
    assert zh.json["error"]["message"] == "单价: 赢单需要单价"
    r = move("Deal 999", "won", Accept="application/json")
    assert r.json["moved"] is True
    assert "" not in _board_cards(clerk.get(back).text)  # no empty "no value" column
    # Nothing changed by the refusals.
    after = client.get(f"/api/v1/records/deal/{ids['Deal 000']['id']}", headers=admin).json
    assert after["stage"] == "new" and after["version"] == ids["Deal 000"]["version"]
    # A reader without update gets the board without move forms or the drag script, and
    # a move they send anyway is refused by the record service.
    role = {"name": "viewer", "permissions": {"deal": {"operations": ["read"], "scope": "all"}}}
    assert client.post("/api/v1/admin/roles", json=role, headers=admin).status_code == 201
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": "viewer", "password": PASSWORD, "roles": ["viewer"]})
    assert r.status_code == 201, r.json
    viewer = browser_session(instance, "viewer", PASSWORD)
    seen = viewer.get(back)
    assert seen.status_code == 200 and _board_cards(seen.text)["new"]
    assert "kanban-move" not in seen.text and "sortable.js" not in seen.text
    assert "data-movable" not in seen.text
    r = viewer.post(f"/records/deal/{ids['Deal 002']['id']}/_move",
                    headers={"Accept": "application/json"}, data={
                        "csrf_token": csrf_token(seen.text), "field": "stage", "value": "lost",
                        "version": str(ids["Deal 002"]["version"])})
    assert r.json["moved"] is False and r.json["status"] == 403
    # A bad board field says so (no 500), hidden fields included.
    assert clerk.get("/records/deal?view=kanban&by=title").status_code == 400
    assert clerk.get("/records/deal?view=kanban&by=secret").status_code == 400


def test_a_cell_is_edited_in_place_through_the_record_update(client: FlaskClient,
                                                             instance: Instance) -> None:
    admin = _world(client)
    clerk = browser_session(instance, "clerk", PASSWORD)
    token = csrf_token(clerk.get("/records/deal").text)
    r = clerk.post("/records/deal/_columns", data={
        "csrf_token": token, "column": ["title", "qty", "price", "stage", "grand"]})
    assert r.status_code == 303
    listing = clerk.get("/records/deal?sort=title").text
    edits = re.findall(r'class="cell-edit" href="/records/deal/(\d+)/_cell\?field=(\w+)',
                       listing)
    # Editable columns only: not the title (the record's link), not a formula.
    assert {f for _, f in edits} == {"qty", "price", "stage"}
    ids = {i["title"]: i for i in client.get("/api/v1/records/deal?limit=100",
                                             headers=admin).json["items"]}
    deal = ids["Deal 002"]
    back = "/records/deal?sort=title"
    url = f"/records/deal/{deal['id']}/_cell"
    # Without JavaScript: the form's page, then back to the list.
    form = clerk.get(f"{url}?field=qty&back={back}")
    assert form.status_code == 200 and 'name="qty"' in form.text and 'type="number"' in form.text
    r = clerk.post(url, data={"csrf_token": token, "field": "qty", "qty": "7", "back": back,
                              "version": str(deal["version"])})
    assert r.status_code == 303 and r.headers["Location"] == back
    after = client.get(f"/api/v1/records/deal/{deal['id']}", headers=admin).json
    assert after["qty"] == 7 and after["grand"] == "0.00"
    # With htmx: the cell's value comes back, with a link to edit it again.
    hx = {"HX-Request": "true"}
    r = clerk.post(url, headers=hx, data={"csrf_token": token, "field": "price",
                                          "price": "3", "version": str(after["version"])})
    assert r.status_code == 200 and "3.00" in r.text and 'class="cell-edit"' in r.text
    version = after["version"] + 1
    # Refused: a stale version, a value that does not fit, validation; nothing changes.
    r = clerk.post(url, headers=hx, data={"csrf_token": token, "field": "stage",
                                          "stage": "won", "version": str(version - 1)})
    assert r.status_code == 200 and "reload" in r.text and f'value="{version}"' in r.text
    r = clerk.post(url, data={"csrf_token": token, "field": "qty", "qty": "abc",
                              "version": str(version)})
    assert r.status_code == 422 and "Qty: expected a whole number" in html.unescape(r.text)
    zh = clerk.post(url + "?lang=zh", data={"csrf_token": token, "field": "qty", "qty": "abc",
                                            "version": str(version)})
    assert zh.status_code == 422 and "数量: 应为整数" in zh.text
    clerk.get("/records/deal?lang=en")
    # A won deal needs a price: Deal 000 has none.
    zero = ids["Deal 000"]
    r = clerk.post(f"/records/deal/{zero['id']}/_cell", headers=hx, data={
        "csrf_token": token, "field": "stage", "stage": "won",
        "version": str(zero["version"])})
    assert "A won deal needs a price" in r.text
    assert client.get(f"/api/v1/records/deal/{zero['id']}", headers=admin).json["stage"] == "new"
    # Fields the user may not edit are not editable in place, even when asked for.
    for name in ("secret", "grand", "nope"):
        assert clerk.get(f"{url}?field={name}").status_code == 404, name
        r = clerk.post(url, data={"csrf_token": token, "field": name, name: "1",
                                  "version": str(version)})
        assert r.status_code == 404, name
