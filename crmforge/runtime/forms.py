"""Record forms: WTForms classes generated from an object's fields, the payload a posted
form gives the record service, and the live state of a draft (DESIGN §1, §6).

WTForms renders widgets and collects the posted strings; it validates nothing. The record
service converts and validates (one evaluator: what the form accepts is what the API
accepts), and ``draft_state`` asks the same rules the write path asks for conditional
visible / required / read-only states and formula values, so the live form and the saved
record cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from wtforms import (
    BooleanField,
    Field,
    Form,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import (
    DateInput,
    DateTimeLocalInput,
    EmailInput,
    NumberInput,
    TelInput,
    TextInput,
    URLInput,
)

from ..core.errors import NotFound, ValidationFailed
from ..metadata.fieldtypes import ConversionError
from ..metadata.model import FieldDef, ObjectDef, Snapshot
from ..rules import ObjectRules
from ..security import sharing
from ..security.engine import PermissionEngine
from ..security.engine import engine as default_engine
from ..security.principal import Principal
from .context import open_ctx, record_id
from .fields import SYSTEM_FIELD_DEFS
from .formulas import FormulaReader
from .instance import Tenant

#: Types whose value is a record, user or department id.
REFERENCE_TYPES = frozenset({"lookup", "master_detail", "user", "department"})
NUMBER_TYPES = frozenset({"integer", "decimal", "currency", "percent"})
BLANK = SelectChoice("", "—")


def choice(value: str, label: str) -> SelectChoice:
    """An option of a select (lookups add the record they point at)."""
    return SelectChoice(value, label)
_TEXT_WIDGETS: dict[str, Callable[[], Any]] = {
    "text": TextInput, "email": EmailInput, "phone": TelInput, "url": URLInput,
    "date": DateInput, "datetime": DateTimeLocalInput,
}


#: Writable types the form cannot edit yet (uploads come with the file store); the page
#: shows their value as text and the API edits them.
NO_INPUT = frozenset({"file"})


def has_input(obj: ObjectDef, name: str) -> bool:
    f = obj.field(name)
    return f is not None and f.kind.writable and f.type not in NO_INPUT


def widget_field(f: FieldDef, lang: str) -> Field:
    """The unbound WTForms field that fits a field type (picklists get their choices;
    lookups get theirs from the page, which searches the target's list)."""
    label = f.label(lang)
    attrs: dict[str, Any] = {}
    if f.type in ("text", "textarea") and f.options.get("max_length"):
        attrs["maxlength"] = int(f.options["max_length"])
    if f.type == "textarea":
        return TextAreaField(label, render_kw=attrs)
    if f.type == "boolean":
        return BooleanField(label, false_values=("", "false", "0", "n"))
    if f.type in ("picklist", "multipicklist"):
        choices = [SelectChoice(str(c.get("value")), f.choice_label(c.get("value"), lang))
                   for c in f.options.get("choices") or []]
        if f.type == "multipicklist":
            return SelectMultipleField(label, choices=choices, validate_choice=False)
        return SelectField(label, choices=[BLANK, *choices], validate_choice=False)
    if f.type in ("lookup", "master_detail"):
        return SelectField(label, choices=[BLANK], validate_choice=False)
    if f.type in NUMBER_TYPES or f.type in ("user", "department"):
        if f.type in NUMBER_TYPES and f.type != "integer":
            scale = int(f.options.get("scale") or 2)
            step = format(Decimal(1).scaleb(-scale), "f")
        else:
            step = "1"
        return StringField(label, widget=NumberInput(step=step, min=f.options.get("min"),
                                                      max=f.options.get("max")),
                           render_kw={"inputmode": "decimal" if step != "1" else "numeric"})
    widget = _TEXT_WIDGETS.get(f.type, TextInput)()
    return StringField(label, widget=widget, render_kw=attrs)


def form_class(obj: ObjectDef, names: Iterable[str], lang: str) -> type[Form]:
    """A form with a field for each named field of ``obj`` (the editable ones on a page)."""
    attrs: dict[str, Any] = {}
    for name in names:
        f = obj.field(name)
        if f is not None and has_input(obj, name):
            attrs[name] = widget_field(f, lang)
    return type(f"{obj.name.title()}Form", (Form,), attrs)


def form_data(obj: ObjectDef, record: Mapping[str, Any],
              zone: dt.tzinfo | None = None) -> dict[str, Any]:
    """A record (as JSON) in the shape the widgets show: date-times as ``datetime-local``
    values (ISO, in ``zone``, the zone the page shows times in; UTC without one), ids and
    numbers as text."""
    out: dict[str, Any] = {}
    for f in obj.fields:
        value = record.get(f.name)
        if value is None:
            out[f.name] = [] if f.type == "multipicklist" else None
        elif f.type == "datetime" and isinstance(value, str):
            out[f.name] = _local_input(value, zone)
        elif f.type in REFERENCE_TYPES or f.type in NUMBER_TYPES:
            out[f.name] = str(value)
        else:
            out[f.name] = value
    return out


def payload(obj: ObjectDef, form: Form, names: Iterable[str],
            zone: dt.tzinfo | None = None) -> dict[str, Any]:
    """What a posted form asks the record service to write: blanks as None, whole numbers
    and ids as numbers when they read as such, a ``datetime-local`` value with the offset
    of ``zone`` at that time (the form shows times in the page's zone; anything else goes
    through unchanged, so the service reports it beside its field)."""
    out: dict[str, Any] = {}
    for name in names:
        f = obj.field(name)
        if f is None or name not in form:
            continue
        data = form[name].data
        if f.type == "boolean":
            out[name] = bool(data)
        elif f.type == "multipicklist":
            out[name] = [str(v) for v in data or []]
        else:
            text = str(data).strip() if data is not None else ""
            if not text:
                out[name] = None
            elif f.type == "integer" or f.type in REFERENCE_TYPES:
                out[name] = _whole(text)
            elif f.type == "datetime" and zone is not None:
                out[name] = _with_offset(text, zone)
            else:
                out[name] = text
    return out


def _local_input(value: str, zone: dt.tzinfo | None) -> str:
    """A JSON date-time (UTC, ``...Z``) as a ``datetime-local`` value in ``zone``."""
    if zone is None:
        return value[:16]
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    except (ValueError, OverflowError):
        return value[:16]


def _with_offset(text: str, zone: dt.tzinfo) -> str:
    """A posted ``datetime-local`` value (no offset) read in ``zone``, with its offset; a
    value that has one, or does not read as a date and time, unchanged."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None or len(text) <= 10:
        return text
    try:
        return moment.replace(tzinfo=zone).isoformat()
    except (ValueError, OverflowError):
        return text


def _whole(text: str) -> int | str:
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    if digits.isascii() and digits.isdigit() and len(digits) < 19:
        return int(sign + digits)
    return text


def defaults(obj: ObjectDef, snapshot: Snapshot) -> dict[str, Any]:
    """Default values of a new record as JSON (what the service would fill in), so a new
    form starts with them; a default that cannot be computed is left blank."""
    try:
        values = ObjectRules.for_object(obj, snapshot).defaults({})
    except ValidationFailed:
        return {}
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = obj.field(name)
        if f is None:
            continue
        try:
            out[name] = f.kind.to_json(f, f.kind.to_python(f, value, lenient=True))
        except (ConversionError, TypeError, ValueError):
            continue
    return out


def draft_state(tenant: Tenant, principal: Principal, object_name: str, draft: Mapping[str, Any],
                rid: Any = None, permissions: PermissionEngine | None = None) -> dict[str, Any]:
    """``{"states": {field: {visible, required, readonly}}, "values": {formula: json}}``
    of a draft over the stored record ``rid`` (or a new one), for the reader: only their
    readable fields take part, values that do not convert count as blank, and formulas
    that read hidden fields stay masked."""
    with tenant.read() as conn:
        ctx = open_ctx(tenant, permissions or default_engine, conn, principal, object_name)
        readable = ctx.access.readable(ctx.obj)
        record: dict[str, Any] = {}
        if rid is not None:
            t = ctx.table
            row = conn.execute(sa.select(t).where(
                t.c.id == record_id(rid), t.c.deleted_at.is_(None),
                ctx.access.visibility(ctx.obj, t))).first()
            if row is None:
                raise NotFound(f"no {ctx.obj.name} record {rid}")
            record = {k: v for k, v in row._mapping.items()
                      if k in readable or k in SYSTEM_FIELD_DEFS}
        elif not ctx.access.allowed(ctx.obj, "create"):
            ctx.access.check(ctx.obj, "read")
        for key, raw in draft.items():
            f = ctx.obj.field(str(key))
            if f is None or f.name not in readable or not f.kind.writable:
                continue
            try:
                record[f.name] = f.kind.to_python(f, raw, lenient=True)
            except ConversionError:
                record[f.name] = None
        reader = FormulaReader(ctx)
        record.update(reader.values(record, everything=True))
        for name in reader.masked:
            record[name] = None
        rules = ObjectRules.for_object(ctx.obj, ctx.snapshot)
        states = rules.field_states(record, reader.related.resolver(ctx.obj, record))
        values = {}
        for f in ctx.obj.fields:
            if f.type == "formula" and f.name in readable:
                try:
                    values[f.name] = f.kind.to_json(f, record.get(f.name))
                except (ConversionError, TypeError, ValueError):
                    values[f.name] = None
        return {"states": {n: s for n, s in states.items() if n in readable},
                "values": values}


@dataclass(frozen=True)
class EditLimit:
    """What a stored record's approval lock or status rules leave a person to do, so its
    page offers no control that the save would refuse. ``reason`` is ``"approval"`` (locked
    while in approval) or ``"status"`` (the status rules of ``state``, the stored value of
    the status field); ``editable`` the fields that may still change (empty: none)."""

    reason: str
    state: str | None
    editable: frozenset[str]
    updatable: bool
    deletable: bool


def edit_limit(tenant: Tenant, principal: Principal, object_name: str, rid: Any,
               permissions: PermissionEngine | None = None) -> EditLimit | None:
    """The record's lock or status limits (None when they allow every change and delete).

    Asks the permission engine's ``status_denial``, the check every write makes, field by
    field: a field is editable when changing it alone would be allowed, so the page and
    the save cannot disagree."""
    with tenant.read() as conn:
        ctx = open_ctx(tenant, permissions or default_engine, conn, principal, object_name)
        t = ctx.table
        row = conn.execute(sa.select(t).where(
            t.c.id == record_id(rid), t.c.deleted_at.is_(None),
            ctx.access.visibility(ctx.obj, t))).first()
        if row is None:
            raise NotFound(f"no {ctx.obj.name} record {rid}")
        lock = sharing.lock_of(conn, ctx.obj.id, row.id)
        values: dict[str, Any] = dict(row._mapping)
        deny = ctx.access.status_denial
        names = [f.name for f in ctx.obj.fields if f.kind.writable]
        editable = frozenset(n for n in names
                             if deny(ctx.obj, values, "update", [n], lock) is None)
        updatable = deny(ctx.obj, values, "update", names, lock) is None
        deletable = deny(ctx.obj, values, "delete", (), lock) is None
        if updatable and deletable:
            return None
        rules = ctx.obj.options.get("status_rules") or {}
        state = values.get(rules["field"]) if rules.get("field") in values else None
        return EditLimit("approval" if lock is not None else "status",
                         None if state is None else str(state), editable, updatable, deletable)
