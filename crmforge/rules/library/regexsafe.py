"""The patterns of ``regex_match``: compiled by RE2, so matching is linear in the text.

This module used to screen patterns for nested repetitions and then run them on Python's
``re``; a screen is a heuristic, and one pattern it missed could stall the whole process.
Now every pattern runs on RE2 (``crmforge.core.linear_regex``), which cannot backtrack:
the only patterns refused are those RE2 cannot express (back-references, look-around...)
and those longer than MAX_REGEX_PATTERN characters. The same function answers when an
expression is saved (a constant pattern) and when it runs (a pattern read from a field).
"""

from __future__ import annotations

from ...core.linear_regex import LinearPattern, PatternRefused, compile_linear
from .base import MAX_REGEX_PATTERN


class UnsafePattern(ValueError):
    """``regex_match`` cannot use the pattern; the message says why."""


class PatternTooLong(UnsafePattern):
    """The pattern is longer than MAX_REGEX_PATTERN (a size limit, not a syntax problem)."""


def compile_safe(pattern: str) -> LinearPattern:
    """The compiled pattern, or UnsafePattern with the reason it is refused."""
    if len(pattern) > MAX_REGEX_PATTERN:
        raise PatternTooLong(f"the pattern is longer than {MAX_REGEX_PATTERN} characters")
    try:
        return compile_linear(pattern)
    except PatternRefused as exc:
        raise UnsafePattern(str(exc)) from None


__all__ = ["PatternTooLong", "UnsafePattern", "compile_safe"]
