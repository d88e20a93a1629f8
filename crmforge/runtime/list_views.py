"""Saved list views: a named list query (filters, sort, search) of one object.

A view is its owner's; an administrator may share one with everyone who may read the
object. The query is kept as the list page's query string, so opening a view is opening an
address, and it is checked against the object with the list parser and the same
field/operator/sort checks a list runs, so a broken view is refused when saved rather than
when opened. ``sys_list_views`` is created on first use (like ``sys_packs``), so tenants
created before views existed need no migration (decision 0011).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa

from ..core.errors import Conflict, CRMError, Forbidden, NotFound, ValidationFailed
from ..core.filters import COUNT_PARAM, RESERVED_PARAMS, parse_list_query
from ..metadata.model import ObjectDef
from ..security.engine import Access, PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from ..security.tables import users
from . import index_advice
from .context import utcnow
from .fields import SYSTEM_FIELD_DEFS, lookup_field
from .instance import Tenant
from .lazy_tables import LazyTables
from .query import resolve_sort, where_clauses

views_metadata = sa.MetaData()
_pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")

NAME_MAX = 100
QUERY_MAX = 4000
#: Parameters of one page of a list, not of its query: never part of a saved view.
NOT_SAVED = frozenset({"cursor", "lang", "view", "ff", "fo", "fv", "fv2", "pick", "app",
                       "page", "back", "by"})

list_views = sa.Table(
    "sys_list_views",
    views_metadata,
    sa.Column("id", _pk, primary_key=True),
    sa.Column("object_id", sa.String(20), nullable=False),  # ids survive renames
    sa.Column("name", sa.String(NAME_MAX), nullable=False),
    sa.Column("owner_id", sa.BigInteger, nullable=False),
    sa.Column("shared", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("object_id", "owner_id", "name", name="uq_list_views_name"),
    sa.Index("ix_list_views_object", "object_id", "shared"),
)

#: The columns a user chose for an object's list (field ids, so a rename keeps them).
list_columns = sa.Table(
    "sys_list_columns",
    views_metadata,
    sa.Column("object_id", sa.String(20), primary_key=True),
    sa.Column("owner_id", sa.BigInteger, primary_key=True),
    sa.Column("field_ids", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
#: The most columns a list shows.
COLUMNS_MAX = 30

_tables = LazyTables(views_metadata)


def ensure_table(tenant: Tenant) -> None:
    """Create ``sys_list_views`` on first use (tenants older than views get it then)."""
    _tables.ensure(tenant)


def normalize_query(query: Any) -> str:
    """The query string a view keeps: page parameters (cursor, language) left out."""
    if not isinstance(query, str):
        raise ValidationFailed("the view's query is text such as 'status=new&sort=-amount'",
                               {"query": ["not text"]})
    pairs = parse_qsl(query.strip().lstrip("?"), keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k not in NOT_SAVED])


#: Parameters whose value is a comma-separated list of field names (``-`` sorts down).
NAME_LISTS = frozenset({"sort", "fields"})


def renamed_query(query: str, old: str, new: str) -> str:
    """A view's query with field ``old`` called ``new``: filter keys (``old`` and
    ``old__<op>``) and the names in ``sort`` and ``fields``; values are left alone."""
    out = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        base, sep, op = key.partition("__")
        if base == old:
            key = new + sep + op
        elif key in NAME_LISTS:
            value = ",".join(("-" + new if part == "-" + old else new if part == old else part)
                             for part in value.split(","))
        out.append((key, value))
    return urlencode(out)


def readable_query(obj: ObjectDef, readable: frozenset[str], query: str) -> str:
    """A view's query as one reader gets it: filters on fields they cannot read (hidden
    from them by their roles, or removed since the view was saved), and such fields in
    ``sort`` and ``fields``, left out. A shared view is saved by an administrator, who
    reads every field; a reader it is shared with must neither see nor run a condition
    on a field hidden from them (the answer would say which records have which values).
    The rest of the view still works for them; nothing says that a part was left out,
    since that would tell them the field exists (decision 0015)."""
    def known(name: str) -> bool:
        f = lookup_field(obj, name)
        return f is not None and (not f.id.startswith("fld_") or name in readable)

    out = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in NAME_LISTS:
            kept = [part for part in value.split(",")
                    if part.strip() and known(part.strip().lstrip("+-"))]
            if kept:
                out.append((key, ",".join(kept)))
        elif key in RESERVED_PARAMS or key == COUNT_PARAM or known(key.partition("__")[0]):
            out.append((key, value))
    return urlencode(out)


def rename_field(tenant: Tenant, object_id: str, old: str, new: str) -> None:
    """Saved views of the object follow a field rename, in the caller's write (so they
    change together with the metadata, or not at all)."""
    ensure_table(tenant)
    with tenant.write() as conn:
        rows = conn.execute(sa.select(list_views.c.id, list_views.c.query)
                            .where(list_views.c.object_id == object_id)).all()
        for row in rows:
            query = renamed_query(row.query, old, new)
            if query != row.query:
                conn.execute(list_views.update().where(list_views.c.id == row.id)
                             .values(query=query))


class ListViews:
    """Saved list views of one tenant. Every call needs read permission on the object."""

    def __init__(self, tenant: Tenant, permissions: PermissionEngine | None = None) -> None:
        self.tenant = tenant
        self.permissions = permissions or default_engine

    def _object(self, conn: sa.Connection, principal: Principal, object_name: Any
                ) -> tuple[ObjectDef, Access]:
        """The object, or 404 when it does not exist or the principal may not read it."""
        snap = self.tenant.snapshot(conn)
        obj = snap.object(object_name) if isinstance(object_name, str) else None
        access = self.permissions.access(principal, snap, conn,
                                         probe=self.tenant.dialect.probes_visibility,
                                         branches=self.tenant.branches)
        if obj is None or not access.allowed(obj, "read"):
            raise NotFound(f"no object named '{str(object_name)[:40]}'")
        return obj, access

    def _visible(self, principal: Principal) -> Any:
        return sa.or_(list_views.c.shared.is_(True), list_views.c.owner_id == principal.user_id)

    def columns(self, principal: Principal, object_name: str) -> list[str] | None:
        """The columns the principal chose for the object's list, as field names, without
        those they may no longer read (or that were removed); None when they chose none."""
        ensure_table(self.tenant)
        with self.tenant.read() as conn:
            obj, access = self._object(conn, principal, object_name)
            if principal.user_id is None:
                return None
            ids = conn.execute(sa.select(list_columns.c.field_ids).where(
                list_columns.c.object_id == obj.id,
                list_columns.c.owner_id == principal.user_id)).scalar()
        if ids is None:
            return None
        readable = access.readable(obj)
        by_id = {**{f.id: n for n, f in SYSTEM_FIELD_DEFS.items()},
                 **{f.id: f.name for f in obj.fields}}
        names = [by_id[i] for i in str(ids).split(",") if i in by_id]
        return [n for n in names if n in readable or n in SYSTEM_FIELD_DEFS] or None

    def set_columns(self, principal: Principal, object_name: str,
                    names: list[str]) -> list[str] | None:
        """Keep the principal's columns for the object's list (none: back to the layout's).
        A field they may not read is refused like an unknown one (422), nothing kept."""
        if principal.user_id is None:
            raise Forbidden("only users choose list columns")
        names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
        if len(names) > COLUMNS_MAX:
            raise ValidationFailed(f"a list shows at most {COLUMNS_MAX} columns",
                                   {"columns": [f"more than {COLUMNS_MAX}"]})
        ensure_table(self.tenant)
        with self.tenant.write() as conn:
            obj, access = self._object(conn, principal, object_name)
            readable = access.readable(obj)
            ids = []
            for name in names:
                f = lookup_field(obj, name)
                if f is None or (name not in readable and name not in SYSTEM_FIELD_DEFS):
                    raise ValidationFailed(f"no field named '{name[:40]}'",
                                           {"columns": ["no such field"]})
                ids.append(f.id)
            where = (list_columns.c.object_id == obj.id,
                     list_columns.c.owner_id == principal.user_id)
            conn.execute(list_columns.delete().where(*where))
            if ids:
                conn.execute(list_columns.insert().values(
                    object_id=obj.id, owner_id=principal.user_id, field_ids=",".join(ids),
                    updated_at=utcnow()))
        return names or None

    def list(self, principal: Principal, object_name: str) -> list[dict[str, Any]]:
        """The principal's own views of the object, then the shared ones, by name."""
        ensure_table(self.tenant)
        with self.tenant.read() as conn:
            obj, access = self._object(conn, principal, object_name)
            rows = conn.execute(
                sa.select(list_views, users.c.username)
                .join(users, users.c.id == list_views.c.owner_id, isouter=True)
                .where(list_views.c.object_id == obj.id, self._visible(principal))
                .order_by((list_views.c.owner_id != principal.user_id), list_views.c.name,
                          list_views.c.id)).all()
        return [self._out(principal, obj, access, r) for r in rows]

    def get(self, principal: Principal, object_name: str, view_id: Any) -> dict[str, Any]:
        ensure_table(self.tenant)
        with self.tenant.read() as conn:
            obj, access = self._object(conn, principal, object_name)
            row = self._row(conn, principal, obj, view_id)
        return self._out(principal, obj, access, row)

    def _row(self, conn: sa.Connection, principal: Principal, obj: ObjectDef,
             view_id: Any) -> Any:
        vid = _view_id(view_id)
        row = conn.execute(
            sa.select(list_views, users.c.username)
            .join(users, users.c.id == list_views.c.owner_id, isouter=True)
            .where(list_views.c.id == vid, list_views.c.object_id == obj.id,
                   self._visible(principal))).first()
        if row is None:
            raise NotFound(f"no list view {vid} of {obj.name}")
        return row

    def save(self, principal: Principal, object_name: str, name: Any, query: Any,
             shared: Any = False) -> dict[str, Any]:
        """Store a view; a bad name or query is refused (422) with nothing stored."""
        if principal.user_id is None:
            raise Forbidden("only users save list views")
        if not isinstance(shared, bool):
            raise ValidationFailed("'shared' is true or false", {"shared": ["not a boolean"]})
        if shared and not principal.is_admin:
            raise Forbidden("only administrators share list views")
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not name:
            raise ValidationFailed("the view needs a name", {"name": ["required"]})
        if len(name) > NAME_MAX:
            raise ValidationFailed(f"a view's name has at most {NAME_MAX} characters",
                                   {"name": [f"longer than {NAME_MAX} characters"]})
        text = normalize_query(query)
        if len(text) > QUERY_MAX:
            raise ValidationFailed(f"a view's query has at most {QUERY_MAX} characters",
                                   {"query": [f"longer than {QUERY_MAX} characters"]})
        ensure_table(self.tenant)
        try:
            with self.tenant.write() as conn:
                obj, access = self._object(conn, principal, object_name)
                self._check_query(obj, access, text)
                taken = conn.execute(sa.select(list_views.c.id).where(
                    list_views.c.object_id == obj.id,
                    list_views.c.owner_id == principal.user_id,
                    list_views.c.name == name)).first()
                if taken is not None:
                    raise Conflict(f"you already have a view named '{name}' of {obj.name}",
                                   {"name": ["already taken"]})
                vid = int(conn.execute(list_views.insert().values(
                    object_id=obj.id, name=name, owner_id=principal.user_id,
                    shared=shared, query=text, created_at=utcnow(),
                ).returning(list_views.c.id)).scalar_one())
                row = self._row(conn, principal, obj, vid)
        except sa.exc.IntegrityError:  # the same name saved at the same moment
            raise Conflict(f"you already have a view named '{name}'",
                           {"name": ["already taken"]}) from None
        return self._out(principal, obj, access, row)

    def _check_query(self, obj: ObjectDef, access: Access, text: str) -> None:
        """The list parser and the list's own checks (fields, operators, values, sort),
        compiled but not run."""
        try:
            q = parse_list_query(parse_qsl(text, keep_blank_values=True))
            readable = access.readable(obj)
            for f in q.fields or ():
                if f not in readable and f not in SYSTEM_FIELD_DEFS:
                    raise ValidationFailed(f"no field named '{f[:40]}'")
            snap = access.snapshot
            table = self.tenant.schema(snap).table(obj.name)
            where_clauses(obj, table, q, self.tenant.dialect, readable)
            resolve_sort(obj, q.sort, readable)
        except CRMError as exc:
            raise ValidationFailed(f"the view's query is not valid: {exc.message}",
                                   {"query": [exc.message]}) from None

    def delete(self, principal: Principal, object_name: str, view_id: Any) -> None:
        """Owners delete their views; administrators also shared ones."""
        ensure_table(self.tenant)
        with self.tenant.write() as conn:
            obj, _ = self._object(conn, principal, object_name)
            row = self._row(conn, principal, obj, view_id)
            if row.owner_id != principal.user_id and not principal.is_admin:
                raise Forbidden("only its owner or an administrator deletes a shared view")
            conn.execute(list_views.delete().where(list_views.c.id == row.id))

    def _out(self, principal: Principal, obj: ObjectDef, access: Access,
             row: Any) -> dict[str, Any]:
        mine = row.owner_id == principal.user_id
        return {"id": row.id, "object": obj.name, "name": row.name,
                "shared": bool(row.shared),
                "query": readable_query(obj, access.readable(obj), row.query),
                "owner": row.username, "mine": mine,
                "deletable": mine or principal.is_admin,
                "created_at": row.created_at.isoformat(timespec="seconds") + "Z"}


def _view_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    raise NotFound(f"no list view {str(value)[:40]}")


def index_suggestions(tenant: Tenant, obj: ObjectDef) -> list[dict[str, Any]]:
    """Composite indexes the object's saved views and slow lists would be read from
    (``index_advice``, decision 0019). Administrators decide: nothing is created here."""
    ensure_table(tenant)
    with tenant.read() as conn:
        rows = conn.execute(sa.select(list_views.c.name, list_views.c.query)
                            .where(list_views.c.object_id == obj.id)
                            .order_by(list_views.c.id)).all()
    return index_advice.suggestions(tenant, obj, [(str(r.name), str(r.query)) for r in rows])
