"""Regular expressions that users and administrators write, matched in linear time.

Python's ``re`` backtracks, has no timeout and holds the GIL while it does: a pattern like
``(?:a+){15}b`` against 30 characters stalled every request of the process for 23 s. No
inspection of a pattern can tell all such patterns apart reliably, so patterns that come
from metadata or from an expression (``regex_match``, a text field's ``pattern`` option)
never run on ``re``. They run on RE2 (the ``google-re2`` package), which compiles a pattern
to an automaton and matches in time linear in the text, with memory bounded by
``MAX_PROGRAM_MEMORY``, and releases the GIL while it matches.

RE2's dialect is Python's minus the constructs that need backtracking (back-references,
look-ahead and look-behind, conditional and atomic groups, possessive repetitions). A
pattern using one is refused when it is compiled, with a message that names the construct,
so whoever wrote it learns why at the moment of saving. ``\\d``, ``\\w``, ``\\s`` and ``\\b``
are ASCII in RE2 (Unicode in Python); ``\\p{L}``, ``\\p{Nd}`` or ``\\p{Han}`` name Unicode
classes. docs/decisions/0014-linear-time-regex.md records the choice.

Our own fixed patterns (names, dates, e-mail addresses) stay on ``re``: they are reviewed
code, not input.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

#: Memory budget of one compiled pattern (RE2's ``max_mem``): the program and the DFA
#: cache. A pattern whose program does not fit is refused ("too large"); a search that
#: fills the DFA cache goes on in RE2's NFA, slower but still linear. Compiled patterns
#: live in this module's cache and in google-re2's own (128 each, mostly the same
#: objects), so at worst a few hundred budgets; real patterns use kilobytes.
MAX_PROGRAM_MEMORY = 2 << 20
_CACHE_SIZE = 128


class PatternRefused(ValueError):
    """RE2 cannot run this pattern; the message says why, for the person who wrote it."""


class UnreadableText(ValueError):
    """The text cannot be matched at all (it holds an unpaired surrogate)."""


class LinearPattern:
    """A compiled pattern. Immutable and safe to share between threads (RE2 objects are)."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled

    def fullmatch(self, text: str) -> bool:
        """Whether the whole text matches. Time is linear in ``len(text)``."""
        try:
            return self._compiled.fullmatch(text) is not None
        except UnicodeEncodeError:
            raise UnreadableText("the text contains an unpaired surrogate, which no pattern "
                                 "can match") from None

    def __repr__(self) -> str:
        return f"LinearPattern({self.pattern!r})"


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_MEMORY
    options.longest_match = False  # leftmost-first, like Python (and Perl)
    options.log_errors = False     # a refused pattern is an answer, not a server log line
    # Callers only ask whether the text matches: without groups RE2 answers with its DFA
    # alone, never the slower NFA it needs to report where groups matched.
    options.never_capture = True
    return options


def compile_linear(pattern: object) -> LinearPattern:
    """The pattern compiled by RE2, or PatternRefused with the reason in plain words.

    Callers cap the pattern's length (it is their limit to document); compiling costs time
    linear in the pattern and memory bounded by ``MAX_PROGRAM_MEMORY``. Anything but text
    (an option of old or hand-edited metadata) is refused, never a TypeError."""
    if not isinstance(pattern, str):
        raise PatternRefused("the pattern must be text")
    return _compile(pattern)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(pattern: str) -> LinearPattern:
    """``compile_linear`` for text. Refusals are not cached (functools does not cache
    exceptions), which only costs compiling such a pattern again."""
    _prescan(pattern)
    try:
        compiled = re2.compile(pattern, _options())
    except UnicodeEncodeError:
        raise PatternRefused("the pattern contains an unpaired surrogate") from None
    except re2.error as exc:
        raise PatternRefused(_reason(exc)) from None
    return LinearPattern(pattern, compiled)


def _prescan(pattern: str) -> None:
    """Refuse what RE2 would accept but read differently from what its writer meant.

    ``\\C`` matches one byte of the UTF-8 encoding and can split a character; ``{,n}`` is a
    repetition in Python but literal text in RE2, which would silently change a pattern
    written for Python. Escapes, character classes and ``\\Q...\\E`` are skipped so a
    literal ``[{,3}]`` or ``\\{,3}`` stays allowed."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1: i + 2]
            if nxt == "C":
                raise PatternRefused(r"\C (a single byte) is not supported: it can split a "
                                     r"character; use . for any character")
            if nxt == "Q":
                end = pattern.find(r"\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            i += 1
            if pattern[i: i + 1] == "^":
                i += 1
            if pattern[i: i + 1] == "]":  # a leading ] is a literal member
                i += 1
            continue
        elif c == "{":
            m = _OPEN_COUNT.match(pattern, i)
            if m is not None:
                raise PatternRefused(f"write {{0,{m.group(1)}}} instead of {m.group(0)}: "
                                     f"{m.group(0)} would be read as plain text")
        i += 1


_OPEN_COUNT = re.compile(r"\{,(\d+)\}")
_BACKREF = re.compile(r"\\[1-9]")
_SUFFIX = " (patterns use RE2 syntax, which never backtracks)"
_OPERATORS = {
    "(?=": "look-ahead (?=...) is not supported" + _SUFFIX,
    "(?!": "look-ahead (?!...) is not supported" + _SUFFIX,
    "(?<=": "look-behind (?<=...) is not supported" + _SUFFIX,
    "(?<!": "look-behind (?<!...) is not supported" + _SUFFIX,
    "(?P": "named back-references (?P=name) are not supported" + _SUFFIX,
    "(?(": "conditional groups (?(...)...) are not supported" + _SUFFIX,
    "(?>": "atomic groups (?>...) are not supported" + _SUFFIX,
    "(?#": "comments (?#...) are not supported" + _SUFFIX,
    "(?'": "write named groups as (?P<name>...)",
    "(?|": "branch reset groups (?|...) are not supported" + _SUFFIX,
}
_ESCAPES = {
    r"\k": r"named back-references (\k<name>) are not supported",
    r"\g": r"back-references (\g<name>) are not supported",
    r"\Z": r"\Z is not supported: write \z for the end of the text",
    r"\u": r"write \x{00e9} for a character by its code (\u is not supported)",
    r"\U": r"write \x{1F600} for a character by its code (\U is not supported)",
    r"\N": r"write \x{00e9} for a character by its code (\N is not supported)",
}


def _reason(exc: Exception) -> str:
    """RE2's error (``b'invalid escape sequence: \\1'``) as a message saying what to do."""
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    kind, _, arg = message.partition(": ")
    if kind == "invalid escape sequence":
        if _BACKREF.fullmatch(arg):
            return f"back-references like {arg} are not supported" + _SUFFIX
        if arg in _ESCAPES:
            return _ESCAPES[arg]
    elif kind == "invalid perl operator":
        if arg in _OPERATORS:
            return _OPERATORS[arg]
        if arg.startswith("(?"):
            return (f"the flag in {arg} is not supported (use i, m, s or U, as in (?i))")
    elif kind == "bad repetition operator":
        if len(arg) == 2 and arg[1] == "+":
            return f"possessive repetitions like a{arg} are not supported" + _SUFFIX
        return (f"a repetition cannot follow another directly ({arg}): group the first one, "
                "as in (?:a{2}){3}")
    elif kind == "invalid repetition size":
        return ("repetition counts are limited to 1000, nested counts multiplied together "
                f"({arg})")
    elif kind.startswith("pattern too large"):
        return "the pattern is too large to run: use smaller repetition counts"
    return f"not a valid regular expression: {message}"[:300]


__all__ = ["MAX_PROGRAM_MEMORY", "LinearPattern", "PatternRefused", "UnreadableText",
           "compile_linear"]
