"""Quiet hours: no marketing text arrives between the workspace's `quiet_start` and `quiet_end`
in the recipient's local time.

The recipient's zone is their own (`timezone`) when they have one, else the zones their number's
area or country spans (phonenumbers knows, e.g. +1 415 is Los Angeles); where a number spans
several zones a text waits until it is outside quiet hours in every one of them.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

UNKNOWN = "Etc/Unknown"


def zones_for(person_timezone: str | None, phone: str, fallback: str) -> tuple[ZoneInfo, ...]:
    """Where the recipient may be: their own zone, else their number's, else the workspace's."""
    for names in ((person_timezone,), _phone_zones(phone), (fallback,)):
        zones = tuple(z for z in (_zone(n) for n in names if n) if z is not None)
        if zones:
            return zones
    return (ZoneInfo("UTC"),)


def _phone_zones(phone: str) -> tuple[str, ...]:
    try:
        names = phone_zones.time_zones_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return ()
    return tuple(n for n in names if n != UNKNOWN)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _quiet(local: time, start: time, end: time) -> bool:
    if start == end:
        return False  # no quiet hours
    if start < end:
        return start <= local < end
    return local >= start or local < end  # past midnight, e.g. 21:00–08:00


def _end_of_quiet(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """The first moment at or after `now` (UTC) that is outside quiet hours in `zone`."""
    local = now.astimezone(zone)
    if not _quiet(local.time(), start, end):
        return now
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    resume = datetime.combine(day, end, tzinfo=zone)
    return max(resume.astimezone(now.tzinfo), now)


def next_allowed(now: datetime, zones: tuple[ZoneInfo, ...], start: time, end: time) -> datetime:
    """`now` when a text may arrive in every zone, else the first moment it may (UTC)."""
    at = now
    for _ in range(len(zones) * 2 + 1):  # moving for one zone may land in another's quiet hours
        later = max(_end_of_quiet(at, zone, start, end) for zone in zones)
        if later == at:
            return at
        at = later
    return at
