"""The automation rule form: a rule document as flat form values and back, and the
service's JSON-path errors placed beside the inputs they concern.

Why flat values: the page is a plain HTML form (it works without JavaScript; a small
script only hides the inputs of the action types not chosen). Each action is a numbered
row ``a-<i>-...``; one blank row more than the rule has lets an administrator add an
action by saving. Expressions of ``update`` and ``create`` actions are one
``field = expression`` per line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

WHENS = ("created", "updated", "saved", "deleted", "date")
ACTION_TYPES = ("update", "create", "notify", "email", "webhook")
#: The keys of an update's ``each`` and an e-mail's ``delivery`` (docs/automation.md).
EACH_KEYS = ("object", "link", "condition")
DELIVERY_KEYS = ("field", "sent", "failed", "error_field")
#: Text inputs of an action row and the document key they fill.
TEXTS = {"message_zh": ("message", "zh"), "message_en": ("message", "en"),
         "subject_zh": ("subject", "zh"), "subject_en": ("subject", "en"),
         "body_zh": ("body", "zh"), "body_en": ("body", "en")}
MAX_ROWS = 20
_PATH = re.compile(r"^\$\.actions\[(\d+)\](?:\.(\w+))?(?:\.(\w+))?(?:\[\d+\])?")


def rows(values: Mapping[str, str]) -> int:
    """How many action rows the form shows (the rule's, and one blank)."""
    used = [int(m.group(1)) for k in values if (m := re.match(r"^a-(\d+)-type$", k))]
    return min(MAX_ROWS, (max(used) + 2) if used else 1)


def _lines(pairs: Mapping[str, Any]) -> str:
    return "\n".join(f"{k} = {v}" for k, v in pairs.items())


def _split(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,\s]+", text or "") if p.strip()]


def values_of(doc: Mapping[str, Any]) -> dict[str, str]:
    """A stored rule as form values."""
    label = doc.get("label") or {}
    out = {"name": doc["name"], "object": doc["object"], "when": doc["when"],
           "label_zh": label.get("zh", ""), "label_en": label.get("en", ""),
           "enabled": "1" if doc.get("enabled", True) else "",
           "fields": ", ".join(doc.get("fields", [])), "condition": doc.get("condition") or "",
           "date_field": doc.get("date_field", ""),
           "offset_days": str(doc.get("offset_days", "")) if "offset_days" in doc else "",
           "yearly": "1" if doc.get("yearly") else "", "timezone": doc.get("timezone", "")}
    for i, a in enumerate(doc.get("actions", [])):
        p = f"a-{i}-"
        out[p + "type"] = a["type"]
        if a["type"] == "update":
            out[p + "set"] = _lines(a.get("set", {}))
            each = a.get("each") or {}
            for key in EACH_KEYS:
                out[p + "each_" + key] = each.get(key) or ""
        elif a["type"] == "create":
            out[p + "object"] = a.get("object", "")
            out[p + "values"] = _lines(a.get("values", {}))
            out[p + "create_owner"] = a.get("owner", "")
        elif a["type"] in ("notify", "email"):
            to = a.get("to", {})
            out[p + "owner"] = "1" if to.get("owner") else ""
            out[p + "users"] = ", ".join(to.get("users", []))
            out[p + "role"] = to.get("role", "")
            out[p + "field"] = to.get("field", "")
            out[p + "addresses"] = ", ".join(to.get("addresses", []))
            for key, (part, lang) in TEXTS.items():
                if lang in (a.get(part) or {}):
                    out[p + key] = a[part][lang]
            delivery = a.get("delivery") or {}
            for key in DELIVERY_KEYS:
                out[p + "delivery_" + key] = delivery.get(key) or ""
        else:
            out[p + "url"] = a.get("url", "")
            out[p + "secret"] = a.get("secret", "")
    return out


def _pairs(text: str, problems: dict[str, list[str]], name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        field, sep, expr = line.partition("=")
        if not sep or not field.strip() or not expr.strip():
            problems.setdefault(name, []).append(f"line {n}: write field = expression")
            continue
        out[field.strip()] = expr.strip()
    return out


def document(form: Mapping[str, str], *, name: str | None = None,
             obj: str | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The rule document a form describes, and problems of the form itself."""
    problems: dict[str, list[str]] = {}

    def get(key: str) -> str:
        return (form.get(key) or "").strip()

    doc: dict[str, Any] = {"name": name or get("name"), "object": obj or get("object"),
                           "when": get("when"), "enabled": bool(get("enabled"))}
    label = {lang: get("label_" + lang) for lang in ("zh", "en") if get("label_" + lang)}
    if label:
        doc["label"] = label
    if get("condition"):
        doc["condition"] = get("condition")
    if get("fields"):
        doc["fields"] = _split(get("fields"))
    if doc["when"] == "date":
        if get("date_field"):
            doc["date_field"] = get("date_field")
        if get("offset_days"):
            try:
                doc["offset_days"] = int(get("offset_days"))
            except ValueError:
                problems["offset_days"] = ["a whole number of days"]
        if get("yearly"):
            doc["yearly"] = True
        if get("timezone"):
            doc["timezone"] = get("timezone")
    doc["actions"] = []
    for i in range(rows(form)):
        p = f"a-{i}-"
        kind = get(p + "type")
        if not kind:
            continue
        action: dict[str, Any] = {"type": kind}
        if kind == "update":
            action["set"] = _pairs(form.get(p + "set", ""), problems, p + "set")
            each = {key: get(p + "each_" + key) for key in EACH_KEYS if get(p + "each_" + key)}
            if each:  # the records linking to this one, instead of this record
                action["each"] = each
        elif kind == "create":
            action["object"] = get(p + "object")
            action["values"] = _pairs(form.get(p + "values", ""), problems, p + "values")
            if get(p + "create_owner"):
                action["owner"] = get(p + "create_owner")
        elif kind in ("notify", "email"):
            to: dict[str, Any] = {}
            if get(p + "owner"):
                to["owner"] = True
            for key in ("users", "addresses"):
                if get(p + key) and (key == "users" or kind == "email"):
                    to[key] = _split(get(p + key))
            for key in ("role", "field"):
                if get(p + key):
                    to[key] = get(p + key)
            action["to"] = to
            parts = ("message",) if kind == "notify" else ("subject", "body")
            for key, (part, lang) in TEXTS.items():
                if part in parts and (form.get(p + key) or "").strip():
                    action.setdefault(part, {})[lang] = form[p + key].strip()
            delivery = {key: get(p + "delivery_" + key) for key in DELIVERY_KEYS
                        if get(p + "delivery_" + key)}
            if kind == "email" and delivery:  # the server's answer back to the record
                action["delivery"] = delivery
        else:
            action["url"] = get(p + "url")
            if get(p + "secret"):
                action["secret"] = get(p + "secret")
        doc["actions"].append(action)
    return doc, problems


def place_errors(fields: Mapping[str, list[str]], form: Mapping[str, str]
                 ) -> tuple[dict[str, list[str]], list[str]]:
    """JSON-path errors beside their inputs; the rest as general problems."""
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    kept = [i for i in range(rows(form)) if (form.get(f"a-{i}-type") or "").strip()]
    for path, messages in fields.items():
        key = _input_of(path, kept)
        if key is None:
            general += [f"{path}: {m}" for m in messages]
        else:
            placed.setdefault(key, []).extend(messages)
    return placed, general


def _input_of(path: str, kept: list[int]) -> str | None:
    top = re.match(r"^\$\.(\w+)", path)
    if top and top.group(1) in ("name", "object", "when", "condition", "fields", "date_field",
                                "offset_days", "yearly", "timezone"):
        return top.group(1)
    m = _PATH.match(path)
    if m is None:
        return None
    index = int(m.group(1))
    if index >= len(kept):
        return None
    row, part, sub = kept[index], m.group(2), m.group(3)
    p = f"a-{row}-"
    if part in ("message", "subject", "body") and sub in ("zh", "en"):
        return f"{p}{part}_{sub}"
    if part == "to":
        return p + (sub if sub in ("users", "role", "field", "addresses") else "owner")
    if part in ("each", "delivery"):
        keys = EACH_KEYS if part == "each" else DELIVERY_KEYS
        return f"{p}{part}_{sub}" if sub in keys else f"{p}{part}_{keys[0]}"
    if part in ("set", "values", "object", "url", "secret"):
        return p + part
    if part == "owner":
        return p + "create_owner"
    return p + "type"


__all__ = ["ACTION_TYPES", "DELIVERY_KEYS", "EACH_KEYS", "WHENS", "document", "place_errors", "rows",
           "values_of"]
