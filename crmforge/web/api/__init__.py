"""The REST API under ``/api/v1`` (DESIGN §9). Views are thin: they parse HTTP, call a
service and shape JSON; every rule lives in the services and the permission engine."""

from __future__ import annotations

from flask import Blueprint

from . import (
    admin,
    approvals,
    apps,
    auth,
    automations,
    docs,
    files,
    imports,
    jobs,
    layouts,
    list_views,
    meta,
    notes,
    packs,
    processes,
    recent,
    records,
    search,
    webhooks,
)

api = Blueprint("api", __name__, url_prefix="/api/v1")
for module in (auth, meta, layouts, records, list_views, admin, packs, docs, processes,
               approvals, jobs, files, imports, automations, webhooks, search, apps, notes,
               recent):
    api.register_blueprint(module.bp)

__all__ = ["api"]
