"""Browser fixtures: the app served on 127.0.0.1 by werkzeug in a thread (SQLite; the
database is not what these tests are about), and Debian's Chromium driven by Playwright.

Playwright's own browser download is never used: ``executable_path`` points at
``/usr/bin/chromium`` and each browser gets a fresh profile folder. Screenshots go to
``build/screenshots/`` (not committed)."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from crmforge.runtime import Instance
from crmforge.web import create_app

from ..conftest import ADMIN_PASSWORD

CHROMIUM = os.environ.get("CRMFORGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"



class Server:
    """The running app and a small JSON client for its API."""

    def __init__(self, url: str, instance: Instance | None = None) -> None:
        self.url = url
        self.token: str | None = None
        self.instance = instance  # for metadata the API does not offer (dashboards)

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                raw = res.read()
                return res.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def sign_in_api(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        status, body = self.api("POST", "/api/v1/auth/token",
                                {"username": username, "password": password})
        assert status == 200, body
        self.token = body["token"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    inst = Instance.init(tmp_path_factory.mktemp("browser") / "instance", ADMIN_PASSWORD,
                         database_url=None)
    # Plain HTTP on 127.0.0.1, so the cookies cannot be Secure-only here.
    app = create_app(inst, {"SESSION_COOKIE_SECURE": False, "RATELIMIT_ENABLED": False})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_port}", inst)
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        inst.dispose()


#: Script errors and console errors of every page of the running test (``_watch``).
SCRIPT_ERRORS: list[str] = []


def _watch(page: Any) -> None:
    """Record what a page's scripts throw and what it logs as an error: either fails the
    test (``no_script_errors``). A page answered with an error status (a form shown again
    with 422, a 403 page) is logged too; that is the page's answer, which its test checks,
    so only resources the page loads count."""
    def console(msg: Any) -> None:
        if msg.type != "error":
            return
        source = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and source == page.url:
            return
        # A form sent while htmx still asks for its live state: leaving the page aborts
        # that request, and htmx logs the abort (and its end) as errors. A request that
        # fails also logs htmx:responseError or htmx:sendError, which still count.
        if msg.text.startswith(("htmx:sendAbort", "htmx:afterRequest")):
            return
        SCRIPT_ERRORS.append(f"{page.url}: {msg.text} ({source})")

    page.on("pageerror", lambda exc: SCRIPT_ERRORS.append(f"{page.url}: {exc}"))
    page.on("console", console)


class WatchedBrowser:
    """The browser, with every page of every new context watched for script errors."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)

    def new_context(self, **options: Any) -> Any:
        context = self._browser.new_context(**options)
        context.on("page", _watch)
        return context


@pytest.fixture(autouse=True)
def no_script_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A JavaScript error or a console error on any page fails the test. A test that
    provokes them on purpose (a blocked injected script) is marked
    ``script_errors_expected``."""
    SCRIPT_ERRORS.clear()
    yield
    errors = list(SCRIPT_ERRORS)
    SCRIPT_ERRORS.clear()
    if request.node.get_closest_marker("script_errors_expected") is None:
        assert not errors, "errors in the browser console:\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (on Debian: apt-get install chromium)")
    # CI runs these beside the whole suite on two cores: an assertion waits as long as
    # an action does, so a loaded machine is slow rather than red.
    sync_api.expect.set_options(timeout=15_000)
    with sync_api.sync_playwright() as p:
        # launch() gives the browser a fresh temporary profile folder (user-data-dir) of
        # its own; each test user gets a separate context (own cookies).
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield WatchedBrowser(b)
        finally:
            b.close()


def sign_in_page(browser: Any, server: Server, user: str, password: str, start: str,
                 **context_options: Any) -> tuple[Any, Any, list[Any]]:
    """A fresh context (own cookies) that opens ``start``, is sent to the sign-in page,
    signs in and comes back. Script dialogs are dismissed and recorded in the returned
    list, so a test can assert that no injected script ran."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-US", **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[Any] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server.url + start)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + start)
    # The address changes when the page starts to arrive; its deferred scripts have run
    # only once it has loaded (tests that type before that test the pages' catch-up).
    page.wait_for_load_state("load")
    return context, page, dialogs


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
