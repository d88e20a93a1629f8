"""Login restrictions (DESIGN §5, level 1): when and from where a user may sign in.

A restriction is a window of login hours and a list of IP networks. They come from the
user's own ``login_hours`` / ``ip_ranges`` or from the roles the user holds:

- Each setting the user has on their own account overrides that setting of every role.
- Among the user's roles, only the roles that define hours or networks restrict; the user
  may sign in when *any* of them allows it (grants add up). A role that defines neither
  neither restricts nor lifts the restrictions of the others.
- Administrators are subject to their own account settings only, so a role change can
  never lock every administrator out.
- No restriction anywhere means no restriction.

Stored settings that cannot be read (a hand-edited role with an unknown time zone, say)
allow nothing: a broken restriction fails closed instead of silently opening up.

The same checks run at sign-in and on every later request with a token or session, so a
token issued at 19:59 stops working at 20:00.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..core.errors import Unauthorized

OUTSIDE_HOURS = "outside hours"
IP_NOT_ALLOWED = "ip not allowed"

_TIME = re.compile(r"^(\d\d):(\d\d)$")
_HOURS_KEYS = frozenset({"days", "start", "end", "timezone"})
MAX_RANGES = 100

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class LoginPolicy:
    """The numbers of level 1, per instance (the web layer builds one from app config)."""

    max_failed_logins: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    token_lifetime: dt.timedelta = dt.timedelta(hours=12)
    session_lifetime: dt.timedelta = dt.timedelta(hours=12)
    session_idle: dt.timedelta = dt.timedelta(hours=1)


DEFAULT_POLICY = LoginPolicy()


class LoginRefused(Unauthorized):
    """A valid user or credential refused by the hours or address rules; ``reason`` is the
    short text written to the sign-in audit."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        # Who was refused, when a credential (not a sign-in form) was: for the audit row.
        self.username: str | None = None
        self.user_id: int | None = None


# -- login hours -------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginHours:
    """A daily window in a time zone. ``start``/``end`` are minutes after midnight (``end``
    may be 1440 for 24:00). A window that ends before it starts runs over midnight and
    belongs to the day it starts on: ``days: [5]`` with 22:00-06:00 allows Friday night
    until Saturday 06:00."""

    days: frozenset[int]
    start: int
    end: int
    zone: ZoneInfo

    def allows(self, moment: dt.datetime) -> bool:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        today = local.isoweekday()
        if self.start < self.end:
            return today in self.days and self.start <= minute < self.end
        yesterday = 7 if today == 1 else today - 1
        return ((minute >= self.start and today in self.days)
                or (minute < self.end and yesterday in self.days))


def _minutes(value: Any, *, allow_24: bool) -> int | None:
    if not isinstance(value, str):
        return None
    m = _TIME.match(value)
    if m is None:
        return None
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        return None
    return hours * 60 + minutes


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name or len(name) > 60:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def login_hours_problems(value: Any) -> list[str]:
    """What is wrong with a ``login_hours`` value (empty when it is valid or null)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ['is {"days": [1-7], "start": "HH:MM", "end": "HH:MM", "timezone": "Area/City"}']
    problems = [f"has no setting '{k}'" for k in sorted(set(value) - _HOURS_KEYS, key=str)]
    start = _minutes(value.get("start"), allow_24=False)
    end = _minutes(value.get("end"), allow_24=True)
    if start is None:
        problems.append("start must be a time from 00:00 to 23:59")
    if end is None:
        problems.append("end must be a time from 00:01 to 24:00")
    if start is not None and end is not None and start == end:
        problems.append("start and end must differ (00:00-24:00 is the whole day)")
    if "days" in value:
        days = value["days"]
        if (not isinstance(days, list) or not days
                or not all(type(d) is int and 1 <= d <= 7 for d in days)
                or len(set(days)) != len(days)):
            problems.append("days must list distinct ISO weekdays, 1 (Monday) to 7 (Sunday)")
    if "timezone" in value and _zone(value["timezone"]) is None:
        problems.append(f"timezone '{str(value['timezone'])[:60]}' is not a known time zone "
                        "(use a name like 'Asia/Shanghai' or 'UTC')")
    return problems


def parse_hours(value: Any) -> LoginHours:
    """A checked ``login_hours`` value as a window; ValueError when it is not valid."""
    problems = login_hours_problems(value)
    if problems or value is None:
        raise ValueError("; ".join(problems) or "no login hours")
    zone = _zone(value.get("timezone", "UTC"))
    start = _minutes(value["start"], allow_24=False)
    end = _minutes(value["end"], allow_24=True)
    assert zone is not None and start is not None and end is not None
    return LoginHours(frozenset(value.get("days", range(1, 8))), start, end, zone)


# -- networks ----------------------------------------------------------------------------
def ip_ranges_problems(value: Any) -> list[str]:
    """What is wrong with an ``ip_ranges`` value (empty when it is valid or null)."""
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        return ["is a non-empty list of addresses or ranges like '10.0.0.0/8' or "
                "'2001:db8::/32'; null removes the restriction"]
    if len(value) > MAX_RANGES:
        return [f"lists at most {MAX_RANGES} ranges"]
    problems = []
    for item in value:
        try:
            if not isinstance(item, str) or len(item) > 50:
                raise ValueError(item)
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            problems.append(f"'{str(item)[:50]}' is not an IP address or range")
    return problems


def parse_networks(value: Any) -> tuple[Network, ...]:
    problems = ip_ranges_problems(value)
    if problems or value is None:
        raise ValueError("; ".join(problems) or "no ranges")
    return tuple(ipaddress.ip_network(v, strict=False) for v in value)


def address_in(address: str | None, networks: Sequence[Network]) -> bool:
    """Whether ``address`` lies in one of ``networks``. An IPv4 client seen by a dual-stack
    server as ``::ffff:10.1.2.3`` matches IPv4 ranges too. No address matches nothing."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in networks)


def check_login_settings(value: Any) -> list[str]:
    """Problems with the ``login_hours`` and ``ip_ranges`` of a user update (other keys of
    the mapping are ignored; null clears a setting). Each message starts with its key, for
    the ``fields`` of a 422 answer."""
    if not isinstance(value, Mapping):
        return ["settings must be an object"]
    problems = []
    if "login_hours" in value:
        problems += [f"login_hours {p}" for p in login_hours_problems(value["login_hours"])]
    if "ip_ranges" in value:
        problems += [f"ip_ranges {p}" for p in ip_ranges_problems(value["ip_ranges"])]
    return problems


# -- deciding ------------------------------------------------------------------------------
_CLOSED = object()  # a stored setting that does not parse: allows nothing


@dataclass(frozen=True)
class Restriction:
    """One way in: a window and networks; None in either means "any"."""

    hours: LoginHours | object | None
    networks: tuple[Network, ...] | object | None

    def hours_ok(self, moment: dt.datetime) -> bool:
        if self.hours is None:
            return True
        return isinstance(self.hours, LoginHours) and self.hours.allows(moment)

    def address_ok(self, address: str | None) -> bool:
        if self.networks is None:
            return True
        return isinstance(self.networks, tuple) and address_in(address, self.networks)


def _stored(value: Any) -> Any:
    """A setting as stored: JSON text in the users table, a value in a role document."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return _CLOSED
    return value


def _hours_of(value: Any) -> LoginHours | object | None:
    value = _stored(value)
    if value is None:
        return None
    try:
        return parse_hours(value)
    except ValueError:
        return _CLOSED


def _networks_of(value: Any) -> tuple[Network, ...] | object | None:
    value = _stored(value)
    if value is None or value == []:
        return None  # an empty list in a role document restricts nothing
    try:
        return parse_networks(value)
    except ValueError:
        return _CLOSED


def restrictions(own_hours: Any, own_ranges: Any, roles: Iterable[Mapping[str, Any]], *,
                 is_admin: bool) -> list[Restriction]:
    """The ways in for one user; an empty list means unrestricted (see the module text)."""
    hours, networks = _hours_of(own_hours), _networks_of(own_ranges)
    own = Restriction(hours, networks)
    restricting = [] if is_admin else [
        r for r in roles if r.get("login_hours") or r.get("ip_ranges")]
    if not restricting:
        return [own] if hours is not None or networks is not None else []
    return [Restriction(hours if hours is not None else _hours_of(r.get("login_hours")),
                        networks if networks is not None else _networks_of(r.get("ip_ranges")))
            for r in restricting]


def refusal(ways: Sequence[Restriction], moment: dt.datetime,
            address: str | None) -> LoginRefused | None:
    """Why none of ``ways`` lets the user in now from ``address`` (None when one does)."""
    if not ways or any(w.hours_ok(moment) and w.address_ok(address) for w in ways):
        return None
    if not any(w.address_ok(address) for w in ways):
        return LoginRefused(IP_NOT_ALLOWED, f"sign-in is not allowed from this network "
                                            f"address ({address or 'unknown'})")
    if not any(w.hours_ok(moment) for w in ways):
        return LoginRefused(OUTSIDE_HOURS, "sign-in is not allowed at this time; "
                                           "ask an administrator for your login hours")
    return LoginRefused(OUTSIDE_HOURS, "sign-in is not allowed at this time from this "
                                       f"network address ({address})")
