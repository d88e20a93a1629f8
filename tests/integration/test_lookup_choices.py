"""Lookup fields on forms (decision 0037): choices are the target's records the reader may
read, named by title and a second identifying field, the current choice and recently
viewed records first, each once; a refused save keeps the chosen record by its title."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.runtime.lookups import LIMIT, second_field

from .conftest import browser_session, csrf_token, sign_in

PASSWORD = "Lookup-pass-123"
ACCOUNT: dict[str, Any] = {
    "name": "account", "label": {"zh": "客户", "en": "Account"},
    "fields": [{"name": "company", "type": "text", "required": True, "searchable": True},
               {"name": "notes", "type": "text"},
               {"name": "code", "type": "text", "unique": True}],
}
CONTACT: dict[str, Any] = {
    "name": "contact", "label": {"en": "Contact"},
    "fields": [{"name": "full_name", "type": "text", "required": True,
                "label": {"en": "Name"}},
               {"name": "account", "type": "lookup", "target": "account",
                "label": {"en": "Account"}}],
}


class World:
    def __init__(self, client: FlaskClient, instance: Instance) -> None:
        self.client = client
        admin = self.admin = sign_in(client)
        for doc in (ACCOUNT, CONTACT):
            assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
        r = client.post("/api/v1/admin/roles", headers=admin, json={
            "name": "rep", "permissions": {
                "contact": {"operations": ["create", "read", "update"], "scope": "all"},
                "account": {"operations": ["read"], "scope": "own"}}})
        assert r.status_code == 201, r.json
        r = client.post("/api/v1/admin/users", headers=admin,
                        json={"username": "rep", "password": PASSWORD, "roles": ["rep"]})
        assert r.status_code == 201, r.json
        self.ids: dict[str, int] = {}
        for company, code, owner in (("Alpha <Ltd>", "A-1", "rep"), ("Beta", "B-2", "admin"),
                                     ("Gamma", "G-3", "rep"), ("Alpha twin", "A-2", "rep")):
            r = client.post("/api/v1/records/account", headers=admin,
                            json={"company": company, "code": code})
            assert r.status_code == 201, r.json
            self.ids[company] = int(r.json["id"])
            if owner != "admin":
                assert client.post(f"/api/v1/records/account/{r.json['id']}/transfer",
                                   headers=admin, json={"owner": owner}).status_code == 200
        self.rep = browser_session(instance, "rep", PASSWORD)

    def options(self, **params: str) -> str:
        r = self.rep.get("/records/contact/_options", query_string={"field": "account",
                                                                     **params})
        assert r.status_code == 200
        return r.text


@pytest.fixture
def world(client: FlaskClient, instance: Instance) -> World:
    return World(client, instance)


def _values(html: str) -> list[str]:
    return re.findall(r'<option value="(\d+)"', html)


def test_the_second_field_is_the_first_other_unique_one(world: World,
                                                        instance: Instance) -> None:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    account, contact = snap.object("account"), snap.object("contact")
    assert account is not None and contact is not None
    found = second_field(account)
    assert found is not None and found.name == "code"  # unique, before the plain notes
    assert second_field(contact) is None  # nothing identifies a contact beside its name


def test_only_readable_records_titled_with_their_code(world: World) -> None:
    text = world.options()
    assert "Alpha &lt;Ltd&gt; · A-1" in text and "Gamma · G-3" in text
    assert "Beta" not in text and str(world.ids["Beta"]) not in _values(text)
    assert "<Ltd>" not in text  # escaped
    by_code = world.options(q_account="g-3")
    assert _values(by_code) == [str(world.ids["Gamma"])]
    assert world.options(q_account="beta").count("<option") == 1  # the blank one only


def test_recent_records_first_and_the_current_choice_kept_once(world: World) -> None:
    assert _values(world.options())[0] == str(world.ids["Alpha <Ltd>"])  # by title
    assert world.rep.get(f"/records/account/{world.ids['Gamma']}").status_code == 200
    order = _values(world.options())
    assert order[0] == str(world.ids["Gamma"]) and len(order) == len(set(order)) == 3
    assert 'data-recent="1"' in world.options()
    # Searching keeps the current choice (first, selected) even when it does not match.
    alpha = str(world.ids["Alpha <Ltd>"])
    kept = world.options(account=alpha, q_account="twin")
    assert _values(kept) == [alpha, str(world.ids["Alpha twin"])]
    assert f'<option value="{alpha}" selected' in kept


def test_the_form_works_without_scripts_and_keeps_the_choice_after_a_422(world: World) -> None:
    page = world.rep.get("/records/contact/new").text
    select = re.search(r'<select[^>]*name="account".*?</select>', page, re.S)
    assert select is not None
    assert "Gamma · G-3" in select.group(0) and "Beta" not in select.group(0)
    assert 'data-lookup-search' in page  # the search box shows with scripts only
    alpha = world.ids["Alpha <Ltd>"]
    r = world.rep.post("/records/contact/new", data={
        "csrf_token": csrf_token(page), "full_name": "", "account": str(alpha)})
    assert r.status_code == 422
    assert re.search(rf'<option selected value="{alpha}">Alpha &lt;Ltd&gt; · A-1</option>',
                     r.text), r.text[:2000]
    # Chosen beyond the first page of choices (by typing), it is still kept by its title.
    for i in range(LIMIT + 2):
        r = world.client.post("/api/v1/records/account", headers=world.admin,
                              json={"company": f"Account {i:02d}"})
        assert world.client.post(f"/api/v1/records/account/{r.json['id']}/transfer",
                                 headers=world.admin, json={"owner": "rep"}).status_code == 200
    gamma = world.ids["Gamma"]
    assert str(gamma) not in _values(world.options())
    r = world.rep.post("/records/contact/new", data={
        "csrf_token": csrf_token(page), "full_name": "", "account": str(gamma)})
    assert r.status_code == 422
    assert f'<option selected value="{gamma}">Gamma · G-3</option>' in r.text
    # An id the rep may not read is not named (its title never shows).
    beta = world.ids["Beta"]
    r = world.rep.post("/records/contact/new", data={
        "csrf_token": csrf_token(page), "full_name": "", "account": str(beta)})
    assert r.status_code == 422 and "Beta" not in r.text
    r = world.rep.post("/records/contact/new", data={
        "csrf_token": csrf_token(page), "full_name": "Ann", "account": str(alpha)})
    assert r.status_code == 303
    saved = world.rep.get(r.headers["Location"] + "/edit").text  # the record's form
    assert f'<option selected value="{alpha}">Alpha &lt;Ltd&gt; · A-1</option>' in saved
