"""The one source of "now", so tests can move time (token expiry, timeouts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return _now()


def set_clock(func: Callable[[], dt.datetime] | None) -> None:
    """Replace the clock (tests); ``None`` restores the real one."""
    global _now
    _now = func if func is not None else (lambda: dt.datetime.now(dt.UTC))
