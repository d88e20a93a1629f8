"""The Flask application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from ..composition import wire
from ..core.ids import MAX_ID
from ..runtime import Instance
from . import (
    context,
    display_settings,
    errors,
    observability,
    ratelimit,
    request_checks,
    security_headers,
    session,
    settings,
    uploads,
)
from .api import api

#: Request bodies above this size answer 413 (documented in the OpenAPI description).
MAX_BODY_BYTES = 1024 * 1024

REPO_ROOT = Path(__file__).resolve().parents[2]


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route, capped at the largest id a table can hold: a path
    with a bigger number is a 404 at once instead of reaching the database, whose driver
    refuses to bind it (a server error, not an answer). Not a failed match: werkzeug would
    then answer a 405 for a path whose other methods take the same number."""

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if isinstance(number, int) and number > MAX_ID:
            raise NotFound()
        return number


class CRMForgeFlask(Flask):
    """Flask, answering "is this function a coroutine?" once per function.

    Flask asks it of every hook and view on every request (``ensure_sync``); with about
    fifteen hooks that was a measurable share of a short request. The functions are the
    app's own hooks and views, registered once, so the answers are kept for good."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        try:
            return self._synced[func]
        except (KeyError, TypeError):  # TypeError: an unhashable callable
            synced = super().ensure_sync(func)
            if func is synced and len(self._synced) < 1024:
                self._synced[func] = synced
            return synced


def create_app(instance: Instance | str | Path, config: dict[str, Any] | None = None) -> Flask:
    inst = wire(instance if isinstance(instance, Instance) else Instance.open(instance))
    app = CRMForgeFlask(__name__)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(
        SECRET_KEY=inst.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False,
        CRMFORGE_NODE_MODULES=str(REPO_ROOT / "node_modules"),
        # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted
        # (werkzeug's ProxyFix); 0 trusts none, so clients cannot fake their address.
        CRMFORGE_TRUSTED_PROXIES=0,
        **session.DEFAULTS,
        **ratelimit.DEFAULTS,
        **uploads.DEFAULTS,
        **display_settings.DEFAULTS,
    )
    app.config.update(settings.from_environment(app.config))  # operators' settings
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if config:
        app.config.update(config)
    app.extensions["crmforge"] = inst
    inst.blob_store()  # a bad file store setting stops the server now, naming the variable
    uploads.policy_of(app.config)  # ... and so does a bad upload setting
    display_settings.check(app.config)  # ... and a time zone or currency pages cannot use
    observability.register(app)  # first: the request id exists before anything can fail
    errors.register(app)
    uploads.install(app)  # before the checks that read request bodies
    request_checks.install(app)  # before context: a tenant name is looked up there
    context.register(app)
    app.register_blueprint(api)

    from .pages import bp as pages

    app.register_blueprint(pages)

    from admin_ui import bp as designer  # the browser designer (web layer, DESIGN §1)

    app.register_blueprint(designer)
    session.install(app)
    ratelimit.install(app)
    security_headers.install(app)
    proxies = int(app.config["CRMFORGE_TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_port=proxies)
    return app
