"""Who a notification or an e-mail goes to, and the merge values each of them may read.

Recipients are the users a rule names, the holders of a role, the user in a field of the
record, the record's owner, and for e-mail the address in an e-mail field or literal
addresses. Inactive users are left out.

Merge values (decision 0025): the rule runs as the system, which reads everything, but a
message to a user must not show what that user could not read in the record itself. So a
user's values come from their own ``Access``: fields they may not read render empty, and
when the record is outside their visibility every record value does. A lookup renders as
the title of the record it points at only when the recipient may see that record too.
External addresses get the system's view: an administrator wrote the rule and chose to
send those values out.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ...core import clock
from ...core.errors import CRMError
from ...metadata.model import FieldDef, ObjectDef, Snapshot
from ...rules.context import SYSTEM_FIELD_TYPES
from ...runtime.instance import Tenant
from ...security import accounts
from ...security.engine import Access
from ...security.engine import engine as permission_engine
from ...security.tables import user_roles, users
from .. import people
from . import templates

#: Merge names anyone may get: they say nothing about the record's values.
NEUTRAL = frozenset({"rule", "object", "today", "url", "id"})
YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}


def user_ids(conn: sa.Connection, to: Mapping[str, Any], record: Mapping[str, Any],
             obj: ObjectDef) -> list[int]:
    """The active users a recipients spec names for ``record``."""
    ids: list[Any] = []
    names = list(to.get("users", []))
    if names:
        found = {r.username: r.id for r in conn.execute(
            sa.select(users.c.id, users.c.username).where(users.c.username.in_(names)))}
        ids += [found[n] for n in names if n in found]
    role = to.get("role")
    if role:
        ids += [r[0] for r in conn.execute(sa.select(user_roles.c.user_id).where(
            user_roles.c.role == role).order_by(user_roles.c.user_id))]
    field = obj.field(str(to.get("field") or ""))
    if field is not None and field.type == "user":
        ids.append(record.get(field.name))
    if to.get("owner"):
        ids.append(record.get("owner_id"))
    return people.active_ids(conn, [i for i in ids if i is not None])


def addresses(to: Mapping[str, Any], record: Mapping[str, Any], obj: ObjectDef) -> list[str]:
    """External e-mail addresses: the literal ones and an e-mail field's value."""
    out = list(to.get("addresses", []))
    field = obj.field(str(to.get("field") or ""))
    if field is not None and field.type == "email" and record.get(field.name):
        out.append(str(record[field.name]))
    return list(dict.fromkeys(out))


class Merge:
    """The merge values of one record for the recipients of one action."""

    def __init__(self, tenant: Tenant, conn: sa.Connection, snapshot: Snapshot,
                 obj: ObjectDef, record: Mapping[str, Any], rule: str) -> None:
        self.tenant, self.conn, self.snapshot = tenant, conn, snapshot
        self.obj, self.record, self.rule = obj, record, rule
        self._users: dict[int, str] = {}

    def system(self) -> templates.Values:
        return templates.Values(lambda name, lang: self._text(name, lang, None))

    def for_user(self, user_id: int) -> templates.Values:
        try:
            principal = accounts.principal_of(self.conn, self._username(user_id))
        except CRMError:  # deactivated meanwhile: nothing of the record
            return templates.Values(lambda n, lang: "", frozenset())
        access = permission_engine.access(principal, self.snapshot, self.conn)
        if not self._visible(access, self.obj, int(self.record["id"])):
            return templates.Values(lambda n, lang: self._text(n, lang, access), NEUTRAL)
        readable = access.readable(self.obj) | frozenset(SYSTEM_FIELD_TYPES) | NEUTRAL
        if "owner_id" in readable:
            readable |= {"owner"}
        return templates.Values(lambda n, lang: self._text(n, lang, access), readable)

    # -- values as text ---------------------------------------------------------------------
    def _text(self, name: str, lang: str, access: Access | None) -> str:
        rec = self.record
        if name == "rule":
            return self.rule
        if name == "object":
            return self.obj.label(lang)
        if name == "today":
            return clock.now().date().isoformat()
        if name == "url":
            return f"/records/{self.obj.name}/{rec.get('id')}"
        if name == "owner":
            return self._display(rec.get("owner_id"))
        f = self.obj.field(name)
        value = rec.get(name)
        if value is None:
            return ""
        if f is None:
            if name in ("created_by", "updated_by"):
                return self._display(value)
            return _plain(value, lang)
        return self._field_text(f, value, lang, access)

    def _field_text(self, f: FieldDef, value: Any, lang: str, access: Access | None) -> str:
        if f.type in ("picklist", "multipicklist"):
            labels = {str(c.get("value")): c.get("label") or {}
                      for c in f.options.get("choices") or []}
            items = value if isinstance(value, (list, tuple)) else \
                [v for v in str(value).split(";") if v] if f.type == "multipicklist" else [value]
            return ", ".join(_label(labels.get(str(v)), lang) or str(v) for v in items)
        if f.type == "user":
            return self._display(value)
        if f.type in ("lookup", "master_detail"):
            return self._title(f, value, access)
        return _plain(value, lang)

    def _title(self, f: FieldDef, value: Any, access: Access | None) -> str:
        target = self.snapshot.object(f.target or "")
        if target is None:
            return str(value)
        if access is not None and not self._visible(access, target, int(value)):
            return ""
        table = self.tenant.schema(self.snapshot).table(target.name)
        title = target.title_field
        col = table.c.get(title, table.c.id)
        found = self.conn.execute(sa.select(col).where(table.c.id == value)).scalar()
        return str(found) if found is not None else str(value)

    def _visible(self, access: Access, obj: ObjectDef, rid: int) -> bool:
        if access.unrestricted:
            return True
        table = self.tenant.schema(self.snapshot).table(obj.name)
        return self.conn.execute(sa.select(table.c.id).where(
            table.c.id == rid, access.visibility(obj, table))).first() is not None

    def _username(self, user_id: int) -> str:
        if user_id not in self._users:
            found = self.conn.execute(sa.select(users.c.username).where(
                users.c.id == user_id)).scalar()
            self._users[user_id] = str(found or "")
        return self._users[user_id]

    def _display(self, user_id: Any) -> str:
        if user_id is None:
            return ""
        row = self.conn.execute(sa.select(users.c.username, users.c.display_name).where(
            users.c.id == user_id)).first()
        return "" if row is None else str(row.display_name or row.username)


def _label(label: Any, lang: str) -> str:
    if isinstance(label, Mapping):
        return str(label.get(lang) or label.get("en") or label.get("zh") or "")
    return str(label or "")


def _plain(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return YES_NO.get(lang, YES_NO["en"])[0 if value else 1]
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, (dt.date, decimal.Decimal)):
        return str(value)
    return str(value)


__all__ = ["NEUTRAL", "Merge", "addresses", "user_ids"]
