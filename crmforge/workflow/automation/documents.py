"""Automation rule documents (DESIGN §9, second part): structure and meaning, checked when
saved, every problem keyed by its JSON path.

A rule lives in the snapshot's ``automations`` list, versioned with the rest of the
metadata (so history, rollback and packs treat it like a process). Why check everything
at save time: a rule runs unattended after commit, where nobody sees an error; an unknown
field, an expression that does not compile or a merge field naming nothing would only
ever show up as failures in the run log. The JSON Schema (``automation.schema.json``)
fixes the shape; this module resolves names against the object, its fields, roles and
users, and compiles every expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from ...metadata.model import ObjectDef, Snapshot
from ...metadata.validation import Problems, object_document
from ...rules import ExpressionContext, T, check_expression
from ...rules.context import SYSTEM_FIELD_TYPES
from ...security.tables import users
from . import templates

Data = dict[str, Any]
RECORD_EVENTS = ("created", "updated", "saved", "deleted")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Field types whose value names a user (a recipient).
USER_TYPES = frozenset({"user"})
LINK_TYPES = frozenset({"lookup", "master_detail"})


def automation_docs(snapshot: Snapshot) -> dict[str, Mapping[str, Any]]:
    """The rule documents of a snapshot, by name."""
    return {a["name"]: a for a in snapshot.data.get("automations", [])}


def is_date_field(obj: ObjectDef, name: str) -> bool:
    """A field a date rule can watch: a date, or a stored formula giving a date."""
    f = obj.field(name)
    if f is None:
        return False
    if f.type == "date":
        return True
    return f.type == "formula" and f.options.get("result_type") == "date" and f.stored


def prepare_automation(doc: Any, snapshot: Snapshot, conn: sa.Connection | None = None, *,
                       existing: str | None = None) -> Data:
    """A normalized copy of a valid rule, or ValidationFailed with every problem."""
    out, problems, obj = object_document(doc, "automation", "an automation rule", "rules",
                                         automation_docs(snapshot), existing, snapshot)
    out.setdefault("enabled", True)
    _check_trigger(problems, out, obj)
    record = ExpressionContext.for_object(obj, snapshot)
    _expr(problems, "$.condition", out.get("condition"), record, T.BOOLEAN)
    roles = {r["name"] for r in snapshot.data.get("roles", [])}
    for i, action in enumerate(out["actions"]):
        _check_action(problems, f"$.actions[{i}]", action, out, obj, snapshot, record, roles,
                      conn)
    problems.raise_if_any("the automation rule")
    return out


def _check_trigger(problems: Problems, out: Data, obj: ObjectDef) -> None:
    when = out["when"]
    if "fields" in out and when not in ("updated", "saved"):
        problems.add("$.fields", "only 'updated' and 'saved' rules watch fields")
    for i, field in enumerate(out.get("fields", [])):
        if obj.field(field) is None and field != "owner_id":
            problems.add(f"$.fields[{i}]", f"'{obj.name}' has no field '{field[:40]}'")
    if when == "date":
        field = out.get("date_field")
        if field is None:
            problems.add("$.date_field", "a date rule names the date field it watches")
        elif obj.field(field) is None:
            problems.add("$.date_field", f"'{obj.name}' has no field '{field[:40]}'")
        elif not is_date_field(obj, field):
            problems.add("$.date_field", f"'{field}' is not a date field")
        out.setdefault("offset_days", 0)
        zone = out.get("timezone")
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.add("$.timezone", f"unknown time zone '{zone[:60]}'")
    else:
        for key in ("date_field", "offset_days", "yearly", "timezone"):
            if key in out:
                problems.add(f"$.{key}", "only date rules (when: date) take this")


def _check_action(problems: Problems, path: str, action: Data, rule: Data, obj: ObjectDef,
                  snapshot: Snapshot, record: ExpressionContext, roles: set[str],
                  conn: sa.Connection | None) -> None:
    kind = action["type"]
    if kind == "update":
        target, scope = obj, record
        if "each" in action:
            found = each_target(problems, f"{path}.each", action["each"], obj, snapshot)
            if found is None:
                return
            target, scope = found, ExpressionContext.for_object(found, snapshot)
            _expr(problems, f"{path}.each.condition", action["each"].get("condition"), scope,
                  T.BOOLEAN)
        elif rule["when"] == "deleted":
            problems.add(path, "a deleted record cannot be updated; create a record instead")
        for field, source in action["set"].items():
            _writable(problems, f"{path}.set.{field}", target, field)
            _expr(problems, f"{path}.set.{field}", source, scope, None)
    elif kind == "create":
        created = snapshot.object(action["object"])
        if created is None:
            problems.add(f"{path}.object", f"no object named '{action['object'][:40]}'")
            return
        for field, source in action["values"].items():
            _writable(problems, f"{path}.values.{field}", created, field)
            _expr(problems, f"{path}.values.{field}", source, record, None)
        _expr(problems, f"{path}.owner", action.get("owner"), record, None)
    elif kind in ("notify", "email"):
        _check_recipients(problems, f"{path}.to", action["to"], kind, obj, roles, conn)
        if "delivery" in action:
            _check_delivery(problems, f"{path}.delivery", action["delivery"], rule, obj)
        for key in ("message", "subject", "body"):
            for lang, text in (action.get(key) or {}).items():
                for name in templates.names(text):
                    if name not in templates.SPECIAL and name not in SYSTEM_FIELD_TYPES \
                            and obj.field(name) is None:
                        problems.add(f"{path}.{key}.{lang}",
                                     f"the merge field '{{{{ {name[:40]} }}}}' names no field "
                                     f"of '{obj.name}'")


def each_target(problems: Problems | None, path: str, each: Data, obj: ObjectDef,
                snapshot: Snapshot) -> ObjectDef | None:
    """The object whose records an ``each`` update walks: ``each.object``, whose ``link``
    (a lookup or master-detail field) points at the rule's object; None when it does not
    (and the problem, when ``problems`` is given)."""
    target = snapshot.object(str(each.get("object")))
    if target is None:
        if problems is not None:
            problems.add(f"{path}.object", f"no object named '{str(each.get('object'))[:40]}'")
        return None
    link = target.field(str(each.get("link")))
    if link is None or link.type not in LINK_TYPES or link.target != obj.name:
        if problems is not None:
            problems.add(f"{path}.link", f"'{str(each.get('link'))[:40]}' is not a field of "
                         f"'{target.name}' that links to '{obj.name}'")
        return None
    return target


def _check_delivery(problems: Problems, path: str, delivery: Data, rule: Data,
                    obj: ObjectDef) -> None:
    """The fields an e-mail's delivery result is written to: fields of the rule's record,
    which must exist and take the values named (a picklist's choices)."""
    if rule["when"] == "deleted":
        problems.add(path, "a deleted record cannot record a delivery result")
        return
    f = obj.field(str(delivery["field"]))
    _writable(problems, f"{path}.field", obj, str(delivery["field"]))
    if f is not None and f.type == "picklist":
        for key in ("sent", "failed"):
            value = delivery.get(key)
            if value is not None and value not in f.choice_set:
                problems.add(f"{path}.{key}", f"'{value[:40]}' is not a choice of '{f.name}'")
    error_field = delivery.get("error_field")
    if error_field is not None:
        e = obj.field(str(error_field))
        _writable(problems, f"{path}.error_field", obj, str(error_field))
        if e is not None and e.type not in ("text", "textarea"):
            problems.add(f"{path}.error_field", f"'{e.name}' is a {e.type} field, not text")


def _check_recipients(problems: Problems, path: str, to: Data, kind: str, obj: ObjectDef,
                      roles: set[str], conn: sa.Connection | None) -> None:
    for i, username in enumerate(to.get("users", [])):
        if conn is not None and conn.execute(sa.select(users.c.id).where(
                users.c.username == username, users.c.active)).first() is None:
            problems.add(f"{path}.users[{i}]", f"no user '{username[:40]}'")
    role = to.get("role")
    if role is not None and role not in roles:
        problems.add(f"{path}.role", f"no role named '{role[:40]}'")
    field = to.get("field")
    if field is not None:
        f = obj.field(field)
        allowed = USER_TYPES | ({"email"} if kind == "email" else set())
        if f is None:
            problems.add(f"{path}.field", f"'{obj.name}' has no field '{field[:40]}'")
        elif f.type not in allowed:
            what = "a user or e-mail field" if kind == "email" else "a user field"
            problems.add(f"{path}.field", f"'{field}' is a {f.type} field, not {what}")
    if "addresses" in to and kind != "email":
        problems.add(f"{path}.addresses", "only e-mail actions send to addresses")
    for i, address in enumerate(to.get("addresses", [])):
        if not EMAIL.fullmatch(address):
            problems.add(f"{path}.addresses[{i}]", f"'{address[:60]}' is not an e-mail address")
    if not any(to.get(k) for k in ("users", "role", "field", "owner", "addresses")):
        problems.add(path, "name at least one recipient")


def _writable(problems: Problems, path: str, obj: ObjectDef, field: str) -> None:
    f = obj.field(field)
    if f is None:
        problems.add(path, f"'{obj.name}' has no field '{field[:40]}'")
    elif not f.kind.writable:
        problems.add(path, f"'{field}' is a {f.type} field and computed")


def _expr(problems: Problems, path: str, source: Any, ctx: ExpressionContext,
          expected: T | None) -> None:
    if source is None or (isinstance(source, str) and not source.strip()):
        return
    for err in check_expression(str(source), ctx, expected):
        problems.add(path, str(err))


__all__ = ["RECORD_EVENTS", "automation_docs", "each_target", "is_date_field",
           "prepare_automation"]
