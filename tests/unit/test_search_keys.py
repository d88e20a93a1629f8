"""The pinyin search key of a title and the shape of a search term (decision 0032)."""

from __future__ import annotations

import pytest

from crmforge.core.errors import BadRequest
from crmforge.runtime.search import check_term, like_escape, pinyin_term
from crmforge.runtime.search_keys import key


def test_chinese_name() -> None:
    assert key("张三") == ("zhangsan", "zs")


def test_mixed_text_keeps_words_and_gives_their_initials() -> None:
    assert key("ACME 上海分公司") == ("acmeshanghaifengongsi", "ashfgs")
    assert key("张三-2号") == ("zhangsan2hao", "zs2h")


def test_polyphonic_characters_take_the_default_reading() -> None:
    assert key("重庆") == ("chongqing", "cq")  # not zhongqing
    assert key("银行") == ("yinhang", "yh")  # not yinxing
    assert key("吕") == ("lv", "l")


@pytest.mark.parametrize("title", [None, "", "ACME Ltd", "12345", "Zhang San"])
def test_titles_without_chinese_have_no_key(title: str | None) -> None:
    assert key(title) is None


def test_pinyin_terms() -> None:
    assert pinyin_term("ZhangSan") == "zhangsan"
    assert pinyin_term("zhang san") == "zhangsan"
    assert pinyin_term("xi'an") == "xian"
    assert pinyin_term("张三") is None
    assert pinyin_term("a1") is None
    assert pinyin_term("zs%") is None
    assert pinyin_term("é") is None


def test_like_escape() -> None:
    assert like_escape("100%_a\\b") == "100\\%\\_a\\\\b"


def test_check_term() -> None:
    assert check_term("  张三 ", None) == ("张三", 20)
    assert check_term("zs", "5") == ("zs", 5)
    for q, limit in ((None, None), ("", None), (" ", None), ("x" * 101, None), ("x", "0"),
                     ("x", "101"), ("x", "1.5"), (["x"], None)):
        with pytest.raises(BadRequest):
            check_term(q, limit)
