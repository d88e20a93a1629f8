"""Dependent picklists: a province goes with its country, a tier with a checkbox; the
write pipeline refuses other pairs whichever side changes, leaves untouched pairs alone,
and the designer's metadata checks refuse dependencies on values that do not exist."""

from __future__ import annotations

import copy
from typing import Any

from flask.testing import FlaskClient

from .conftest import error_of

SITE = {
    "name": "site",
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "country", "type": "picklist",
         "choices": [{"value": "cn"}, {"value": "us"}]},
        {"name": "province", "type": "picklist", "controlling_field": "country",
         "choices": [{"value": "zhejiang", "depends_on": ["cn"]},
                     {"value": "texas", "depends_on": ["us"]},
                     {"value": "other"}]},
        {"name": "vip", "type": "boolean"},
        {"name": "perks", "type": "multipicklist", "controlling_field": "vip",
         "choices": [{"value": "lounge", "depends_on": ["true"]},
                     {"value": "newsletter"}]},
    ],
}


def _site(client: FlaskClient, admin: dict[str, str], doc: dict[str, Any] = SITE) -> Any:
    return client.post("/api/v1/meta/objects", json=doc, headers=admin)


def _create(client: FlaskClient, admin: dict[str, str], **values: Any) -> Any:
    return client.post("/api/v1/records/site", json={"title": "x", **values}, headers=admin)


def test_pairs_that_go_together_are_saved(client: FlaskClient, admin: dict[str, str]) -> None:
    assert _site(client, admin).status_code == 201
    r = _create(client, admin, country="cn", province="zhejiang", vip=True,
                perks=["lounge", "newsletter"])
    assert r.status_code == 201, r.json
    assert (r.json["province"], r.json["perks"]) == ("zhejiang", ["lounge", "newsletter"])
    # A choice without depends_on goes with any controlling value, and with none.
    assert _create(client, admin, country="us", province="other").status_code == 201
    assert _create(client, admin, province="other").status_code == 201


def test_other_pairs_are_refused_whichever_side_changes(client: FlaskClient,
                                                        admin: dict[str, str]) -> None:
    assert _site(client, admin).status_code == 201
    r = _create(client, admin, country="us", province="zhejiang")
    assert r.status_code == 422
    assert error_of(r)["fields"]["province"] == ["'zhejiang' is not allowed when country is us"]
    r = _create(client, admin, province="texas")  # no country yet
    assert error_of(r)["fields"]["province"] == ["'texas' is not allowed when country is empty"]
    r = _create(client, admin, vip=False, perks=["lounge"])
    assert error_of(r)["fields"]["perks"] == ["'lounge' is not allowed when vip is false"]

    saved = _create(client, admin, country="cn", province="zhejiang").json
    r = client.patch(f"/api/v1/records/site/{saved['id']}", headers=admin,
                     json={"country": "us", "version": saved["version"]})
    assert r.status_code == 422 and "province" in error_of(r)["fields"]
    got = client.get(f"/api/v1/records/site/{saved['id']}", headers=admin).json
    assert (got["country"], got["province"], got["version"]) == ("cn", "zhejiang", saved["version"])
    # Changing both together is fine; so is writing a field that is in no pair.
    r = client.patch(f"/api/v1/records/site/{saved['id']}", headers=admin,
                     json={"country": "us", "province": "texas", "version": saved["version"]})
    assert r.status_code == 200, r.json
    r = client.patch(f"/api/v1/records/site/{saved['id']}", headers=admin,
                     json={"title": "renamed", "version": r.json["version"]})
    assert r.status_code == 200, r.json


def test_dependencies_must_name_values_of_the_controlling_field(
        client: FlaskClient, admin: dict[str, str]) -> None:
    doc = copy.deepcopy(SITE)
    doc["fields"][2]["choices"][0]["depends_on"] = ["jp"]
    doc["fields"][4]["choices"][0]["depends_on"] = ["yes"]
    r = _site(client, admin, doc)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert fields["$.fields[2].choices[0].depends_on"] == ["'jp' is not a value of country"]
    assert fields["$.fields[4].choices[0].depends_on"] == ["'yes' is not a value of vip"]
    doc = copy.deepcopy(SITE)
    del doc["fields"][2]["controlling_field"]
    r = _site(client, admin, doc)
    assert error_of(r)["fields"]["$.fields[2].choices[0].depends_on"] == ["needs a controlling_field"]
    assert client.get("/api/v1/meta/objects/site", headers=admin).status_code == 404
