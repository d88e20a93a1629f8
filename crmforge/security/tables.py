"""Security's own system tables, in every tenant's namespace."""

from __future__ import annotations

import sqlalchemy as sa

security_metadata = sa.MetaData()

users = sa.Table(
    "sys_users",
    security_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("username", sa.String(150), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("display_name", sa.String(200)),
    sa.Column("email", sa.String(254)),
    sa.Column("is_admin", sa.Boolean(create_constraint=False), nullable=False, default=False),
    sa.Column("active", sa.Boolean(create_constraint=False), nullable=False, default=True),
    sa.Column("department_id", sa.BigInteger, nullable=True),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime, nullable=True),
    sa.Column("login_hours", sa.Text, nullable=True),
    sa.Column("ip_ranges", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

tokens = sa.Table(
    "sys_tokens",
    security_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
    # "api" (a bearer token) or "session" (a browser session behind the session cookie);
    # see docs/decisions/0004-sessions.md.
    sa.Column("kind", sa.String(10), nullable=False, default="api", server_default="api"),
    # Browser sessions end after a period of inactivity; refreshed at most once a minute.
    sa.Column("last_used_at", sa.DateTime, nullable=True),
)

signin_audit = sa.Table(
    "sys_signin_audit",
    security_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("username", sa.String(150), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("success", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("reason", sa.String(100), nullable=False),
    sa.Column("remote_addr", sa.String(64)),
    # "token" (POST /api/v1/auth/token), "form" (POST /login) or "request" (a later request
    # refused by the login hours or address rules).
    sa.Column("channel", sa.String(10), nullable=True),
    sa.Index("ix_signin_audit_user", "username", "id"),
)

_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")

departments = sa.Table(
    "sys_departments",
    security_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("label", sa.Text, nullable=True),
    sa.Column("parent_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("head_user_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Every (ancestor, descendant) pair of the department tree, itself included at depth 0, so
# "this department and everything below it" is one indexed lookup, however deep the tree.
department_closure = sa.Table(
    "sys_department_closure",
    security_metadata,
    sa.Column("ancestor_id", sa.BigInteger, primary_key=True),
    sa.Column("descendant_id", sa.BigInteger, primary_key=True),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Index("ix_closure_descendant", "descendant_id", "ancestor_id"),
)

user_roles = sa.Table(
    "sys_user_roles",
    security_metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("role", sa.String(40), primary_key=True),
    sa.Index("ix_user_roles_role", "role", "user_id"),
)

shares = sa.Table(
    "sys_shares",
    security_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("department_id", sa.BigInteger, nullable=True),
    sa.Column("access", sa.String(10), nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_shares_user", "object_id", "user_id", "record_id"),
    sa.Index("ix_shares_department", "object_id", "department_id", "record_id"),
    sa.Index("ix_shares_record", "object_id", "record_id"),
)

temporary_access = sa.Table(
    "sys_temporary_access",
    security_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("access", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_temp_access_user", "object_id", "user_id", "record_id"),
)

record_locks = sa.Table(
    "sys_record_locks",
    security_metadata,
    sa.Column("object_id", sa.String(20), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("editable_fields", sa.Text, nullable=False),
    sa.Column("locked_at", sa.DateTime, nullable=False),
)

access_audit = sa.Table(
    "sys_access_audit",
    security_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("username", sa.String(150), nullable=False),
    sa.Column("object_id", sa.String(20), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("record_ids", sa.Text, nullable=False),
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_access_audit_user", "user_id", "at"),
)

admin_audit = sa.Table(
    "sys_admin_audit",
    security_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("actor", sa.String(150), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("details", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

#: Names of API keys (security/api_keys.py); the key is a ``tokens`` row of kind ``key``.
api_keys = sa.Table(
    "sys_api_keys",
    security_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("token_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_by", sa.String(150), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


#: One row (id 1): raised with every change that could void a cached token resolution
#: (security/credentials.py).
credentials_version = sa.Table(
    "sys_credentials_version",
    security_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)
