"""The OpenAPI document and the interactive page to try it (Swagger UI from npm, listed in
``vendor.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory

from ...security import engine as permissions
from .. import openapi, vendor
from ..context import current_principal, current_tenant

bp = Blueprint("docs", __name__)

#: Where ``docs_asset`` answers (under the API's ``/api/v1``): the prefix of the Swagger UI
#: entries in ``vendor.json``.
ASSETS_URL = "/api/v1/docs/assets/"


@bp.get("/openapi.json")
def openapi_json() -> dict[str, Any]:
    principal = current_principal()
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    access = permissions.access(principal, snap)
    readable = {name: access.readable(obj) for name, obj in snap.objects.items()
                if access.allowed(obj, "read")}
    return openapi.build(tenant.key, snap, readable)


def _asset(name: str) -> Path | None:
    """The Swagger UI file for ``name`` (None when it is not one the page may load)."""
    return vendor.locate(ASSETS_URL + name, current_app.config["CRMFORGE_NODE_MODULES"])


@bp.get("/docs")
def docs_page() -> str:
    bundle = _asset("swagger-ui-bundle.js")
    return render_template("api_docs.html", have_assets=bundle is not None and bundle.is_file())


@bp.get("/docs/assets/<path:name>")
def docs_asset(name: str) -> Response:
    path = _asset(name)
    if path is None:
        abort(404)
    return send_from_directory(path.parent, path.name, max_age=3600)
