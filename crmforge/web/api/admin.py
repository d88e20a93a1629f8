"""Administration endpoints: users, departments, roles, the explain tool and audit logs.

Every endpoint requires an administrator, and every change is written to the admin audit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ...core.errors import BadRequest, NotFound
from ...runtime import Designer, masking
from ...runtime.context import open_ctx, record_id
from ...runtime.designer_documents import role_version
from ...security import audit, org, people
from ...security import engine as permissions
from ...security.engine import Decision
from ...security.explain import explain
from ...security.explain_fields import explain_field
from ...security.principal import Principal
from ..context import current_principal, current_tenant
from .util import json_body

bp = Blueprint("admin", __name__)


def _admin() -> Principal:
    p = current_principal()
    permissions.check_admin(p)
    return p


def _role_names() -> list[str]:
    return [r["name"] for r in Designer(current_tenant()).roles()]


# -- users ----------------------------------------------------------------------------------
@bp.get("/admin/users")
def list_users() -> dict[str, Any]:
    _admin()
    with current_tenant().read() as conn:
        return {"items": org.list_users(conn)}


@bp.post("/admin/users")
def create_user() -> tuple[dict[str, Any], int]:
    p = _admin()
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("send {\"username\", \"password\", \"department\", \"roles\"}")
    known = _role_names()
    with current_tenant().write() as conn:
        doc = people.add_user(conn, p, body, known)
    return doc, 201


@bp.get("/admin/users/<username>")
def get_user(username: str) -> dict[str, Any]:
    _admin()
    with current_tenant().read() as conn:
        return org.user_doc(conn, org.user_row(conn, username))


@bp.patch("/admin/users/<username>")
def update_user(username: str) -> dict[str, Any]:
    p = _admin()
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("send the fields to change")
    known = _role_names()
    with current_tenant().write() as conn:
        doc = people.change_user(conn, p, username, body, known)
    return doc


@bp.delete("/admin/users/<username>")
def deactivate_user(username: str) -> tuple[str, int]:
    """Users are deactivated, never deleted: their records and history keep their name."""
    p = _admin()
    with current_tenant().write() as conn:
        people.change_user(conn, p, username, {"active": False}, [],
                           action="deactivate user")
    return "", 204


# -- departments ----------------------------------------------------------------------------
@bp.get("/admin/departments")
def list_departments() -> dict[str, Any]:
    _admin()
    with current_tenant().read() as conn:
        return {"items": org.list_departments(conn)}


@bp.post("/admin/departments")
def create_department() -> tuple[dict[str, Any], int]:
    p = _admin()
    body = json_body()
    with current_tenant().write() as conn:
        doc = people.add_department(conn, p, body)
    return doc, 201


@bp.get("/admin/departments/<name>")
def get_department(name: str) -> dict[str, Any]:
    _admin()
    with current_tenant().read() as conn:
        return org.get_department(conn, name)


@bp.patch("/admin/departments/<name>")
def update_department(name: str) -> dict[str, Any]:
    p = _admin()
    body = json_body()
    with current_tenant().write() as conn:
        doc = people.change_department(conn, p, name, body)
    return doc


@bp.delete("/admin/departments/<name>")
def delete_department(name: str) -> tuple[str, int]:
    p = _admin()
    with current_tenant().write() as conn:
        people.remove_department(conn, p, name)
    return "", 204


# -- roles (metadata, versioned) ------------------------------------------------------------
@bp.get("/admin/roles")
def list_roles() -> dict[str, Any]:
    _admin()
    return {"items": Designer(current_tenant()).roles()}


@bp.post("/admin/roles")
def create_role() -> tuple[dict[str, Any], int]:
    return Designer(current_tenant()).create_role(_admin(), json_body()), 201


def _with_etag(role: dict[str, Any]) -> Response:
    """A role with its version as the ``ETag`` (what ``If-Match`` sends back)."""
    response = jsonify(role)
    response.set_etag(role_version(role))
    return response


def _role_if_match() -> str | None:
    """The role version an ``If-Match`` header names (quoted or not), or None."""
    raw = (request.headers.get("If-Match") or "").strip()
    if not raw:
        return None
    if raw.startswith("W/"):
        raw = raw[2:]
    return raw.strip('"')


@bp.get("/admin/roles/<name>")
def get_role(name: str) -> Response:
    _admin()
    return _with_etag(Designer(current_tenant()).role(name))


@bp.patch("/admin/roles/<name>")
def update_role(name: str) -> Response:
    """A change of the role; with ``If-Match`` (its ``ETag``) only over the version read,
    else a 409 (decision 0040)."""
    return _with_etag(Designer(current_tenant()).update_role(_admin(), name, json_body(),
                                                             _role_if_match()))


@bp.post("/admin/roles/<name>/copy")
def copy_role(name: str) -> tuple[dict[str, Any], int]:
    """A new role ``{"name", "label"}`` granting what ``name`` grants (decision 0040)."""
    return Designer(current_tenant()).copy_role(_admin(), name, json_body()), 201


@bp.delete("/admin/roles/<name>")
def delete_role(name: str) -> tuple[str, int]:
    Designer(current_tenant()).delete_role(_admin(), name)
    return "", 204


# -- explain and audit ----------------------------------------------------------------------
@bp.get("/admin/explain")
def explain_access() -> dict[str, Any]:
    _admin()
    args = request.args
    if args.get("field"):
        missing = [k for k in ("user", "object") if not args.get(k)]
        if missing:
            raise BadRequest(f"explain needs {', '.join(missing)}")
        return explain_field_for(args["user"], args["object"], args["field"]).as_dict()
    missing = [k for k in ("user", "object", "operation") if not args.get(k)]
    if missing:
        raise BadRequest(f"explain needs {', '.join(missing)}")
    return explain_for(args["user"], args["object"], args["operation"],
                       args.get("record")).as_dict()


def _subject(conn: Any, username: str) -> tuple[Principal, bool]:
    row = org.user_row(conn, username)
    return Principal(row.id, row.username, bool(row.is_admin), row.department_id,
                     roles=frozenset(org.user_doc(conn, row)["roles"])), bool(row.active)


def explain_field_for(username: str, object_name: str, field: str) -> Decision:
    """Whether a user sees a field, and why (derived fields name their hidden source)."""
    tenant = current_tenant()
    with tenant.read() as conn:
        subject, _ = _subject(conn, username)
        ctx = open_ctx(tenant, permissions, conn, subject, object_name)
        return explain_field(ctx.access, ctx.obj, field,
                             masked_by_row=field in masking.row_paths(ctx, ctx.obj))


def explain_for(username: str, object_name: str, operation: str,
                record: str | None) -> Decision:
    """The explain tool's answer for a user by name (also the designer's explain page)."""
    tenant = current_tenant()
    with tenant.read() as conn:
        subject, active = _subject(conn, username)
        ctx = open_ctx(tenant, permissions, conn, subject, object_name)
        rid = record_id(record) if record else None
        return explain(conn, ctx.access, ctx.obj, ctx.table, rid, operation, active=active)


@bp.get("/admin/audit/access")
def access_audit() -> dict[str, Any]:
    _admin()
    tenant = current_tenant()
    tenant.access_log.flush()  # this process's latest reads too (others' within a second)
    with tenant.read() as conn:
        user_id = None
        if request.args.get("user"):
            user_id = org.user_row(conn, request.args["user"]).id
        object_id = None
        if request.args.get("object"):
            obj = tenant.snapshot(conn).object(request.args["object"])
            if obj is None:
                raise NotFound(f"no object named '{request.args['object'][:40]}'")
            object_id = obj.id
        return {"items": audit.access_log(conn, user_id=user_id, object_id=object_id)}


@bp.get("/admin/audit/admin")
def admin_audit() -> dict[str, Any]:
    _admin()
    with current_tenant().read() as conn:
        return {"items": audit.admin_log(conn)}
