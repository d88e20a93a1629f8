"""Level 1 of the permission model over HTTP: login hours and networks, lockout, rate limits,
browser sessions with CSRF protection, token expiry and revocation, and the sign-in audit.

Every refusal also checks that nothing was issued (no token or session row) and that the
attempt left exactly one audit row with its reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.core import clock
from crmforge.runtime import Instance
from crmforge.security import accounts, org
from crmforge.security.tables import signin_audit, tokens
from crmforge.web import create_app

from .conftest import error_of, sign_in

PASSWORD = "User-pass-123"
# Monday 2 March 2026, 01:00 UTC = 09:00 in Shanghai.
MONDAY_9_SHANGHAI = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
WORKDAYS_SHANGHAI = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00",
                     "timezone": "Asia/Shanghai"}


class MovableClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    def set(self, moment: dt.datetime) -> None:
        self.now = moment


@pytest.fixture
def moving_clock() -> Iterator[MovableClock]:
    c = MovableClock(MONDAY_9_SHANGHAI)
    clock.set_clock(c)
    try:
        yield c
    finally:
        clock.set_clock(None)


def _app(instance: Instance, **config: Any) -> FlaskClient:
    return create_app(instance, {"TESTING": True, **config}).test_client()


def audit_rows(instance: Instance, tenant: str = "default") -> list[Any]:
    with instance.tenant(tenant).read() as conn:
        return list(conn.execute(sa.select(signin_audit).order_by(signin_audit.c.id)))


def credentials(instance: Instance, kind: str | None = None) -> int:
    q = sa.select(sa.func.count()).select_from(tokens)
    if kind:
        q = q.where(tokens.c.kind == kind)
    with instance.tenant("default").read() as conn:
        return int(conn.execute(q).scalar() or 0)


def add_role(client: FlaskClient, admin: dict[str, str], name: str, **settings: Any) -> None:
    r = client.post("/api/v1/admin/roles", json={"name": name, **settings}, headers=admin)
    assert r.status_code == 201, r.json


def add_user(client: FlaskClient, admin: dict[str, str], name: str, **body: Any) -> None:
    r = client.post("/api/v1/admin/users", headers=admin,
                    json={"username": name, "password": PASSWORD, **body})
    assert r.status_code == 201, r.json


def token_for(client: FlaskClient, name: str, addr: str = "127.0.0.1") -> Any:
    return client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": addr})


def bearer(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.json
    return {"Authorization": "Bearer " + response.json["token"]}


def assert_refused(instance: Instance, response: Any, reason: str, *, before: int,
                   issued_before: int, text: str, channel: str = "token") -> None:
    """401 with a clear message, nothing issued, one audit row with the reason."""
    assert response.status_code == 401, response.data
    assert text in error_of(response)["message"]
    assert credentials(instance) == issued_before
    rows = audit_rows(instance)
    assert len(rows) == before + 1
    assert (rows[-1].success, rows[-1].reason, rows[-1].channel) == (False, reason, channel)


# -- login hours ------------------------------------------------------------------------------
def test_role_hours_refuse_sign_in_and_later_requests(client, admin, instance,
                                                      moving_clock) -> None:
    add_role(client, admin, "clerk", login_hours=WORKDAYS_SHANGHAI)
    add_user(client, admin, "alice", roles=["clerk"])
    alice = bearer(token_for(client, "alice"))  # Monday 09:00 in Shanghai
    assert client.get("/api/v1/auth/me", headers=alice).status_code == 200
    moving_clock.set(dt.datetime(2026, 3, 2, 11, 59, tzinfo=dt.UTC))  # 19:59 in Shanghai
    assert client.get("/api/v1/auth/me", headers=alice).status_code == 200

    moving_clock.set(dt.datetime(2026, 3, 2, 12, 30, tzinfo=dt.UTC))  # 20:30 in Shanghai
    before, issued = len(audit_rows(instance)), credentials(instance)
    r = client.get("/api/v1/auth/me", headers=alice)
    assert_refused(instance, r, "outside hours", before=before, issued_before=issued,
                   text="not allowed at this time", channel="request")
    assert audit_rows(instance)[-1].username == "alice"
    r = token_for(client, "alice")
    assert_refused(instance, r, "outside hours", before=before + 1, issued_before=issued,
                   text="not allowed at this time")

    moving_clock.set(dt.datetime(2026, 3, 7, 1, 0, tzinfo=dt.UTC))  # Saturday 09:00 there
    r = token_for(client, "alice")
    assert_refused(instance, r, "outside hours", before=before + 2, issued_before=issued,
                   text="not allowed at this time")
    moving_clock.set(dt.datetime(2026, 3, 9, 0, 0, tzinfo=dt.UTC))  # Monday 08:00 there
    assert token_for(client, "alice").status_code == 200


def test_own_hours_across_midnight_override_the_roles(client, admin, instance,
                                                      moving_clock) -> None:
    add_role(client, admin, "clerk", login_hours=WORKDAYS_SHANGHAI)
    add_user(client, admin, "nightwatch", roles=["clerk"],
             login_hours={"days": [5], "start": "22:00", "end": "06:00", "timezone": "UTC"})
    issued = credentials(instance)
    assert token_for(client, "nightwatch").status_code == 401  # Monday 01:00 UTC
    moving_clock.set(dt.datetime(2026, 3, 6, 23, 0, tzinfo=dt.UTC))  # Friday 23:00
    token = bearer(token_for(client, "nightwatch"))
    moving_clock.set(dt.datetime(2026, 3, 7, 5, 59, tzinfo=dt.UTC))  # Saturday 05:59
    assert client.get("/api/v1/auth/me", headers=token).status_code == 200
    moving_clock.set(dt.datetime(2026, 3, 7, 6, 0, tzinfo=dt.UTC))
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401
    assert credentials(instance) == issued + 1


# -- networks ---------------------------------------------------------------------------------
def test_role_networks_ipv4_and_ipv6(client, admin, instance) -> None:
    add_role(client, admin, "branch", ip_ranges=["10.0.0.0/8", "2001:db8::/32"])
    add_user(client, admin, "bob", roles=["branch"])
    token = bearer(token_for(client, "bob", "10.20.30.40"))
    assert bearer(token_for(client, "bob", "2001:db8:0:1::7"))
    issued, before = credentials(instance), len(audit_rows(instance))
    r = token_for(client, "bob", "192.168.1.5")
    assert_refused(instance, r, "ip not allowed", before=before, issued_before=issued,
                   text="network address (192.168.1.5)")
    r = token_for(client, "bob", "2001:db9::1")
    assert_refused(instance, r, "ip not allowed", before=before + 1, issued_before=issued,
                   text="network address")
    # The token from the branch does not work from elsewhere.
    r = client.get("/api/v1/auth/me", headers=token, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert_refused(instance, r, "ip not allowed", before=before + 2, issued_before=issued,
                   text="network address (8.8.8.8)", channel="request")
    ok = client.get("/api/v1/auth/me", headers=token, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert ok.status_code == 200


def test_any_role_may_let_the_user_in(client, admin, instance, moving_clock) -> None:
    add_role(client, admin, "clerk", login_hours=WORKDAYS_SHANGHAI, ip_ranges=["10.0.0.0/8"])
    add_role(client, admin, "remote", ip_ranges=["172.16.0.0/12"])
    add_role(client, admin, "reader")
    add_user(client, admin, "carol", roles=["clerk", "remote", "reader"])
    moving_clock.set(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC))  # 23:00 in Shanghai
    assert token_for(client, "carol", "172.16.5.5").status_code == 200  # through "remote"
    r = token_for(client, "carol", "10.1.1.1")  # "clerk" network, but not clerk hours
    assert r.status_code == 401 and audit_rows(instance)[-1].reason == "outside hours"
    r = token_for(client, "carol", "8.8.8.8")  # "reader" restricts nothing, lifts nothing
    assert r.status_code == 401 and audit_rows(instance)[-1].reason == "ip not allowed"


def test_admins_ignore_role_restrictions_but_not_their_own(client, admin, instance) -> None:
    add_role(client, admin, "branch", ip_ranges=["10.0.0.0/8"])
    add_user(client, admin, "boss", roles=["branch"], is_admin=True)
    assert token_for(client, "boss", "8.8.8.8").status_code == 200
    r = client.patch("/api/v1/admin/users/boss", json={"ip_ranges": ["192.0.2.0/24"]},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert token_for(client, "boss", "192.0.2.9").status_code == 200
    assert token_for(client, "boss", "10.0.0.1").status_code == 401


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(instance, admin, client) -> None:
    add_user(client, admin, "dana", ip_ranges=["10.0.0.0/8"])
    spoof = {"X-Forwarded-For": "10.1.1.1"}
    r = client.post("/api/v1/auth/token", json={"username": "dana", "password": PASSWORD},
                    headers=spoof)
    assert r.status_code == 401
    behind_proxy = _app(instance, CRMFORGE_TRUSTED_PROXIES=1)
    r = behind_proxy.post("/api/v1/auth/token", json={"username": "dana", "password": PASSWORD},
                          headers=spoof)
    assert r.status_code == 200, r.json
    assert audit_rows(instance)[-1].remote_addr == "10.1.1.1"


# -- lockout ----------------------------------------------------------------------------------
def _wrong(client: FlaskClient, name: str) -> Any:
    return client.post("/api/v1/auth/token", json={"username": name, "password": "Wrong-123"})


def test_lockout_after_five_failures_then_unlock(client, admin, instance, moving_clock) -> None:
    add_user(client, admin, "erin")
    # More attempts than the default rate limit allows within one real minute.
    client = _app(instance, CRMFORGE_SIGNIN_LIMIT_PER_USERNAME="100 per minute")
    for _ in range(5):
        assert _wrong(client, "erin").status_code == 401
    issued, before = credentials(instance), len(audit_rows(instance))
    r = token_for(client, "erin")  # the right password, but locked
    assert_refused(instance, r, "locked", before=before, issued_before=issued, text="locked")
    assert [row.reason for row in audit_rows(instance)[-6:]] == ["wrong password"] * 5 + ["locked"]

    with instance.tenant("default").write() as conn:
        doc = org.update_user(conn, "erin", {"unlock": True}, [])
    assert doc["locked"] is False
    assert token_for(client, "erin").status_code == 200

    for _ in range(5):
        _wrong(client, "erin")
    assert token_for(client, "erin").status_code == 401
    moving_clock.move(minutes=14)
    assert token_for(client, "erin").status_code == 401
    moving_clock.move(minutes=2)  # the 15 minutes have passed
    assert token_for(client, "erin").status_code == 200


def test_lockout_numbers_are_configurable(instance, moving_clock) -> None:
    c = _app(instance, CRMFORGE_LOCKOUT_THRESHOLD=2, CRMFORGE_LOCKOUT_MINUTES=1)
    with instance.tenant("default").write() as conn:
        accounts.create_user(conn, "fay", PASSWORD)
    _wrong(c, "fay")
    _wrong(c, "fay")
    assert token_for(c, "fay").status_code == 401
    moving_clock.move(seconds=61)
    assert token_for(c, "fay").status_code == 200


def test_unlock_at_the_security_level(instance) -> None:
    tenant = instance.tenant("default")
    with tenant.write() as conn:
        accounts.create_user(conn, "gus", PASSWORD)
    for _ in range(5):
        with tenant.write() as conn, pytest.raises(accounts.Unauthorized):
            accounts.sign_in(conn, "gus", "Wrong-123")
    with tenant.write() as conn, pytest.raises(accounts.Unauthorized, match="locked"):
        accounts.sign_in(conn, "gus", PASSWORD)
    with tenant.write() as conn:
        accounts.unlock(conn, "gus")
        token, _ = accounts.sign_in(conn, "gus", PASSWORD)
    with tenant.read() as conn:
        assert accounts.principal_for_token(conn, token).username == "gus"


def test_inactive_and_unknown_users_are_audited(client, admin, instance) -> None:
    add_user(client, admin, "hal")
    assert client.delete("/api/v1/admin/users/hal", headers=admin).status_code == 204
    issued = credentials(instance)
    assert token_for(client, "hal").status_code == 401
    assert token_for(client, "nobody").status_code == 401
    assert [r.reason for r in audit_rows(instance)[-2:]] == ["inactive", "unknown user"]
    assert credentials(instance) == issued


# -- rate limiting ----------------------------------------------------------------------------
def test_rate_limit_per_username(instance) -> None:
    c = _app(instance, CRMFORGE_SIGNIN_LIMIT_PER_USERNAME="3 per minute")
    with instance.tenant("default").write() as conn:
        accounts.create_user(conn, "ivy", PASSWORD)
    for _ in range(3):
        assert _wrong(c, "ivy").status_code == 401
    issued, before = credentials(instance), len(audit_rows(instance))
    r = token_for(c, "IVY")  # the same budget whatever the case
    assert r.status_code == 429
    assert error_of(r)["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert token_for(c, "ivy").status_code == 429  # even the right password
    assert credentials(instance) == issued
    rows = audit_rows(instance)
    assert len(rows) == before + 2 and {r.reason for r in rows[-2:]} == {"rate limited"}
    # Another name is not affected, and the failures so far have not locked "ivy".
    assert token_for(c, "admin").status_code == 401


def test_rate_limit_per_address(instance) -> None:
    c = _app(instance, CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS="2 per minute")
    for name in ("a1", "a2"):
        assert token_for(c, name, "203.0.113.5").status_code == 401
    r = token_for(c, "a3", "203.0.113.5")
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert token_for(c, "a3", "203.0.113.6").status_code == 401  # another address


def test_successful_sign_ins_do_not_use_up_the_budget(instance) -> None:
    c = _app(instance, CRMFORGE_SIGNIN_LIMIT_PER_ADDRESS="2 per minute",
             CRMFORGE_SIGNIN_LIMIT_PER_USERNAME="2 per minute")
    for _ in range(5):  # an office behind one address signing in
        sign_in(c)
    assert _wrong(c, "admin").status_code == 401
    sign_in(c)
    assert _wrong(c, "admin").status_code == 401
    r = c.post("/api/v1/auth/token", json={"username": "admin", "password": "Admin-pass-123"})
    assert r.status_code == 429  # two failures: now the right password waits too


def test_rate_limit_on_the_form(instance) -> None:
    c = _app(instance, CRMFORGE_SIGNIN_LIMIT_PER_USERNAME="1 per minute")
    csrf = _form_token(c)
    data = {"username": "admin", "password": "Wrong-123", "csrf_token": csrf}
    assert c.post("/login", data=data).status_code == 401
    r = c.post("/login", data=data)
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
    page = c.post("/login", data=data, headers={"Accept": "text/html"})
    assert page.status_code == 429 and "too many sign-in attempts" in page.text
    assert page.headers["Retry-After"]
    assert [row.channel for row in audit_rows(instance)[-2:]] == ["form", "form"]


# -- browser sessions and CSRF ----------------------------------------------------------------
def _form_token(c: FlaskClient, url: str = "/login") -> str:
    page = c.get(url)
    assert page.status_code == 200
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text
    return m.group(1)


def browser(instance: Instance, username: str = "admin",
            password: str = "Admin-pass-123") -> tuple[FlaskClient, str]:
    """A client signed in through the form, and the CSRF token of its session."""
    from ..conftest import ADMIN_PASSWORD

    c = _app(instance)
    r = c.post("/login", data={"username": username,
                               "password": ADMIN_PASSWORD if username == "admin" else password,
                               "csrf_token": _form_token(c)})
    assert r.status_code == 303, r.text
    me = c.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json["auth"] == "session"
    return c, me.json["csrf_token"]


def test_login_page_is_an_accessible_form(client) -> None:
    page = client.get("/login?next=/records/booth")
    assert page.status_code == 200
    text = page.text
    assert '<label for="username">' in text and '<label for="password">' in text
    assert 'autocomplete="current-password"' in text and 'name="csrf_token"' in text
    assert 'value="/records/booth"' in text
    cookie = page.headers["Set-Cookie"]
    assert "crmforge_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "SameSite=Lax" in cookie


def test_form_sign_in_needs_the_csrf_token(instance) -> None:
    c = _app(instance)
    _form_token(c)
    before = len(audit_rows(instance))
    r = c.post("/login", data={"username": "admin", "password": "Admin-pass-123"})
    assert r.status_code == 403
    err = error_of(r)
    assert err["code"] == "forbidden" and "CSRF" in err["message"]
    assert credentials(instance, "session") == 0 and len(audit_rows(instance)) == before
    r = c.post("/login", data={"username": "admin", "password": "Admin-pass-123",
                               "csrf_token": "forged"})
    assert r.status_code == 403 and credentials(instance, "session") == 0
    page = c.post("/login", data={"username": "admin", "password": "Admin-pass-123"},
                  headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 403 and "form expired" in page.text
    assert 'name="csrf_token"' in page.text  # a fresh form to try again
    assert credentials(instance, "session") == 0 and len(audit_rows(instance)) == before


def test_form_sign_in_creates_a_session(instance) -> None:
    c = _app(instance)
    r = c.post("/login", data={"username": "admin", "password": "Admin-pass-123",
                               "csrf_token": _form_token(c), "next": "/records/booth"})
    assert r.status_code == 303 and r.headers["Location"] == "/records/booth"
    assert "crmforge_session=" in r.headers["Set-Cookie"]
    assert credentials(instance, "session") == 1
    assert audit_rows(instance)[-1].channel == "form"
    assert c.get("/api/v1/meta/objects").status_code == 200  # the cookie authenticates


def test_form_sign_in_never_redirects_off_site(instance) -> None:
    c = _app(instance)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = c.post("/login", data={"username": "admin", "password": "Admin-pass-123",
                                   "csrf_token": _form_token(c), "next": target})
        assert r.headers["Location"] == "/", target


def test_form_sign_in_failures_show_the_form_again(instance, moving_clock) -> None:
    c = _app(instance)
    r = c.post("/login", data={"username": "admin", "password": "Wrong-123",
                               "csrf_token": _form_token(c)})
    assert r.status_code == 401 and "wrong username or password" in r.text
    assert 'role="alert"' in r.text and 'value="admin"' in r.text
    assert credentials(instance, "session") == 0
    assert (audit_rows(instance)[-1].reason, audit_rows(instance)[-1].channel) == \
        ("wrong password", "form")


def test_form_sign_in_outside_hours(instance, client, admin, moving_clock) -> None:
    add_user(client, admin, "jo", login_hours={"start": "02:00", "end": "03:00"})
    c = _app(instance)
    r = c.post("/login", data={"username": "jo", "password": PASSWORD,
                               "csrf_token": _form_token(c)})
    assert r.status_code == 401 and "not allowed at this time" in r.text
    assert credentials(instance, "session") == 0
    assert (audit_rows(instance)[-1].reason, audit_rows(instance)[-1].channel) == \
        ("outside hours", "form")


def test_cookie_api_calls_need_the_csrf_token(instance) -> None:
    c, csrf = browser(instance)
    thing = {"name": "thing", "fields": [{"name": "title", "type": "text"}]}
    r = c.post("/api/v1/meta/objects", json=thing)
    assert r.status_code == 403
    err = error_of(r)
    assert err["code"] == "forbidden" and "CSRF" in err["message"]
    assert c.get("/api/v1/meta/objects").json["items"] == []  # nothing was created
    assert c.post("/api/v1/meta/objects", json=thing,
                  headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert c.post("/api/v1/meta/objects", json=thing,
                  headers={"X-CSRF-Token": csrf}).status_code == 201
    r = c.post("/api/v1/records/thing", json={"title": "x"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    rid = r.json["id"]
    assert c.patch(f"/api/v1/records/thing/{rid}", json={"title": "y", "version": 1}
                   ).status_code == 403
    assert c.delete(f"/api/v1/records/thing/{rid}").status_code == 403
    assert c.get(f"/api/v1/records/thing/{rid}").json["title"] == "x"
    assert c.delete(f"/api/v1/records/thing/{rid}",
                    headers={"X-CSRF-Token": csrf}).status_code == 204


def test_a_csrf_token_from_before_sign_in_stops_working(instance) -> None:
    c = _app(instance)
    old = _form_token(c)
    assert c.post("/login", data={"username": "admin", "password": "Admin-pass-123",
                                  "csrf_token": old}).status_code == 303
    r = c.post("/api/v1/auth/revoke-all", headers={"X-CSRF-Token": old})
    assert r.status_code == 403


def test_bearer_requests_are_exempt_from_csrf(instance, client, admin) -> None:
    c, _ = browser(instance)
    token = sign_in(c)  # the same browser also holds a bearer token
    thing = {"name": "thing", "fields": [{"name": "title", "type": "text"}]}
    assert c.post("/api/v1/meta/objects", json=thing, headers=token).status_code == 201
    # A request with a bearer token is judged by it alone, never by the cookie.
    r = c.get("/api/v1/meta/objects", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    r = c.get("/api/v1/meta/objects", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert r.status_code == 401


def test_logout_needs_csrf_and_ends_the_session(instance) -> None:
    c, csrf = browser(instance)
    assert c.post("/logout").status_code == 403
    assert c.get("/api/v1/auth/me").status_code == 200
    r = c.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    assert c.get("/api/v1/auth/me").status_code == 401
    with instance.tenant("default").read() as conn:
        row = conn.execute(sa.select(tokens).where(tokens.c.kind == "session")).one()
    assert row.revoked_at is not None


def test_a_stolen_cookie_dies_with_its_session(instance) -> None:
    c, csrf = browser(instance)
    cookie = c.get_cookie("crmforge_session")
    assert cookie is not None
    thief = _app(instance)
    thief.set_cookie("crmforge_session", cookie.value)
    assert thief.get("/api/v1/auth/me").status_code == 200
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert thief.get("/api/v1/auth/me").status_code == 401


def test_sessions_expire_when_idle_and_absolutely(instance, moving_clock) -> None:
    c, _ = browser(instance)
    for _ in range(4):  # used every 50 minutes: stays alive past the idle hour
        moving_clock.move(minutes=50)
        assert c.get("/api/v1/auth/me").status_code == 200
    moving_clock.move(minutes=61)
    r = c.get("/api/v1/auth/me")
    assert r.status_code == 401 and "inactivity" in error_of(r)["message"]

    c, _ = browser(instance)
    for _ in range(25):  # busy all day: the absolute 12 hours still end it
        moving_clock.move(minutes=30)
        if c.get("/api/v1/auth/me").status_code == 401:
            break
    assert moving_clock.now - MONDAY_9_SHANGHAI >= dt.timedelta(hours=12)
    assert c.get("/api/v1/auth/me").status_code == 401


def test_a_session_of_another_tenant_is_refused(instance) -> None:
    instance.create_tenant("acme", "Acme-pass-123")
    c, _ = browser(instance)
    r = c.get("/api/v1/meta/objects", headers={"X-Tenant": "acme"})
    assert r.status_code == 401
    error_of(r)


# -- tokens: forged, expired, revoked, other tenants ------------------------------------------
def test_forged_expired_and_foreign_tokens(client, admin, instance, moving_clock) -> None:
    token = sign_in(client)
    for bad in ({"Authorization": "Bearer " + "x" * 43}, {"Authorization": "Bearer "},
                {"Authorization": "Token abc"}, {}):
        r = client.get("/api/v1/meta/objects", headers=bad)
        assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    instance.create_tenant("acme", "Acme-pass-123")
    r = client.get("/api/v1/meta/objects", headers={**token, "X-Tenant": "acme"})
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    moving_clock.move(hours=11, minutes=59)
    assert client.get("/api/v1/meta/objects", headers=token).status_code == 200
    moving_clock.move(minutes=1)
    r = client.get("/api/v1/meta/objects", headers=token)
    assert r.status_code == 401 and "expired" in error_of(r)["message"]


def test_token_lifetime_is_configurable(instance, moving_clock) -> None:
    c = _app(instance, CRMFORGE_TOKEN_HOURS=1)
    token = sign_in(c)
    moving_clock.move(minutes=61)
    assert c.get("/api/v1/meta/objects", headers=token).status_code == 401


def test_revoke_ends_one_token(client, admin) -> None:
    other = sign_in(client)
    assert client.post("/api/v1/auth/revoke", headers=other).status_code == 204
    r = client.get("/api/v1/meta/objects", headers=other)
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    assert client.get("/api/v1/meta/objects", headers=admin).status_code == 200


def test_revoke_all_ends_every_token_and_session(instance, client, admin) -> None:
    second = sign_in(client)
    browser_client, _ = browser(instance)
    add_user(client, admin, "kim")
    kim = bearer(token_for(client, "kim"))
    r = client.post("/api/v1/auth/revoke-all", headers=admin)
    assert r.status_code == 200 and r.json == {"revoked": 3}
    for headers in (admin, second):
        assert client.get("/api/v1/meta/objects", headers=headers).status_code == 401
    assert browser_client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers=kim).status_code == 200  # not kim's


def test_revoke_all_from_a_browser_session(instance) -> None:
    c, csrf = browser(instance)
    assert c.post("/api/v1/auth/revoke-all").status_code == 403  # CSRF applies
    r = c.post("/api/v1/auth/revoke-all", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json["revoked"] >= 1
    assert c.get("/api/v1/auth/me").status_code == 401


def test_password_change_and_deactivation_revoke_tokens(client, admin, instance) -> None:
    add_user(client, admin, "lee")
    first, second = bearer(token_for(client, "lee")), bearer(token_for(client, "lee"))
    tenant = instance.tenant("default")
    with tenant.write() as conn, pytest.raises(accounts.ValidationFailed):
        accounts.change_password(conn, "lee", "New-pass-456", current_password="Wrong-123")
    assert client.get("/api/v1/auth/me", headers=first).status_code == 200
    with tenant.write() as conn, pytest.raises(accounts.ValidationFailed):
        accounts.change_password(conn, "lee", PASSWORD)  # the same password again
    with tenant.write() as conn:
        assert accounts.change_password(conn, "lee", "New-pass-456",
                                        current_password=PASSWORD) == 2
    for token in (first, second):
        assert client.get("/api/v1/auth/me", headers=token).status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "lee", "password": "New-pass-456"})
    third = bearer(r)
    with tenant.write() as conn:
        assert accounts.deactivate(conn, "lee") == 1
        org.update_user(conn, "lee", {"active": True}, [])
    # Reactivation does not bring the old token back.
    assert client.get("/api/v1/auth/me", headers=third).status_code == 401


# -- the sign-in audit ------------------------------------------------------------------------
def test_signin_audit_for_administrators(client, admin, instance) -> None:
    add_user(client, admin, "max")
    _wrong(client, "max")
    token_for(client, "max")
    _wrong(client, "ghost")
    r = client.get("/api/v1/admin/signin-audit", headers=admin)
    assert r.status_code == 200
    items = r.json["items"]
    assert [(i["username"], i["success"], i["reason"]) for i in items[:3]] == [
        ("ghost", False, "unknown user"), ("max", True, "ok"), ("max", False, "wrong password")]
    assert {"id", "at", "remote_addr", "channel"} <= set(items[0])
    r = client.get("/api/v1/admin/signin-audit?user=max&success=false", headers=admin)
    assert [i["reason"] for i in r.json["items"]] == ["wrong password"]
    page = client.get("/api/v1/admin/signin-audit?limit=2", headers=admin).json
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"/api/v1/admin/signin-audit?limit=2&cursor={page['next_cursor']}",
                      headers=admin).json
    assert rest["items"][0]["id"] < page["items"][-1]["id"]
    assert client.get("/api/v1/admin/signin-audit?limit=0", headers=admin).status_code == 400
    maxh = bearer(token_for(client, "max"))
    r = client.get("/api/v1/admin/signin-audit", headers=maxh)
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
