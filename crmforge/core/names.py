"""Rules for API names that reach SQL as identifiers (DESIGN §2)."""

from __future__ import annotations

import re

from .filters import RESERVED_PARAMS

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

SYSTEM_FIELDS = (
    "id",
    "owner_id",
    "department_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "version",
    "deleted_at",
)

# Reserved words of SQL:2016, SQLite and PostgreSQL that could confuse a reader or a tool
# even when quoted. Quoting makes them safe for the database; refusing them keeps exports,
# reports and hand-written SQL against the real tables sane.
SQL_RESERVED = frozenset(
    """
    abort action add after all alter always analyze and any array as asc asymmetric attach
    authorization autoincrement before begin between bigint binary bit boolean both by
    cascade case cast char character check collate collation column commit concurrently
    conflict constraint create cross current current_catalog current_date current_role
    current_schema current_time current_timestamp current_user database date default
    deferrable deferred delete desc detach distinct do drop each else end escape except
    exclude exclusive exists explain fail false fetch filter first following for foreign
    freeze from full generated glob grant group groups having if ignore ilike immediate in
    index indexed initially inner insert instead int integer intersect into is isnull join
    key last lateral leading left like limit localtime localtimestamp match materialized
    natural no not nothing notnull null nulls numeric of offset on only or order others
    outer over overlaps partition placing plan pragma preceding primary query raise range
    real recursive references regexp reindex release rename replace restrict returning right
    rollback row rowid rows savepoint select session_user similar smallint some table
    tablesample temp temporary then ties time timestamp to trailing transaction trigger true
    unbounded union unique update user using vacuum values varchar variadic verbose view
    virtual when where window with without
    """.split()  # noqa: SIM905 - a word list reads best as text
)


def name_problem(name: object, *, kind: str = "name") -> str | None:
    """Why ``name`` cannot be an API name, or None when it can."""
    if not isinstance(name, str):
        return f"{kind} must be a string"
    if len(name) > 40:
        return f"{kind} '{name[:50]}' is longer than 40 characters"
    if not NAME_PATTERN.fullmatch(name):  # "$" alone accepts a trailing newline
        return (
            f"{kind} '{name[:50]}' must start with a lowercase ASCII letter and contain only "
            "lowercase letters, digits and underscores"
        )
    if "__" in name:
        return f"{kind} '{name}' must not contain '__' (it separates a field from a filter operator)"
    if name.endswith("_"):
        return f"{kind} '{name}' must not end with '_'"
    if name in SQL_RESERVED:
        return f"{kind} '{name}' is a reserved SQL word"
    if name in SYSTEM_FIELDS:
        return f"{kind} '{name}' is a system field"
    if name in RESERVED_PARAMS:
        return f"{kind} '{name}' is a reserved list parameter"
    return None
