"""Settings from environment variables: what an operator sets without touching code.

Every variable is documented in docs/operations.md (one table). Values are parsed by the
type of the default they replace, and a value that does not parse stops the server at
start with a plain message naming the variable, rather than running with a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: Environment variable -> app config key it sets. ``CRMFORGE_*`` keys set themselves.
ALIASES: Mapping[str, str] = {
    "CRMFORGE_SECURE_COOKIES": "SESSION_COOKIE_SECURE",
    "CRMFORGE_RATELIMIT_STORAGE": "RATELIMIT_STORAGE_URI",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingError(ValueError):
    """An environment variable holds a value its setting cannot take."""


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise SettingError(f"{name} is true or false, not {raw[:40]!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise SettingError(f"{name} is a whole number, not {raw[:40]!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise SettingError(f"{name} is a number, not {raw[:40]!r}") from None
    return raw


def from_environment(defaults: Mapping[str, Any],
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config values the environment sets, for the keys ``defaults`` knows."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("CRMFORGE_"):
            continue
        key = ALIASES.get(name, name)
        if key in defaults:
            out[key] = _parse(name, value, defaults[key])
    return out


__all__ = ["ALIASES", "SettingError", "from_environment"]
