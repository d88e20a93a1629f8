"""Pages without data say so in the page's language: an empty list (with and without
filters), a record's empty related list, history and attachments, an object dashboard whose
charts have no records and one with nothing to chart."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session

SHELF: dict[str, Any] = {
    "name": "shelf", "label": {"zh": "货架", "en": "Shelf"},
    "fields": [{"name": "title", "type": "text", "label": {"zh": "名称", "en": "Title"}}],
}
BOX: dict[str, Any] = {
    "name": "box", "label": {"zh": "箱子", "en": "Box"},
    "fields": [{"name": "title", "type": "text", "label": {"zh": "名称", "en": "Title"}},
               {"name": "shelf", "type": "lookup", "target": "shelf",
                "label": {"zh": "货架", "en": "Shelf"}},
               {"name": "size", "type": "picklist", "label": {"zh": "尺寸", "en": "Size"},
                "choices": [{"value": "s"}, {"value": "l"}]}],
}
EXPECTED = {
    "en": {"list": "No Box records yet.", "filtered": "No records match these filters or "
           "this search.", "related": "None yet.", "chart": "No records.",
           "nothing": "There is nothing to chart here yet."},
    "zh": {"list": "还没有箱子记录。", "filtered": "没有符合这些筛选或搜索条件的记录。",
           "related": "暂无。", "chart": "没有记录。", "nothing": "这里还没有可以显示的图表。"},
}


def test_empty_pages_say_so_in_their_language(client: FlaskClient, admin: dict[str, str],
                                              instance: Instance) -> None:
    for doc in (SHELF, BOX):
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    shelf = client.post("/api/v1/records/shelf", json={"title": "A"}, headers=admin).json
    c = browser_session(instance)
    for lang, text in EXPECTED.items():
        listing = c.get(f"/records/box?lang={lang}").text
        assert 'id="list-empty"' in listing and text["list"] in listing
        filtered = c.get(f"/records/box?lang={lang}&title=x").text
        assert text["filtered"] in filtered
        record = c.get(f"/records/shelf/{shelf['id']}?lang={lang}").text
        assert f"<p>{text['related']}</p>" in record  # the boxes on this shelf: none
        charts = c.get(f"/records/box/dashboard?lang={lang}").text
        assert f'<td colspan="2">{text["chart"]}</td>' in charts
        assert 'class="chart"' not in charts  # no empty axes above the empty table
        nothing = c.get(f"/records/shelf/dashboard?lang={lang}").text
        assert text["nothing"] in nothing
