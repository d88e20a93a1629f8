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
)
