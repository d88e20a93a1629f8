"""Process forms to process documents and back, and ProcessService errors to form inputs.

The form is flat (``steps-2-criteria``, ``on_approve-0-field``) so the designer's input
macros work unchanged; rows are parsed into documents here and nothing else: every check
(names, modes, approvers, expressions) is ``ProcessService``'s, so a value that cannot be
read is passed on as typed and comes back as a 422 beside its input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .forms import label_of

MODES = ("single", "any", "all", "sequential")
#: The inputs of one step row (``steps-<i>-<input>``).
STEP_INPUTS = ("original", "name", "label_zh", "label_en", "criteria", "mode", "pass_rate",
               "parallel", "users", "role", "field", "manager", "department_head", "chosen_by_previous",
               "fields", "cc_users")
FLAGS = ("manager", "department_head", "chosen_by_previous")
UPDATES = ("on_approve", "on_reject")
#: Blank field-update rows offered under the stored ones.
BLANK_UPDATES = 2
#: Step keys the form edits; the others (a timeout...) are kept from the stored step.
_EDITED = frozenset({"name", "label", "criteria", "mode", "pass_rate", "parallel", "approvers",
                     "fields"})
#: How a process treats an approver who already approved an earlier step (decision 0026).
REPEATED = ("never_skip", "adjacent", "first")

_ROW = re.compile(r"^steps-(\d+)-")
_PASS_RATE = re.compile(r"^\d+(\.\d+)?$")
_STEP_PATH = re.compile(r"^\$\.steps\[(\d+)\](?:\.(\w+))?(?:\.(\w+))?")


def _text(form: Mapping[str, str], key: str) -> str:
    return (form.get(key) or "").strip()


def step_rows(form: Mapping[str, str]) -> list[dict[str, str]]:
    """The step rows of a submitted form, in order: ``{input: value}`` each."""
    indices = sorted({int(m.group(1)) for k in form if (m := _ROW.match(k))})
    return [{key: str(form.get(f"steps-{i}-{key}") or "") for key in STEP_INPUTS}
            for i in indices]


def update_rows(form: Mapping[str, str], key: str) -> list[tuple[str, str]]:
    """``(field, expression)`` rows of ``on_approve`` / ``on_reject``, blank ones left out."""
    indices = sorted({int(m.group(1)) for k in form
                      if (m := re.match(rf"^{key}-(\d+)-field$", k))})
    rows = [(_text(form, f"{key}-{i}-field"), _text(form, f"{key}-{i}-expr")) for i in indices]
    return [r for r in rows if r[0] or r[1]]


def flatten(top: Mapping[str, str], rows: list[dict[str, str]],
            updates: Mapping[str, list[tuple[str, str]]]) -> dict[str, str]:
    """The flat form values of process inputs, step rows and field-update rows."""
    values = {k: v for k, v in top.items() if not _ROW.match(k)
              and not k.startswith(UPDATES)}
    for i, row in enumerate(rows):
        values.update({f"steps-{i}-{k}": v for k, v in row.items()})
    for key in UPDATES:
        for i, (field, expr) in enumerate(updates.get(key, [])):
            values[f"{key}-{i}-field"] = field
            values[f"{key}-{i}-expr"] = expr
    return values


def apply_operation(form: Mapping[str, str], op: str) -> dict[str, str]:
    """The form after a step button (``add``, ``remove-<i>``, ``up-<i>``, ``down-<i>``)."""
    rows = step_rows(form)
    verb, _, raw = op.partition("-")
    i = int(raw) if raw.isdigit() else -1
    if verb == "add":
        rows.append({"mode": "single"})
    elif verb == "remove" and 0 <= i < len(rows) and len(rows) > 1:
        rows.pop(i)
    elif verb == "up" and 0 < i < len(rows):
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    elif verb == "down" and 0 <= i < len(rows) - 1:
        rows[i], rows[i + 1] = rows[i + 1], rows[i]
    return flatten(form, rows, {k: update_rows(form, k) for k in UPDATES})


def _pass_rate(raw: str) -> float | int | str:
    if not _PASS_RATE.match(raw):
        return raw  # refused by the schema, beside its input
    number = float(raw)
    return int(number) if number.is_integer() else number


def step_doc(row: Mapping[str, str], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """One step from its row; what the form does not edit comes from the stored step."""
    step = {k: v for k, v in (stored or {}).items() if k not in _EDITED}
    step["name"] = _text(row, "name")
    label = label_of(row)
    if label:
        step["label"] = label
    if _text(row, "criteria"):
        step["criteria"] = _text(row, "criteria")
    step["mode"] = _text(row, "mode") or "single"
    if _text(row, "pass_rate"):
        step["pass_rate"] = _pass_rate(_text(row, "pass_rate"))
    if _text(row, "parallel"):  # steps next to each other with one group run at once
        step["parallel"] = _text(row, "parallel")
    approvers: dict[str, Any] = {}
    users = [u.strip() for u in _text(row, "users").split(",") if u.strip()]
    if users:
        approvers["users"] = list(dict.fromkeys(users))
    for key in ("role", "field"):
        if _text(row, key):
            approvers[key] = _text(row, key)
    for flag in FLAGS:
        if row.get(flag):
            approvers[flag] = True
    step["approvers"] = approvers
    sight: dict[str, str] = {}
    for part in _text(row, "fields").split(","):  # "notes:edit, cost:hidden"
        name, _, access = part.partition(":")
        if name.strip():
            sight[name.strip()] = access.strip() or "read"
    if sight:
        step["fields"] = sight
    cc_users = [u.strip() for u in _text(row, "cc_users").split(",") if u.strip()]
    cc = {k: v for k, v in dict((stored or {}).get("cc") or {}).items() if k != "users"}
    if cc_users:
        cc["users"] = list(dict.fromkeys(cc_users))
    step.pop("cc", None)
    if cc:
        step["cc"] = cc
    return step


def process_patch(form: Mapping[str, str], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys the form edits, as a merge patch (None removes a key left blank)."""
    stored = {str(s.get("name")): s for s in (current or {}).get("steps", [])}
    patch: dict[str, Any] = {"label": label_of(form) or None,
                             "entry_criteria": _text(form, "entry_criteria") or None}
    patch["steps"] = [step_doc(row, stored.get(row.get("original", "")))
                      for row in step_rows(form)]
    for key in UPDATES:
        patch[key] = {field: expr for field, expr in update_rows(form, key)} or None
    patch["repeated_approver"] = _text(form, "repeated_approver") or None
    patch["reject_requires_comment"] = True if form.get("reject_requires_comment") else None
    return patch


def new_process(form: Mapping[str, str]) -> dict[str, Any]:
    """A new process document from the form (name and object included)."""
    doc = {k: v for k, v in process_patch(form, None).items() if v is not None}
    return {"name": _text(form, "name"), "object": _text(form, "object"), **doc}


def process_values(doc: Mapping[str, Any]) -> dict[str, str]:
    """The form inputs of a stored process document."""
    top = {"name": str(doc.get("name", "")), "object": str(doc.get("object", "")),
           "entry_criteria": str(doc.get("entry_criteria") or ""),
           "repeated_approver": str(doc.get("repeated_approver") or ""),
           "reject_requires_comment": "1" if doc.get("reject_requires_comment") else ""}
    for lang, text in (doc.get("label") or {}).items():
        top[f"label_{lang}"] = str(text)
    rows = []
    for step in doc.get("steps", []):
        approvers = step.get("approvers") or {}
        label = step.get("label") or {}
        row = {"original": str(step.get("name", "")), "name": str(step.get("name", "")),
               "label_zh": str(label.get("zh", "")), "label_en": str(label.get("en", "")),
               "criteria": str(step.get("criteria") or ""),
               "mode": str(step.get("mode", "single")),
               "pass_rate": str(step["pass_rate"]) if "pass_rate" in step else "",
               "parallel": str(step.get("parallel") or ""),
               "users": ", ".join(approvers.get("users", [])),
               "role": str(approvers.get("role", "")), "field": str(approvers.get("field", "")),
               "fields": ", ".join(f"{k}:{v}" for k, v in (step.get("fields") or {}).items()),
               "cc_users": ", ".join((step.get("cc") or {}).get("users", []))}
        row.update({flag: "1" if approvers.get(flag) else "" for flag in FLAGS})
        rows.append(row)
    updates = {key: [(str(f), str(e)) for f, e in (doc.get(key) or {}).items()]
               for key in UPDATES}
    return flatten(top, rows, updates)


def counts(values: Mapping[str, str]) -> dict[str, int]:
    """How many step rows and field-update rows (stored ones plus blank ones) to show."""
    out = {"steps": len(step_rows(values)) or 1}
    for key in UPDATES:
        out[key] = len(update_rows(values, key)) + BLANK_UPDATES
    return out


def place_process_errors(fields: Mapping[str, list[str]], values: Mapping[str, str]
                         ) -> tuple[dict[str, list[str]], list[str]]:
    """ProcessService errors by form input: ``$.steps[1].approvers.users[0]`` beside
    ``steps-1-users``, ``$.on_approve.status`` beside the row naming ``status``; errors of
    other paths come back as general messages."""
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for path, messages in fields.items():
        key = _input_of(path, values)
        if key is None:
            general.extend(f"{path}: {m}" for m in messages)
        else:
            placed.setdefault(key, []).extend(messages)
    return placed, general


def _input_of(path: str, values: Mapping[str, str]) -> str | None:
    if path in ("$.name", "$.object", "$.entry_criteria"):
        return path[2:]
    if path in ("$.label.zh", "$.label.en"):
        return "label_" + path[-2:]
    m = _STEP_PATH.match(path)
    if m and m.group(2):
        i, part, sub = m.group(1), m.group(2), m.group(3)
        if part == "label" and sub in ("zh", "en"):
            return f"steps-{i}-label_{sub}"
        if part == "approvers":
            return f"steps-{i}-{sub}" if sub in ("users", "role", "field", *FLAGS) \
                else f"steps-{i}-approvers"
        if part in ("name", "criteria", "mode", "pass_rate", "parallel"):
            return f"steps-{i}-{part}"
        return None
    for key in UPDATES:
        if path.startswith(f"$.{key}."):
            field = path[len(key) + 3:]
            for k, v in values.items():
                if k.startswith(f"{key}-") and k.endswith("-field") and v == field:
                    return k[:-len("field")] + "expr"
    return None
