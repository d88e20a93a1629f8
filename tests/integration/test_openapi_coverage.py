"""Every live API route is in the OpenAPI document: integrators and generated clients meet
the whole API. A route added without its documentation fails here."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

#: Routes that are not part of the JSON API (the documentation page and its files).
NOT_API = {"/api/v1/docs", "/api/v1/docs/assets/{}"}


def test_every_route_is_documented(client, admin) -> None:
    r = client.post("/api/v1/meta/objects", headers=admin, json={
        "name": "thing", "fields": [{"name": "title", "type": "text"}]})
    assert r.status_code == 201
    doc = client.get("/api/v1/openapi.json", headers=admin).json
    validate(doc)
    documented = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
                  for path, ops in doc["paths"].items() for method in ops
                  if method in ("get", "post", "put", "patch", "delete")}
    missing = []
    app = client.application
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<[^>]+>", "{}", rule.rule)
        if path in NOT_API:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            generic = (method, path)
            per_object = (method, path.replace("/records/{}", "/records/thing", 1))
            if generic not in documented and per_object not in documented:
                missing.append(f"{method} {rule.rule}")
    assert missing == [], missing
    # ... and nothing documented that does not answer: each documented operation is a route.
    live = {(method, re.sub(r"<[^>]+>", "{}", rule.rule))
            for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    phantom = sorted(f"{m} {p}" for m, p in documented
                     if (m, p) not in live
                     and (m, p.replace("/records/thing", "/records/{}", 1)) not in live)
    assert phantom == [], phantom
    operation_ids = [op["operationId"] for ops in doc["paths"].values()
                     for m, op in ops.items() if isinstance(op, dict) and "operationId" in op]
    assert len(operation_ids) == len(set(operation_ids))  # stable, unique names
