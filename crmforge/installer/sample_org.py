"""A pack's sample organisation (``sample/organisation.yaml``): departments with heads, users
in the pack's roles, and which of them own (or are named in) the sample records.

Without people the access story of a pack cannot be shown: every sample record belongs to
the administrator, so scopes, field rules and approvals routed to managers look the same
for everybody. With them, a prospect signs in as a representative and as a manager and
sees the difference in the first ten minutes.

Secure by default: the organisation is made only when the installer is asked for it
(``pack install --sample-users``, ``make run SAMPLE_USERS=1``, ``"sample_users": true``
over HTTP). All sample users of one install share one generated password, returned once
with the plan and never stored in clear: one password to hand round a demo, and one hash
to compute (a password hash costs about a tenth of a second, a whole pack's install time
for forty users).

The file::

    departments:
      - {name: sec_hq, label: {zh: 总部, en: Head office}, head: mgr}
      - {name: branch_ljz, parent: sec_hq, label: {...}, head: mgr_ljz}
    users:
      - {username: broker_wang, display_name: 王磊, department: branch_ljz,
         roles: [sec_broker]}
    owners:                 # object -> data key -> username
      investor: {inv_zhang: broker_wang}
    user_fields:            # object -> data key -> user field -> username
      sec_broker: {b_wang: {broker_user: broker_wang}}
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..core.errors import Conflict
from ..metadata.model import Snapshot
from ..runtime.records import RecordService
from ..security import accounts, org
from ..security.principal import Principal
from ..security.tables import users

#: Where a pack keeps its sample organisation.
FILE = "sample/organisation.yaml"
_SECTIONS = ("departments", "users", "owners", "user_fields")


@dataclass
class SampleOrg:
    departments: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    owners: dict[str, dict[str, str]] = field(default_factory=dict)
    user_fields: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class Made:
    """What an install with the sample organisation made: the users (in file order) and
    their one shared password, shown once."""

    usernames: list[str]
    password: str


def parse(doc: Any, data: Mapping[str, list[dict[str, str]]]) -> tuple[SampleOrg, dict[str, str]]:
    """The organisation in ``doc`` and its problems (JSON path -> message), judged against
    the pack's own sample data (``data``: object -> rows with ``_key``)."""
    problems: dict[str, str] = {}
    if not isinstance(doc, dict) or set(doc) - set(_SECTIONS):
        extra = sorted(set(doc) - set(_SECTIONS)) if isinstance(doc, dict) else []
        problems["$"] = ("a mapping of " + ", ".join(_SECTIONS)
                         + (f"; not {', '.join(map(str, extra))}" if extra else ""))
        return SampleOrg(), problems
    out = SampleOrg()
    names: set[str] = set()
    for i, d in enumerate(doc.get("departments") or []):
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            problems[f"$.departments[{i}]"] = "a department has a name"
            continue
        parent = d.get("parent")
        if parent is not None and parent not in names:
            problems[f"$.departments[{i}].parent"] = \
                f"'{str(parent)[:40]}' is not a department listed before this one"
        names.add(d["name"])
        out.departments.append(d)
    usernames: set[str] = set()
    for i, u in enumerate(doc.get("users") or []):
        if not isinstance(u, dict) or not isinstance(u.get("username"), str):
            problems[f"$.users[{i}]"] = "a user has a username"
            continue
        if u["username"] in usernames:
            problems[f"$.users[{i}].username"] = f"'{u['username']}' is listed twice"
        usernames.add(u["username"])
        if u.get("department") is not None and u["department"] not in names:
            problems[f"$.users[{i}].department"] = \
                f"'{str(u['department'])[:40]}' is not a department of this file"
        roles = u.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            problems[f"$.users[{i}].roles"] = "a list of role names"
        out.users.append(u)
    for i, d in enumerate(out.departments):
        if d.get("head") is not None and d["head"] not in usernames:
            problems[f"$.departments[{i}].head"] = f"'{str(d['head'])[:40]}' is not a user of this file"
    keys = {obj: {r.get("_key", "") for r in rows} for obj, rows in data.items()}
    for obj, by_key in (doc.get("owners") or {}).items():
        for key, username in (by_key or {}).items():
            path = f"$.owners.{obj}.{key}"
            if key not in keys.get(obj, set()):
                problems[path] = f"no sample {obj} with the key '{str(key)[:40]}'"
            elif username not in usernames:
                problems[path] = f"'{str(username)[:40]}' is not a user of this file"
        out.owners[str(obj)] = {str(k): str(v) for k, v in (by_key or {}).items()}
    for obj, by_key in (doc.get("user_fields") or {}).items():
        for key, fields in (by_key or {}).items():
            if key not in keys.get(obj, set()):
                problems[f"$.user_fields.{obj}.{key}"] = \
                    f"no sample {obj} with the key '{str(key)[:40]}'"
                continue
            for name, username in (fields or {}).items():
                if username not in usernames:
                    problems[f"$.user_fields.{obj}.{key}.{name}"] = \
                        f"'{str(username)[:40]}' is not a user of this file"
        out.user_fields[str(obj)] = {str(k): {str(f): str(u) for f, u in (v or {}).items()}
                                     for k, v in (by_key or {}).items()}
    return out, problems


def make(conn: sa.Connection, sample: SampleOrg, records: RecordService, principal: Principal,
         snapshot: Snapshot, keys: Mapping[str, list[Any]]) -> Made:
    """Make the departments, users, heads, owners and user fields, in the caller's pack
    transaction (all or nothing). A department of that name already there is used as it
    is; a user of that name already there refuses the whole install (it would hand a
    stranger's account the sample records)."""
    taken = [u["username"] for u in sample.users if conn.execute(
        sa.select(users.c.id).where(users.c.username == u["username"])).first() is not None]
    if taken:
        raise Conflict(f"the tenant already has users named {', '.join(taken)}; install the "
                       "pack without its sample users", {"sample_users": taken})
    known = {d["name"] for d in org.list_departments(conn)}
    for d in sample.departments:
        if d["name"] not in known:
            org.create_department(conn, {k: d[k] for k in ("name", "parent", "label") if k in d})
    password = secrets.token_urlsafe(12) + "9!"
    roles = [str(r["name"]) for r in snapshot.data.get("roles", [])]
    ids = accounts.create_users(conn, [
        {"username": u["username"], "display_name": u.get("display_name"),
         "department_id": org.department_id(conn, u["department"]) if u.get("department")
         else None} for u in sample.users], password)
    for u, uid in zip(sample.users, ids, strict=True):
        org.set_roles(conn, uid, u.get("roles") or [], roles)
    for d in sample.departments:
        if d.get("head"):
            org.set_department_head(conn, org.department_id(conn, d["name"]), d["head"])
    for obj, named in sample.user_fields.items():
        for key, fields in named.items():
            rid = keys[f"{obj}:{key}"][1]
            current = records.get(principal, obj, rid)
            records.update(principal, obj, rid, {
                **{name: ids[_index(sample, username)] for name, username in fields.items()},
                "version": current["version"]})
    for obj, owned in sample.owners.items():
        for key, username in owned.items():
            records.transfer(principal, obj, keys[f"{obj}:{key}"][1], username)
    return Made([u["username"] for u in sample.users], password)


def _index(sample: SampleOrg, username: str) -> int:
    return next(i for i, u in enumerate(sample.users) if u["username"] == username)


__all__ = ["FILE", "Made", "SampleOrg", "make", "parse"]
