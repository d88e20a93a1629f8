"""The OpenAPI document and the interactive page to try it (Swagger UI from npm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory

from ...security import engine as permissions
from .. import openapi
from ..context import current_principal, current_tenant

bp = Blueprint("docs", __name__)


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


def _assets() -> Path:
    return Path(current_app.config["CRMFORGE_NODE_MODULES"]) / "swagger-ui-dist"


@bp.get("/docs")
def docs_page() -> str:
    return render_template("api_docs.html", have_assets=_assets().is_dir())


@bp.get("/docs/assets/<path:name>")
def docs_asset(name: str) -> Response:
    if name not in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        abort(404)
    return send_from_directory(_assets(), name, max_age=3600)
