"""App documents (admin only): ``/api/v1/meta/apps``. An app groups objects for the top bar
of the business pages (decision 0034); every check is the Designer's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ...runtime import Designer
from ...security import engine as permissions
from ...security.principal import Principal
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("apps", __name__)


def _admin() -> Principal:
    p = current_principal()
    permissions.check_admin(p)
    return p


def _designer() -> Designer:
    return Designer(current_tenant())


@bp.get("/meta/apps")
def list_apps() -> dict[str, Any]:
    _admin()
    return {"items": _designer().apps()}


@bp.post("/meta/apps")
def create_app() -> tuple[dict[str, Any], int]:
    p = _admin()
    return _designer().create_app(p, json_body()), 201


@bp.get("/meta/apps/<name>")
def get_app(name: str) -> dict[str, Any]:
    _admin()
    return _designer().app(name)


@bp.patch("/meta/apps/<name>")
def update_app(name: str) -> dict[str, Any]:
    p = _admin()
    return _designer().update_app(p, name, json_body())


@bp.delete("/meta/apps/<name>")
def delete_app(name: str) -> tuple[str, int]:
    p = _admin()
    _designer().delete_app(p, name)
    return "", 204
