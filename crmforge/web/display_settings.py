"""The tenant-wide conventions pages show values in: the time zone of times and the
currency of currency fields that name none (decision 0038).

Users have no time zone of their own yet and the server never asks the browser, so these
settings decide for every user (``CRMFORGE_TIMEZONE``, ``CRMFORGE_CURRENCY``; see
docs/operations.md). A value the server cannot use stops it at start, naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import is_currency

from .settings import SettingError

DEFAULTS: Mapping[str, Any] = {"CRMFORGE_TIMEZONE": "Asia/Shanghai", "CRMFORGE_CURRENCY": "CNY"}


def check(config: Mapping[str, Any]) -> None:
    """Refuse a time zone or currency the pages could not use."""
    zone = str(config.get("CRMFORGE_TIMEZONE", DEFAULTS["CRMFORGE_TIMEZONE"]))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"CRMFORGE_TIMEZONE is an IANA time zone such as Asia/Shanghai, "
                           f"not {zone[:40]!r}") from None
    code = str(config.get("CRMFORGE_CURRENCY", DEFAULTS["CRMFORGE_CURRENCY"]))
    if not (len(code) == 3 and code.isupper() and is_currency(code)):
        raise SettingError(f"CRMFORGE_CURRENCY is an ISO 4217 code such as CNY, "
                           f"not {code[:40]!r}")


__all__ = ["DEFAULTS", "check"]
