"""Login hours and address rules (DESIGN §5 level 1), without a database: windows across
midnight and in time zones, IPv4 and IPv6 ranges, and how user and role settings combine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crmforge.security.login import (
    IP_NOT_ALLOWED,
    OUTSIDE_HOURS,
    address_in,
    check_login_settings,
    ip_ranges_problems,
    login_hours_problems,
    parse_hours,
    parse_networks,
    refusal,
    restrictions,
)

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A UTC moment in the week of Monday 2026-03-02 (day 1 = Monday ... 7 = Sunday)."""
    return dt.datetime(2026, 3, 1 + day, hour, minute, tzinfo=UTC)


# -- windows -------------------------------------------------------------------------------
def test_day_window_includes_start_and_excludes_end() -> None:
    hours = parse_hours({"start": "08:00", "end": "20:00"})
    assert not hours.allows(at(1, 7, 59))
    assert hours.allows(at(1, 8, 0))
    assert hours.allows(at(3, 19, 59))
    assert not hours.allows(at(3, 20, 0))


def test_days_limit_the_window() -> None:
    hours = parse_hours({"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"})
    assert hours.allows(at(5, 12))
    assert not hours.allows(at(6, 12))  # Saturday
    assert not hours.allows(at(7, 12))  # Sunday


def test_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    night = parse_hours({"days": [5], "start": "22:00", "end": "06:00"})  # Friday night
    assert night.allows(at(5, 22, 0))
    assert night.allows(at(5, 23, 59))
    assert night.allows(at(6, 0, 0))  # Saturday morning is still Friday's shift
    assert night.allows(at(6, 5, 59))
    assert not night.allows(at(6, 6, 0))
    assert not night.allows(at(5, 3, 0))  # Friday 03:00 belongs to Thursday's night
    assert not night.allows(at(6, 22, 30))  # Saturday night is not in days
    assert not night.allows(at(5, 12, 0))


def test_window_across_midnight_from_sunday_into_monday() -> None:
    night = parse_hours({"days": [7], "start": "22:00", "end": "06:00"})
    assert night.allows(at(7, 23, 0))  # Sunday 8 March
    assert night.allows(dt.datetime(2026, 3, 9, 2, 0, tzinfo=UTC))  # the Monday after
    assert not night.allows(dt.datetime(2026, 3, 9, 23, 0, tzinfo=UTC))  # Monday night
    assert not night.allows(at(7, 2, 0))  # Sunday 02:00 belongs to Saturday's night


def test_whole_day_with_24_00() -> None:
    hours = parse_hours({"start": "00:00", "end": "24:00"})
    assert hours.allows(at(2, 0, 0)) and hours.allows(at(2, 23, 59))


def test_time_zone_shifts_the_window() -> None:
    shanghai = parse_hours({"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00",
                            "timezone": "Asia/Shanghai"})
    assert shanghai.allows(at(1, 0, 30))  # 08:30 in Shanghai
    assert not shanghai.allows(at(1, 12, 30))  # 20:30 in Shanghai
    # Friday 23:30 UTC is Saturday 07:30 in Shanghai: not a working day there.
    assert not shanghai.allows(at(5, 23, 30))
    # Sunday 23:30 UTC is Monday 07:30 there; Monday 00:00 UTC is 08:00 there.
    assert not shanghai.allows(at(7, 23, 30))
    assert shanghai.allows(dt.datetime(2026, 3, 9, 0, 0, tzinfo=UTC))


def test_time_zone_follows_daylight_saving() -> None:
    ny = parse_hours({"start": "09:00", "end": "17:00", "timezone": "America/New_York"})
    winter = dt.datetime(2026, 1, 15, 14, 0, tzinfo=UTC)  # 09:00 EST (UTC-5)
    summer = dt.datetime(2026, 7, 15, 13, 0, tzinfo=UTC)  # 09:00 EDT (UTC-4)
    assert ny.allows(winter) and ny.allows(summer)
    assert not ny.allows(dt.datetime(2026, 7, 15, 12, 30, tzinfo=UTC))  # 08:30 EDT


def test_a_naive_moment_is_utc() -> None:
    hours = parse_hours({"start": "08:00", "end": "09:00"})
    assert hours.allows(dt.datetime(2026, 3, 2, 8, 30))


@pytest.mark.parametrize(("value", "expected"), [
    ({"start": "24:00", "end": "06:00"}, "start"),
    ({"start": "08:00", "end": "24:30"}, "end"),
    ({"start": "08:60", "end": "09:00"}, "start"),
    ({"start": "8:00", "end": "09:00"}, "start"),
    ({"start": "08:00"}, "end"),
    ({"start": "08:00", "end": "08:00"}, "differ"),
    ({"start": "08:00", "end": "09:00", "days": []}, "days"),
    ({"start": "08:00", "end": "09:00", "days": [0]}, "days"),
    ({"start": "08:00", "end": "09:00", "days": [8]}, "days"),
    ({"start": "08:00", "end": "09:00", "days": [1, 1]}, "days"),
    ({"start": "08:00", "end": "09:00", "days": [True]}, "days"),
    ({"start": "08:00", "end": "09:00", "timezone": "Mars/Olympus"}, "time zone"),
    ({"start": "08:00", "end": "09:00", "timezone": "../../etc/passwd"}, "time zone"),
    ({"start": "08:00", "end": "09:00", "timezone": ""}, "time zone"),
    ({"start": "08:00", "end": "09:00", "tz": "UTC"}, "no setting 'tz'"),
    ("08:00-20:00", "is {"),
])
def test_invalid_hours_are_explained(value: Any, expected: str) -> None:
    problems = login_hours_problems(value)
    assert problems and any(expected in p for p in problems), problems
    with pytest.raises(ValueError):
        parse_hours(value)


def test_valid_hours_have_no_problems() -> None:
    assert login_hours_problems(None) == []
    assert login_hours_problems({"days": [1, 7], "start": "22:00", "end": "06:00",
                                 "timezone": "Asia/Shanghai"}) == []


# -- networks --------------------------------------------------------------------------------
def test_ipv4_and_ipv6_ranges() -> None:
    nets = parse_networks(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"])
    assert address_in("10.200.3.4", nets)
    assert address_in("192.168.1.7", nets)
    assert not address_in("192.168.1.8", nets)
    assert address_in("2001:db8:1::5", nets)
    assert not address_in("2001:db9::5", nets)
    assert address_in("::ffff:10.1.2.3", nets)  # IPv4 seen by a dual-stack server
    assert not address_in("::ffff:11.1.2.3", nets)
    assert not address_in(None, nets)
    assert not address_in("not-an-address", nets)
    assert not address_in("", nets)


def test_ipv6_only_ranges_do_not_match_ipv4() -> None:
    nets = parse_networks(["::/0"])
    assert address_in("fe80::1", nets)
    assert not address_in("10.0.0.1", nets)


@pytest.mark.parametrize("value", [[], "10.0.0.0/8", ["10.0.0.0/33"], ["nope"], [10],
                                   ["10.0.0.0/8"] * 101, ["1" * 60]])
def test_invalid_ranges_are_explained(value: Any) -> None:
    assert ip_ranges_problems(value)
    with pytest.raises(ValueError):
        parse_networks(value)


def test_check_login_settings_prefixes_keys_and_ignores_others() -> None:
    assert check_login_settings({"display_name": "x", "login_hours": None,
                                 "ip_ranges": None}) == []
    assert check_login_settings({"password": "whatever"}) == []
    problems = check_login_settings({"login_hours": {"start": "9", "end": "10:00"},
                                     "ip_ranges": ["bad"]})
    assert len(problems) == 2
    assert problems[0].startswith("login_hours ") and problems[1].startswith("ip_ranges ")
    assert check_login_settings(["login_hours"]) == ["settings must be an object"]


# -- combining user and role settings -------------------------------------------------------
DAY = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"}
NIGHT = {"start": "22:00", "end": "06:00"}
OFFICE = ["10.0.0.0/8"]
VPN = ["172.16.0.0/12", "2001:db8::/32"]
NOON, MIDNIGHT = at(1, 12), at(1, 23, 30)


def reason(ways: Any, moment: dt.datetime, address: str | None) -> str | None:
    refused = refusal(ways, moment, address)
    return None if refused is None else refused.reason


def test_no_settings_anywhere_is_unrestricted() -> None:
    ways = restrictions(None, None, [{"name": "sales"}], is_admin=False)
    assert ways == [] and reason(ways, MIDNIGHT, None) is None


def test_any_restricting_role_lets_the_user_in() -> None:
    roles = [{"name": "office", "login_hours": DAY, "ip_ranges": OFFICE},
             {"name": "vpn", "ip_ranges": VPN}]
    ways = restrictions(None, None, roles, is_admin=False)
    assert reason(ways, NOON, "10.1.1.1") is None  # office, in hours
    assert reason(ways, MIDNIGHT, "172.16.0.9") is None  # vpn, any time
    assert reason(ways, MIDNIGHT, "2001:db8::9") is None
    assert reason(ways, MIDNIGHT, "10.1.1.1") == OUTSIDE_HOURS  # office network at night
    assert reason(ways, NOON, "8.8.8.8") == IP_NOT_ALLOWED


def test_a_role_must_allow_both_hours_and_address() -> None:
    """Office hours from the office OR any hours from the VPN: not office hours from anywhere."""
    roles = [{"name": "office", "login_hours": DAY, "ip_ranges": OFFICE},
             {"name": "night", "login_hours": NIGHT, "ip_ranges": VPN}]
    ways = restrictions(None, None, roles, is_admin=False)
    assert reason(ways, NOON, "172.16.0.1") == OUTSIDE_HOURS  # VPN address, office hours
    assert reason(ways, MIDNIGHT, "172.16.0.1") is None


def test_an_unrestricted_role_does_not_lift_the_others() -> None:
    roles = [{"name": "office", "ip_ranges": OFFICE}, {"name": "reader"}]
    ways = restrictions(None, None, roles, is_admin=False)
    assert reason(ways, NOON, "8.8.8.8") == IP_NOT_ALLOWED


def test_own_settings_override_the_roles_setting_by_setting() -> None:
    roles = [{"name": "office", "login_hours": DAY, "ip_ranges": OFFICE}]
    # Own hours replace the role's hours; the role's networks still apply.
    ways = restrictions('{"start": "22:00", "end": "06:00"}', None, roles, is_admin=False)
    assert reason(ways, MIDNIGHT, "10.0.0.1") is None
    assert reason(ways, NOON, "10.0.0.1") == OUTSIDE_HOURS
    assert reason(ways, MIDNIGHT, "8.8.8.8") == IP_NOT_ALLOWED
    # Own networks replace the role's networks; the role's hours still apply.
    ways = restrictions(None, '["8.8.8.0/24"]', roles, is_admin=False)
    assert reason(ways, NOON, "8.8.8.8") is None
    assert reason(ways, NOON, "10.0.0.1") == IP_NOT_ALLOWED


def test_own_settings_without_roles() -> None:
    ways = restrictions(None, '["2001:db8::/32"]', [], is_admin=False)
    assert reason(ways, MIDNIGHT, "2001:db8::1") is None
    assert reason(ways, MIDNIGHT, "10.0.0.1") == IP_NOT_ALLOWED


def test_admins_follow_their_own_settings_only() -> None:
    roles = [{"name": "office", "login_hours": DAY, "ip_ranges": OFFICE}]
    assert restrictions(None, None, roles, is_admin=True) == []
    ways = restrictions(None, '["10.0.0.0/8"]', roles, is_admin=True)
    assert reason(ways, MIDNIGHT, "10.0.0.1") is None
    assert reason(ways, NOON, "8.8.8.8") == IP_NOT_ALLOWED


def test_broken_stored_settings_fail_closed() -> None:
    assert reason(restrictions("{not json", None, [], is_admin=False), NOON, "10.0.0.1") \
        == OUTSIDE_HOURS
    broken_role = [{"name": "x", "login_hours": {"start": "08:00", "end": "20:00",
                                                 "timezone": "Nowhere/Atlantis"}}]
    assert reason(restrictions(None, None, broken_role, is_admin=False), NOON, None) \
        == OUTSIDE_HOURS
    assert reason(restrictions(None, '["bad"]', [], is_admin=False), NOON, "10.0.0.1") \
        == IP_NOT_ALLOWED


def test_an_empty_role_range_list_restricts_nothing() -> None:
    ways = restrictions(None, None, [{"name": "x", "ip_ranges": []}], is_admin=False)
    assert ways == []


def test_refusal_messages_are_clear() -> None:
    ways = restrictions(None, '["10.0.0.0/8"]', [], is_admin=False)
    refused = refusal(ways, NOON, "8.8.8.8")
    assert refused is not None and refused.status == 401
    assert "network address (8.8.8.8)" in refused.message
    ways = restrictions('{"start": "08:00", "end": "09:00"}', None, [], is_admin=False)
    refused = refusal(ways, NOON, None)
    assert refused is not None and "not allowed at this time" in refused.message
