"""The list page's filter form: conditions offered per field type, typed inputs, and the
conditions of the address shown as readable chips.

The form is a plain GET form (it works without JavaScript): choosing a field re-renders
the page with the operators that apply to that field's type (``runtime.query``'s answer,
narrowed to the ones a person uses) and an input of its kind (a date picker for dates,
the choices for a picklist, yes/no for booleans). Adding a condition puts it into the
address in the REST API's syntax (``<field>__<op>=<value>``, DESIGN §9), so a filtered
list is an address to bookmark and share. The condition is checked first
(``runtime.query.check_condition``), so a value that does not fit is refused beside its
input and the list is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import g
from flask_babel import gettext

from ...core.errors import BadRequest
from ...core.filters import Condition, parse_condition
from ...metadata.model import FieldDef
from ...runtime.query import check_condition, filter_operators, value_type
from .display import Page

#: Field type (of the compared values) -> the kind of input the form shows.
GROUPS = {
    "text": "text", "textarea": "text", "email": "text", "phone": "text", "url": "text",
    "autonumber": "text", "integer": "number", "decimal": "number", "currency": "number",
    "percent": "number", "date": "date", "datetime": "datetime", "boolean": "boolean",
    "picklist": "picklist", "multipicklist": "multipicklist", "lookup": "reference",
    "master_detail": "reference", "user": "reference", "department": "reference",
    "file": "file",
}
#: The conditions the form offers per kind, in order. ``notnull`` is the form's name for
#: ``isnull=false``. Operators the API takes but people hardly use on a kind (``lt`` on
#: text, ``startswith`` on a picklist) stay API-only.
FORM_OPERATORS: dict[str, tuple[str, ...]] = {
    "text": ("contains", "eq", "ne", "startswith", "isnull", "notnull"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "isnull", "notnull"),
    "date": ("eq", "ne", "gte", "lte", "gt", "lt", "between", "isnull", "notnull"),
    "datetime": ("gte", "lte", "gt", "lt", "between", "isnull", "notnull"),
    "boolean": ("eq", "isnull", "notnull"),
    "picklist": ("eq", "ne", "isnull", "notnull"),
    "multipicklist": ("contains", "isnull", "notnull"),
    "reference": ("eq", "ne", "isnull", "notnull"),
    "file": ("isnull", "notnull"),
}
#: Conditions that need no value.
NO_VALUE = frozenset({"isnull", "notnull"})


#: One label per condition, asked only for the condition shown: a list page describes
#: every filterable field's conditions, and building all the labels for each one cost a
#: third of the page (a gettext call is a few microseconds).
_OPERATOR_LABELS: dict[str, Callable[[str, bool], str]] = {
    "eq": lambda kind, dated: gettext("is") if kind in ("picklist", "boolean", "reference")
    else gettext("equals"),
    "ne": lambda kind, dated: gettext("is not") if kind in ("picklist", "reference")
    else gettext("does not equal"),
    "contains": lambda kind, dated: gettext("contains"),
    "startswith": lambda kind, dated: gettext("starts with"),
    "lt": lambda kind, dated: gettext("before") if dated else gettext("less than"),
    "lte": lambda kind, dated: gettext("on or before") if dated else gettext("at most"),
    "gt": lambda kind, dated: gettext("after") if dated else gettext("greater than"),
    "gte": lambda kind, dated: gettext("on or after") if dated else gettext("at least"),
    "between": lambda kind, dated: gettext("between"),
    "in": lambda kind, dated: gettext("is one of"),
    "isnull": lambda kind, dated: gettext("is empty"),
    "notnull": lambda kind, dated: gettext("is not empty"),
}


def operator_label(op: str, kind: str) -> str:
    """What a condition says, in the page's language ("on or after" for dates)."""
    return str(_OPERATOR_LABELS[op](kind, kind in ("date", "datetime")))


def column_label(page: Page, name: str) -> str:
    """A column's heading: the field's label, or the system field's name in the page's
    language (never its API name)."""
    if page.obj.field(name) is not None:
        return page.label(name)
    system = {"id": gettext("ID"), "owner_id": gettext("Owner"),
              "department_id": gettext("Department"), "created_at": gettext("Created at"),
              "created_by": gettext("Created by"), "updated_at": gettext("Updated at"),
              "updated_by": gettext("Updated by")}
    return str(system.get(name, name))


@dataclass(frozen=True)
class FilterField:
    """A field the reader may filter by, as the form offers it."""

    name: str
    label: str
    kind: str
    operators: tuple[tuple[str, str], ...] = ()
    choices: tuple[tuple[str, str], ...] = ()
    #: The HTML input type of the value (text, number, date, datetime-local).
    input_type: str = "text"
    step: str = "any"

    @property
    def between(self) -> bool:
        """Whether the form shows the second input (the upper end of a range)."""
        return any(op == "between" for op, _ in self.operators)


def _input_type(kind: str) -> str:
    return {"number": "number", "date": "date", "datetime": "datetime-local",
            "reference": "number"}.get(kind, "text")


def _kind(f: FieldDef) -> str:
    return GROUPS.get(value_type(f), "text")


def _describe(page: Page, f: FieldDef) -> FilterField:
    kind = _kind(f)
    allowed = filter_operators(f)
    ops = tuple((op, operator_label(op, kind)) for op in FORM_OPERATORS[kind]
                if (op if op != "notnull" else "isnull") in allowed)
    choices: tuple[tuple[str, str], ...] = ()
    if kind in ("picklist", "multipicklist"):
        choices = tuple((v, f.choice_label(v, page.lang)) for v in f.choice_values)
    elif kind == "boolean":
        choices = (("true", gettext("Yes")), ("false", gettext("No")))
    step = "1" if value_type(f) == "integer" or kind == "reference" else "any"
    return FilterField(f.name, f.label(page.lang), kind, ops, choices, _input_type(kind), step)


def filter_fields(page: Page) -> list[FilterField]:
    """The fields the reader may filter by: readable, stored, with operators (hidden
    fields are never offered). Described once per request and object: the form, the
    chips and the picked field all ask."""
    kept: dict[tuple[str, str], list[FilterField]] = g.setdefault("filter_fields", {})
    key = (page.obj.id, page.lang)
    found = kept.get(key)
    if found is None:
        found = kept[key] = [_describe(page, f) for f in page.obj.fields
                             if f.name in page.readable and f.stored
                             and filter_operators(f) and _kind(f) in FORM_OPERATORS]
    return found


def editor(page: Page, name: str) -> FilterField | None:
    return next((f for f in filter_fields(page) if f.name == name), None)


class FormProblem(Exception):
    """A condition the form cannot add: ``message`` in the page's language, or a service
    message (``service``) the page translates."""

    def __init__(self, message: str, *, service: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.service = service


def condition_from_form(page: Page, name: str, op: str, values: Sequence[str],
                        upper: str) -> tuple[str, str]:
    """The address parameter (key, value) for a condition filled in on the form; raises
    ``FormProblem`` when the field, the operator or the value does not fit."""
    described = editor(page, name)
    if described is None:
        raise FormProblem(gettext("Choose a field to filter by."))
    if op not in dict(described.operators):
        raise FormProblem(gettext("Choose a condition for this field."))
    values = [v.strip() for v in values if v.strip()]
    if op in NO_VALUE:
        key, value = f"{name}__isnull", "true" if op == "isnull" else "false"
    elif op == "between":
        if len(values) != 1 or not upper.strip():
            raise FormProblem(gettext("Enter both ends of the range."))
        key, value = f"{name}__between", f"{values[0]},{upper.strip()}"
    elif not values:
        raise FormProblem(gettext("Enter a value."))
    elif described.kind == "picklist" and op == "eq" and len(values) > 1:
        key, value = f"{name}__in", ",".join(values)
    elif len(values) > 1:
        raise FormProblem(gettext("Choose one value for this condition."))
    else:
        key, value = (name if op == "eq" else f"{name}__{op}"), values[0]
    try:
        check_condition(page.obj, parse_condition(key, value), page.readable)
    except BadRequest as exc:
        raise FormProblem(exc.message, service=True) from None
    return key, value


def _shown_value(f: FilterField, cond: Condition) -> str:
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    names = dict(f.choices)
    shown = [names.get(v, v) for v in values]
    if cond.op == "between":
        return str(gettext("%(low)s and %(high)s", low=shown[0], high=shown[-1]))
    return ", ".join(shown)


def chips(page: Page, pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The address's conditions as "<label> <condition> <value>" (choice labels, yes/no),
    each with its parameter for the link that removes it."""
    fields = {f.name: f for f in filter_fields(page)}
    out = []
    for key, raw in pairs:
        try:
            cond = parse_condition(key, raw)
        except BadRequest:
            out.append({"key": key, "value": raw, "text": f"{key} = {raw}"})
            continue
        f = fields.get(cond.field)
        if f is None:  # unknown or hidden: shown as written (the list says what is wrong)
            out.append({"key": key, "value": raw, "text": f"{key} = {raw}"})
            continue
        if cond.op == "isnull":
            empty = str(cond.value).lower() in ("true", "1")
            text = f"{f.label} {operator_label('isnull' if empty else 'notnull', f.kind)}"
        else:
            text = f"{f.label} {operator_label(cond.op, f.kind)} {_shown_value(f, cond)}"
        out.append({"key": key, "value": raw, "text": text})
    return out
