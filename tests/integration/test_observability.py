"""Operations: liveness and readiness probes, Prometheus metrics by route template,
request ids in and out (also in a 500's body and in the logs), JSON access logs."""

from __future__ import annotations

import json
import logging
import re

import sqlalchemy as sa

from crmforge.web import create_app
from crmforge.web.observability import JsonFormatter, RequestIdFilter


def test_health_and_readiness(client, instance) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    working = instance.control
    instance.control = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200  # alive, only not ready
    finally:
        instance.control.dispose()
        instance.control = working


def test_metrics_count_requests_by_route_template(client, admin) -> None:
    for rid in (1, 2, 3):
        client.get(f"/api/v1/meta/objects/nothing{rid}", headers=admin)
    client.get("/api/v1/meta/objects", headers=admin)
    text = client.get("/metrics").get_data(as_text=True)
    assert client.get("/metrics").mimetype.startswith("text/plain")
    line = re.search(r'crmforge_http_requests_total\{method="GET",'
                     r'route="/api/v1/meta/objects/<name>",status="404"\} (\d+)', text)
    assert line and float(line.group(1)) >= 3
    assert "nothing1" not in text  # never a series per raw path
    assert 'crmforge_http_request_seconds_bucket{le="0.005",method="GET"' in text
    assert "crmforge_db_pool_connections" in text and "crmforge_access_audit_pending" in text
    assert 'crmforge_jobs{state="running"}' in text


def test_request_ids_in_and_out(client) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    r = client.get("/healthz", headers={"X-Request-ID": "no spaces <allowed>"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    r = client.get("/healthz", headers={"X-Request-ID": "x" * 65})
    assert len(r.headers["X-Request-ID"]) == 32
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["X-Request-ID"])


def test_a_500_names_its_request_id_in_the_body_and_the_log(instance, caplog) -> None:
    app = create_app(instance, {"TESTING": True, "PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    handler_filter = RequestIdFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.ERROR, logger="crmforge.web"):
        r = app.test_client().get("/boom", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 500
    assert r.json["error"]["details"]["request_id"] == "req-42"
    assert "req-42" in r.json["error"]["message"] and "kaboom" not in str(r.json)
    records = [rec for rec in caplog.records if rec.name == "crmforge.web"]
    assert records and records[0].request_id == "req-42"  # type: ignore[attr-defined]


def test_access_log_lines_are_json(client, admin, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="crmforge.access"):
        client.get("/api/v1/meta/objects", headers={**admin, "X-Request-ID": "log-1"})
    rec = next(r for r in caplog.records if r.name == "crmforge.access")
    rec.request_id = "log-1"  # what RequestIdFilter adds inside the request
    line = json.loads(JsonFormatter().format(rec))
    assert line["route"] == "/api/v1/meta/objects" and line["status"] == 200
    assert line["tenant"] == "default" and line["user"] == "admin"
    assert line["request_id"] == "log-1" and line["ms"] >= 0


def test_settings_come_from_the_environment(instance, monkeypatch) -> None:
    from crmforge.web.settings import SettingError
    monkeypatch.setenv("CRMFORGE_TRUSTED_PROXIES", "2")
    monkeypatch.setenv("CRMFORGE_SECURE_COOKIES", "false")
    monkeypatch.setenv("CRMFORGE_TOKEN_HOURS", "3")
    monkeypatch.setenv("CRMFORGE_UNKNOWN_THING", "ignored")
    app = create_app(instance, {"TESTING": True})
    assert app.config["CRMFORGE_TRUSTED_PROXIES"] == 2
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["CRMFORGE_TOKEN_HOURS"] == 3
    assert "CRMFORGE_UNKNOWN_THING" not in app.config
    monkeypatch.setenv("CRMFORGE_SECURE_COOKIES", "perhaps")
    try:
        create_app(instance, {"TESTING": True})
    except SettingError as exc:
        assert "CRMFORGE_SECURE_COOKIES" in str(exc)
    else:
        raise AssertionError("a bad setting must stop the app")


def test_sign_in_limits_are_shared_between_processes_through_redis(instance, redis_url,
                                                                   monkeypatch) -> None:
    """Two apps (as two worker processes would) count failed sign-ins in one Redis."""
    monkeypatch.setenv("CRMFORGE_RATELIMIT_STORAGE", redis_url)
    monkeypatch.setenv("CRMFORGE_SIGNIN_LIMIT_PER_USERNAME", "3 per minute")
    first = create_app(instance, {"TESTING": True}).test_client()
    second = create_app(instance, {"TESTING": True}).test_client()
    bad = {"username": "admin", "password": "wrong-password-1"}
    answers = [c.post("/api/v1/auth/token", json=bad).status_code
               for c in (first, second, first)]
    assert answers == [401, 401, 401]
    r = second.post("/api/v1/auth/token", json=bad)
    assert r.status_code == 429 and "Retry-After" in r.headers
