"""Refusing regular expressions that can backtrack for a long time.

Python's ``re`` has no timeout, and a regex runs inside the request. So ``regex_match``
caps the text it looks at (MAX_REGEX_INPUT characters) and accepts only patterns whose
worst case stays polynomial of low degree on that input:

- no back-references or conditional groups;
- no variable-length repetition inside another variable-length repetition
  (``(a+)+``, ``(a|ab)*``: exponential);
- at most two variable-length repetitions in a row that can match the same characters
  (``\\d+\\d+\\d+x`` is cubic: 2.6 s on 1,000 digits). A literal the previous repetition
  cannot match ends a run, so ``[\\w.]+@[\\w-]+\\.\\w+`` is fine.

This uses the standard library's regex parser (``re._parser``), which is private but has
kept its shape since Python 3.0; if it moves, every pattern is refused (fail closed).
"""

from __future__ import annotations

import functools
import re
from typing import Any

try:  # Python 3.11+: the parser lives in re._parser
    from re import _constants as sre_c  # type: ignore[attr-defined]
    from re import _parser as sre_p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - fail closed on an unknown Python
    sre_p = sre_c = None

from .base import MAX_REGEX_PATTERN

MAX_RUN = 2


class UnsafePattern(ValueError):
    pass


@functools.lru_cache(maxsize=512)
def compile_safe(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, or UnsafePattern with the reason it is refused."""
    if len(pattern) > MAX_REGEX_PATTERN:
        raise UnsafePattern(f"the pattern is longer than {MAX_REGEX_PATTERN} characters")
    if sre_p is None:  # pragma: no cover
        raise UnsafePattern("patterns cannot be checked on this Python")
    try:
        parsed = sre_p.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafePattern(f"not a valid regular expression: {exc}") from None
    _check_sequence(list(parsed))
    return compiled


def _is_variable(op: Any, av: Any) -> bool:
    return op in _REPEATS and av[0] != av[1]


def _check_sequence(items: list[tuple[Any, Any]]) -> None:
    run: list[Any] = []  # the bodies of consecutive variable repetitions
    for op, av in items:
        if op in (sre_c.GROUPREF, sre_c.GROUPREF_EXISTS):
            raise UnsafePattern("back-references are not allowed")
        if op in _REPEATS:
            body = list(av[2])
            if _is_variable(op, av) and _contains_variable(body):
                raise UnsafePattern("a repetition inside a repetition can take forever; "
                                    "simplify the pattern")
            _check_sequence(body)
            if _is_variable(op, av):
                run.append(body)
                if len(run) > MAX_RUN:
                    raise UnsafePattern("more than two repetitions in a row can match the "
                                        "same text; separate them with a literal")
            continue
        if op is sre_c.SUBPATTERN:
            sub = list(av[-1])
            if any(_is_variable(o, a) for o, a in _flatten(sub)):
                _check_sequence(sub)
                run.append(None)  # a group holding repetitions: counts as one, ends nothing
                if len(run) > MAX_RUN:
                    raise UnsafePattern("too many repetitions in a row")
            else:
                _check_sequence(sub)
            continue
        if op is sre_c.BRANCH:
            for alt in av[1]:
                _check_sequence(list(alt))
            run = []
            continue
        if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            _check_sequence(list(av[1]))
            continue
        if op is sre_c.AT:
            continue
        # A single-character item: it ends the run when the last repetition cannot match it.
        if run and run[-1] is not None and not _may_overlap(run[-1], op, av):
            run = []


def _flatten(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    out = []
    for op, av in items:
        out.append((op, av))
        if op in _REPEATS:
            out.extend(_flatten(list(av[2])))
        elif op is sre_c.SUBPATTERN:
            out.extend(_flatten(list(av[-1])))
        elif op is sre_c.BRANCH:
            for alt in av[1]:
                out.extend(_flatten(list(alt)))
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            out.extend(_flatten(list(av[1])))
    return out


def _contains_variable(body: list[tuple[Any, Any]]) -> bool:
    return any(_is_variable(o, a) or o is sre_c.BRANCH for o, a in _flatten(body))


def _may_overlap(body: list[tuple[Any, Any]], op: Any, av: Any) -> bool:
    """Whether a repetition of ``body`` could also match the single-character item."""
    if op is not sre_c.LITERAL or len(body) != 1:
        return True
    char = chr(av)
    return _matches(body[0], char)


def _matches(item: tuple[Any, Any], char: str) -> bool:
    op, av = item
    if op is sre_c.LITERAL:
        return chr(av) == char
    if op is sre_c.NOT_LITERAL:
        return chr(av) != char
    if op is sre_c.IN:
        negate = any(o is sre_c.NEGATE for o, _ in av)
        hit = any(_in_item(o, a, char) for o, a in av if o is not sre_c.NEGATE)
        return hit != negate
    if op is sre_c.CATEGORY:
        return _category(av, char)
    return True  # ANY and everything else: assume it can


def _in_item(op: Any, av: Any, char: str) -> bool:
    if op is sre_c.LITERAL:
        return chr(av) == char
    if op is sre_c.RANGE:
        return bool(av[0] <= ord(char) <= av[1])
    if op is sre_c.CATEGORY:
        return _category(av, char)
    return True


def _category(cat: Any, char: str) -> bool:
    name = str(cat).upper()
    if "NOT" in name:
        return True  # negated classes match nearly everything
    if "DIGIT" in name:
        return char.isdigit()
    if "SPACE" in name:
        return char.isspace()
    if "WORD" in name:
        return char.isalnum() or char == "_"
    return True


_REPEATS = (
    frozenset({sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)})
    if sre_c is not None else frozenset()
)
