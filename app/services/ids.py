"""Values from outside (forms, JSON, URLs) checked before they reach the database."""

from functools import lru_cache
from zoneinfo import available_timezones

MAX_ID = 2**31 - 1


@lru_cache(maxsize=1)
def _timezones() -> frozenset:
    return frozenset(available_timezones())


def is_timezone(name) -> bool:
    """True for an IANA timezone name such as Europe/Berlin."""
    return isinstance(name, str) and name in _timezones()


def as_id(value) -> int | None:
    """The id in `value`, or None when it is not a usable id."""
    if isinstance(value, bool):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if 0 < n <= MAX_ID else None


def as_ids(values) -> list[int] | None:
    """Distinct sorted ids, or None when any of them is not an id."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple, set)):
        values = [values]
    ids = [as_id(v) for v in values]
    return None if any(i is None for i in ids) else sorted(set(ids))
