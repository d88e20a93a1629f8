"""Designer forms to metadata documents and back, and Designer errors to form inputs.

Only translation between HTML form fields and the documents the ``Designer`` takes: every
check (names, types, options, expressions) is the Designer's, so a value that cannot be
read here is passed on as typed and comes back as a 422 beside its input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: The field types the designer offers, in the order of its type list.
TYPES = ("text", "textarea", "integer", "decimal", "currency", "percent", "boolean", "date",
         "datetime", "email", "phone", "url", "picklist", "multipicklist", "lookup",
         "master_detail", "user", "department", "autonumber", "formula", "rollup", "file")
#: Result types a formula may have (``rules.RESULT_TYPES``).
RESULT_TYPES = ("text", "integer", "decimal", "currency", "percent", "boolean", "date",
                "datetime")
ROLLUP_FUNCTIONS = ("count", "sum", "min", "max")
CONDITIONS = ("visible_if", "required_if", "readonly_if")
FLAGS = ("required", "unique", "searchable")
#: Options every field form edits; options it does not show (pattern, help...) are kept.
COMMON = ("label", *FLAGS, *CONDITIONS, "default")
#: The options each type's form edits.
TYPE_OPTIONS: dict[str, tuple[str, ...]] = {
    "text": ("max_length",), "textarea": ("max_length",),
    "decimal": ("scale",), "currency": ("scale", "currency"), "percent": ("scale",),
    "phone": ("region",), "integer": ("grouping",), "date": ("deadline",),
    "picklist": ("choices",), "multipicklist": ("choices",),
    "lookup": ("target",), "master_detail": ("target",),
    "formula": ("expression", "result_type", "stored", "deadline"),
    "rollup": ("function", "child", "field", "filter"),
}
#: The inputs of a field form (errors of anything else are shown above the form).
FIELD_INPUTS = frozenset({"name", "type", "label_zh", "label_en", *COMMON,
                          *(o for opts in TYPE_OPTIONS.values() for o in opts)})

_NUMBER = re.compile(r"-?\d+")


def _text(form: Mapping[str, str], key: str) -> str:
    return (form.get(key) or "").strip()


def label_of(form: Mapping[str, str], prefix: str = "label") -> dict[str, str]:
    """``{"zh", "en"}`` from the ``<prefix>_zh`` and ``<prefix>_en`` inputs (blank left out)."""
    out = {lang: _text(form, f"{prefix}_{lang}") for lang in ("zh", "en")}
    return {k: v for k, v in out.items() if v}


def _number(raw: str) -> int | str:
    return int(raw) if _NUMBER.fullmatch(raw) else raw


def parse_choices(text: str, current: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Lines of ``value|中文|English``; a kept value keeps its other settings (colour...)."""
    before = {str(c.get("value")): dict(c) for c in current}
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if not parts[0]:
            continue
        choice = before.get(parts[0], {"value": parts[0]})
        choice.pop("label", None)
        label = {k: v for k, v in zip(("zh", "en"), parts[1:3], strict=False) if v}
        if label:
            choice["label"] = label
        out.append(choice)
    return out


def choices_text(choices: Iterable[Mapping[str, Any]]) -> str:
    lines = []
    for c in choices:
        label = c.get("label") or {}
        lines.append("|".join([str(c.get("value", "")), label.get("zh", ""), label.get("en", "")])
                     .rstrip("|"))
    return "\n".join(lines)


def field_doc(form: Mapping[str, str], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The field document a field form describes (only the options the form edits)."""
    ftype = _text(form, "type") or "text"
    doc: dict[str, Any] = {"name": _text(form, "name"), "type": ftype}
    label = label_of(form)
    if label:
        doc["label"] = label
    for flag in FLAGS:
        if form.get(flag):
            doc[flag] = True
    for key in (*CONDITIONS, "default"):
        if _text(form, key):
            doc[key] = _text(form, key)
    for key in TYPE_OPTIONS.get(ftype, ()):
        raw = _text(form, key)
        if key in ("stored", "deadline"):
            if form.get(key):
                doc[key] = True
        elif key == "choices":
            doc[key] = parse_choices(raw, (current or {}).get("choices") or ())
        elif key in ("max_length", "scale"):
            if raw:
                doc[key] = _number(raw)
        elif key == "grouping":  # the box says "without": ticked is grouping: false
            if form.get("no_grouping"):
                doc[key] = False
        elif key in ("currency", "region"):  # codes are upper case: cny is CNY
            if raw:
                doc[key] = raw.upper()
        elif raw:
            doc[key] = raw
    return doc


def field_patch(doc: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """A patch turning ``current`` into ``doc``: options the form edits and left blank are
    removed (``None``), options it does not edit stay as they are."""
    edited = {*COMMON, *TYPE_OPTIONS.get(str(current.get("type")), ()),
              *TYPE_OPTIONS.get(str(doc.get("type")), ())}
    patch: dict[str, Any] = dict(doc)
    for key in edited:
        if key in current and key not in doc:
            patch[key] = None
    return patch


def field_values(doc: Mapping[str, Any]) -> dict[str, str]:
    """The form inputs of a stored field document."""
    values = {k: str(v) for k, v in doc.items()
              if isinstance(v, str | int) and not isinstance(v, bool)}
    for flag in (*FLAGS, "stored", "deadline"):
        values[flag] = "1" if doc.get(flag) else ""
    for lang, text in (doc.get("label") or {}).items():
        values[f"label_{lang}"] = str(text)
    values["choices"] = choices_text(doc.get("choices") or ())
    values["no_grouping"] = "1" if doc.get("grouping") is False else ""
    return values


def rule_doc(form: Mapping[str, str]) -> dict[str, Any]:
    """A validation rule from its form: name, condition, zh/en message, field."""
    doc: dict[str, Any] = {"name": _text(form, "name"), "condition": _text(form, "condition"),
                           "message": label_of(form, "message")}
    if _text(form, "field"):
        doc["field"] = _text(form, "field")
    return doc


def rule_values(rule: Mapping[str, Any]) -> dict[str, str]:
    """The rule form's inputs for a stored rule (``original`` remembers which one it is)."""
    message = rule.get("message") or {}
    return {"name": str(rule.get("name", "")), "original": str(rule.get("name", "")),
            "condition": str(rule.get("condition", "")), "field": str(rule.get("field", "")),
            "message_zh": str(message.get("zh", "")), "message_en": str(message.get("en", ""))}


def place_errors(fields: Mapping[str, list[str]], prefix: str,
                 aliases: Mapping[str, str] | None = None,
                 inputs: Iterable[str] | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Designer errors by form input: ``$.fields[2].label.en`` becomes ``label_en`` when the
    form edits ``$.fields[2]``. Errors of other paths, or of inputs the form lacks (when
    ``inputs`` names them), come back as general messages."""
    aliases = aliases or {}
    known = set(inputs) if inputs is not None else None
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for path, messages in fields.items():
        key = _alias(path, aliases)
        if key is None and not path.startswith("$"):
            key = path  # a conflict names the option itself ({"name": [...]})
        elif key is None and path.startswith(prefix + "."):
            parts = re.split(r"[.\[]", path[len(prefix) + 1:])
            key = parts[0]
            if key in ("label", "message") and len(parts) > 1 and parts[1] in ("zh", "en"):
                key = f"{key}_{parts[1]}"
        if key is None or (known is not None and key not in known):
            general.extend(f"{path}: {m}" for m in messages)
        else:
            placed.setdefault(key, []).extend(messages)
    return placed, general


def _alias(path: str, aliases: Mapping[str, str]) -> str | None:
    for start, alias in aliases.items():
        if path == start or path.startswith((start + ".", start + "[")):
            return alias
    return None
