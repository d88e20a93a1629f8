"""Layout documents: the generated default, validation with JSON paths, per-role choice,
and storage by field id (so renames need no rewrite)."""

from __future__ import annotations

from typing import Any

import pytest

from crmforge.core.errors import ValidationFailed
from crmforge.metadata.layouts import default_layout, layout_for, prepare_layout, public_layout
from crmforge.metadata.model import Snapshot

DOC: dict[str, Any] = {
    "id": "o1", "name": "deal",
    "fields": [{"id": "f1", "name": "title", "type": "text", "required": True},
               {"id": "f2", "name": "notes", "type": "textarea"},
               {"id": "f3", "name": "qty", "type": "integer"}]}


def _snap(layout: dict[str, Any] | None = None) -> Snapshot:
    entry: dict[str, Any] = {"doc": DOC, "removed_fields": []}
    if layout is not None:
        entry["layout"] = layout
    return Snapshot.from_data(3, {"objects": [entry], "removed_objects": []})


def test_default_layout_lists_every_field_and_skips_wide_columns() -> None:
    obj = _snap().objects["deal"]
    doc = default_layout(obj)
    assert doc["form"]["sections"][0]["fields"] == ["title", "notes", "qty"]
    assert doc["list"]["columns"] == ["title", "qty"]


def test_stored_by_id_shown_by_name_and_per_role() -> None:
    obj = _snap().objects["deal"]
    stored = prepare_layout({
        "form": {"sections": [{"label": {"en": "Main"}, "columns": 2, "fields": ["qty", "title"]}]},
        "list": {"columns": ["qty", "created_at"], "sort": "-qty"},
        "roles": {"sales": {"list": {"columns": ["title"]}}}}, obj, ["sales"])
    assert stored["form"]["sections"][0]["fields"] == ["f3", "f1"]
    assert stored["list"] == {"columns": ["f3", "created_at"], "sort": "-f3"}
    snap = _snap(stored)
    obj = snap.objects["deal"]
    assert public_layout(snap, obj)["list"]["sort"] == "-qty"
    assert layout_for(snap, obj, ["sales"]).columns == ("title",)
    mine = layout_for(snap, obj, [])
    assert mine.columns == ("qty", "created_at")
    assert mine.sections[0].title("zh") == "Main" and mine.form_fields == ("qty", "title")


def test_problems_name_their_paths() -> None:
    obj = _snap().objects["deal"]
    with pytest.raises(ValidationFailed) as info:
        prepare_layout({"form": {"sections": [{"fields": ["nope"]}]},
                        "list": {"columns": ["title"], "sort": "ghost"}}, obj, [])
    assert set(info.value.fields) == {"$.form.sections[0].fields[0]", "$.list.sort"}
    with pytest.raises(ValidationFailed) as info:
        prepare_layout({"form": {"sections": []}, "extra": 1}, obj, [])
    assert info.value.fields
