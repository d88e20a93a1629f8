"""Text functions. Positions are 1-based as in Excel. Every function that can make text
longer checks the result against MAX_TEXT before building it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ...core.linear_regex import UnreadableText
from ..types import LIST, NUM, SCALAR, TXT, T
from .base import (
    CTX,
    MAX_REGEX_INPUT,
    MAX_TEXT,
    LibraryFailure,
    Param,
    SizeLimitFailure,
    check_text,
    register,
    type_name,
    whole,
)
from .regexsafe import PatternTooLong, UnsafePattern, compile_safe

_TEXT_OR_LIST = frozenset({T.TEXT, T.LIST})


def _text(value: Any, what: str = "the argument") -> str:
    if not isinstance(value, str):
        raise LibraryFailure(f"{what} must be text, got {type_name(value)}")
    return value


@register("len", [Param("value", _TEXT_OR_LIST)], T.NUMBER, category="text",
          summary="The number of characters of text, or of items of a list.",
          example="len(trim(name))", nulls="len(None) is 0")
def len_(value: Any) -> Any:
    if value is None:
        return Decimal(0)
    if not isinstance(value, (str, list)):
        raise LibraryFailure(f"len() needs text or a list, got {type_name(value)}")
    return Decimal(len(value))


@register("upper", [Param("text", TXT)], T.TEXT, category="text",
          summary="The text in upper case.", example="upper(code)")
def upper(text: Any) -> Any:
    return None if text is None else check_text(_text(text).upper())


@register("lower", [Param("text", TXT)], T.TEXT, category="text",
          summary="The text in lower case.", example="lower(email)")
def lower(text: Any) -> Any:
    return None if text is None else check_text(_text(text).lower())


_SPACES = re.compile(r"\s+")


@register("trim", [Param("text", TXT)], T.TEXT, category="text",
          summary="The text without leading and trailing spaces, inner runs of spaces "
          "collapsed to one (like Excel's TRIM).", example="trim(name)")
def trim(text: Any) -> Any:
    return None if text is None else _SPACES.sub(" ", _text(text)).strip()


@register("left", [Param("text", TXT), Param("count", NUM)], T.TEXT, category="text",
          summary="The first `count` characters.", example="left(postcode, 2)")
def left(text: Any, count: Any) -> Any:
    if text is None or count is None:
        return None
    n = whole(count, "the count")
    if n < 0:
        raise LibraryFailure("the count must not be negative")
    return _text(text)[:n]


@register("right", [Param("text", TXT), Param("count", NUM)], T.TEXT, category="text",
          summary="The last `count` characters.", example="right(phone, 4)")
def right(text: Any, count: Any) -> Any:
    if text is None or count is None:
        return None
    n = whole(count, "the count")
    if n < 0:
        raise LibraryFailure("the count must not be negative")
    return _text(text)[len(text) - n:] if n else ""


@register("mid", [Param("text", TXT), Param("start", NUM), Param("count", NUM)], T.TEXT,
          category="text", summary="`count` characters from position `start` (1 is the first).",
          example="mid(code, 3, 2)")
def mid(text: Any, start: Any, count: Any) -> Any:
    if text is None or start is None or count is None:
        return None
    s, n = whole(start, "the start"), whole(count, "the count")
    if s < 1 or n < 0:
        raise LibraryFailure("the start must be 1 or more and the count not negative")
    return _text(text)[s - 1: s - 1 + n]


@register("concat", [], T.TEXT, variadic=Param("values", SCALAR | LIST), min_variadic=1,
          category="text", summary="The values as text, joined (numbers and dates are "
          "formatted with text()).", example="concat(first_name, ' ', last_name)",
          nulls="None values are skipped")
def concat(*values: Any) -> str:
    parts = [text(v) for v in values if v is not None]
    if sum(len(p) for p in parts) > MAX_TEXT:
        raise SizeLimitFailure(f"text would be longer than {MAX_TEXT} characters")
    return "".join(parts)


@register("contains", [Param("text", TXT), Param("part", TXT)], T.BOOLEAN, category="text",
          summary="True when the text contains `part` (case-sensitive).",
          example="contains(lower(name), 'ltd')", nulls="False when either is None")
def contains(text: Any, part: Any) -> bool:
    return text is not None and part is not None and _text(part) in _text(text)


@register("startswith", [Param("text", TXT), Param("prefix", TXT)], T.BOOLEAN,
          category="text", summary="True when the text starts with `prefix`.",
          example="startswith(code, 'CN-')", nulls="False when either is None")
def startswith(text: Any, prefix: Any) -> bool:
    return text is not None and prefix is not None and _text(text).startswith(_text(prefix))


@register("endswith", [Param("text", TXT), Param("suffix", TXT)], T.BOOLEAN,
          category="text", summary="True when the text ends with `suffix`.",
          example="endswith(email, '.cn')", nulls="False when either is None")
def endswith(text: Any, suffix: Any) -> bool:
    return text is not None and suffix is not None and _text(text).endswith(_text(suffix))


@register("find", [Param("part", TXT), Param("text", TXT)], T.NUMBER, category="text",
          summary="The position (1-based) of `part` in the text, 0 when absent.",
          example="find('@', email)")
def find(part: Any, text: Any) -> Any:
    if part is None or text is None:
        return None
    return Decimal(_text(text).find(_text(part)) + 1)


@register("replace", [Param("text", TXT), Param("old", TXT), Param("new", TXT)], T.TEXT,
          category="text", summary="The text with every `old` replaced by `new` (Excel's "
          "SUBSTITUTE).", example="replace(phone, ' ', '')")
def replace(text: Any, old: Any, new: Any) -> Any:
    if text is None or old is None or new is None:
        return None
    t, o, n = _text(text), _text(old), _text(new)
    if not o:
        return t
    if len(t) + t.count(o) * (len(n) - len(o)) > MAX_TEXT:
        raise SizeLimitFailure(f"text would be longer than {MAX_TEXT} characters")
    return t.replace(o, n)


@register("rept", [Param("text", TXT), Param("times", NUM)], T.TEXT, category="text",
          summary="The text repeated `times` times (the result is limited to 100,000 "
          "characters).", example="rept('*', rating)")
def rept(text: Any, times: Any) -> Any:
    if text is None or times is None:
        return None
    n = whole(times, "times")
    t = _text(text)
    if n < 0:
        raise LibraryFailure("times must not be negative")
    if len(t) * n > MAX_TEXT:
        raise SizeLimitFailure(f"text would be longer than {MAX_TEXT} characters")
    return t * n


_NUMBER_FORMAT = re.compile(r"(?P<int>[#0,]*)(?:\.(?P<frac>0{1,12}))?(?P<pct>%?)")
_DATE_TOKENS = re.compile(r"YYYY|YY|MM|DD|hh|mm|ss")


@register("text", [Param("value", SCALAR | LIST), Param("format", TXT, True)], T.TEXT,
          category="text",
          summary="The value as text. Numbers take a format like '0', '0.00', '#,##0.00' or "
          "'0.0%'; dates and times take tokens YYYY, YY, MM, DD, hh, mm, ss "
          "(e.g. 'YYYY-MM-DD hh:mm'). Without a format: plain digits, ISO dates, "
          "'true'/'false', list items joined with ', '.",
          example="text(amount, '#,##0.00')")
def text(value: Any, format: Any = None) -> Any:
    if value is None:
        return None
    if format is not None:
        fmt = _text(format, "the format")
        if len(fmt) > 100:
            raise LibraryFailure("the format is longer than 100 characters")
    else:
        fmt = None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (Decimal, int)):
        return _format_number(Decimal(value), fmt)
    if isinstance(value, dt.date):
        return _format_date(value, fmt)
    if isinstance(value, list):
        return concat(", ".join(text(v) or "" for v in value))
    raise LibraryFailure(f"cannot format {type_name(value)}")


def _format_number(n: Decimal, fmt: str | None) -> str:
    if not n.is_finite() or abs(n.adjusted()) > 100:
        return str(n)
    if fmt is None:
        return format(n, "f")
    m = _NUMBER_FORMAT.fullmatch(fmt)
    if m is None or not fmt:
        raise LibraryFailure(f"'{fmt[:40]}' is not a number format (try '0.00' or '#,##0')")
    if m["pct"]:
        n = CTX.multiply(n, Decimal(100))
    places = len(m["frac"] or "")
    q = n.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=CTX)
    out = format(q, (",." if "," in m["int"] else ".") + f"{places}f")
    min_int = m["int"].count("0")
    sign = "-" if out.startswith("-") else ""
    body = out.lstrip("-")
    int_part, _, frac = body.partition(".")
    if len(int_part.replace(",", "")) < min_int:
        int_part = int_part.zfill(min_int)
    return sign + int_part + ("." + frac if frac else "") + m["pct"]


def _format_date(d: dt.date, fmt: str | None) -> str:
    if fmt is None:
        if isinstance(d, dt.datetime):
            return d.isoformat(sep=" ", timespec="seconds")
        return d.isoformat()
    is_dt = isinstance(d, dt.datetime)

    def token(m: re.Match[str]) -> str:
        t = m.group(0)
        if t in ("hh", "mm", "ss") and not is_dt:
            return "00"
        return {
            "YYYY": f"{d.year:04d}", "YY": f"{d.year % 100:02d}", "MM": f"{d.month:02d}",
            "DD": f"{d.day:02d}", "hh": f"{getattr(d, 'hour', 0):02d}",
            "mm": f"{getattr(d, 'minute', 0):02d}", "ss": f"{getattr(d, 'second', 0):02d}",
        }[t]

    return _DATE_TOKENS.sub(token, fmt)


@register("value", [Param("text", frozenset({T.TEXT, T.NUMBER}))], T.NUMBER, category="text",
          summary="The number written in the text ('1,234.50' -> 1234.50); text that is not "
          "a number is an error.", example="value(left(code, 4))")
def value(text: Any) -> Any:
    if text is None:
        return None
    if isinstance(text, Decimal):
        return text
    raw = _text(text).strip().replace(",", "")
    if not raw:
        return None
    if len(raw) > 60:
        raise LibraryFailure("the text is too long to be a number")
    try:
        n = Decimal(raw)
    except InvalidOperation:
        raise LibraryFailure(f"'{raw[:40]}' is not a number") from None
    if not n.is_finite():
        raise LibraryFailure(f"'{raw[:40]}' is not a finite number")
    return CTX.plus(n)


@register("regex_match", [Param("text", TXT), Param("pattern", TXT)], T.BOOLEAN,
          category="text",
          summary="True when the whole text matches the regular expression (RE2 syntax: no "
          "back-references or look-around; \\d, \\w and \\s are ASCII). Patterns are limited "
          "to 200 characters and the text to 1,000 characters; matching takes time linear in "
          "the text.", example=r"regex_match(code, '[A-Z]{2}\d{6}')",
          nulls="False when the text is None")
def regex_match(text: Any, pattern: Any) -> bool:
    if text is None or pattern is None:
        return False
    t = _text(text)
    if len(t) > MAX_REGEX_INPUT:
        raise SizeLimitFailure(f"regex_match looks at most {MAX_REGEX_INPUT} characters")
    try:
        compiled = compile_safe(_text(pattern, "the pattern"))
    except UnsafePattern as exc:
        raise _refusal(exc) from None
    try:
        return compiled.fullmatch(t)
    except UnreadableText as exc:
        raise LibraryFailure(f"regex_match(): {exc}") from None


def _refusal(exc: UnsafePattern) -> LibraryFailure:
    """A refused pattern as the library failure: a size limit, or RE2's reason."""
    if isinstance(exc, PatternTooLong):
        return SizeLimitFailure(f"regex_match(): {exc}")
    return LibraryFailure(f"regex_match(): {exc}")


def check_regex_constant(pattern: Any) -> LibraryFailure | None:
    """The failure regex_match would raise on a constant pattern, found when the expression
    is saved, with the message it would have at run time: SizeLimitFailure for a pattern
    that is too long, LibraryFailure for one RE2 cannot run; None for a usable pattern (or
    a non-text argument, which the type check reports)."""
    if not isinstance(pattern, str):
        return None
    try:
        compile_safe(pattern)
    except UnsafePattern as exc:
        return _refusal(exc)
    return None
