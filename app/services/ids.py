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


def parse_int(value, max_digits: int = 18) -> int | None:
    """The whole number in `value` (an int, or ASCII digits with an optional minus), else None.

    `str.isdigit()` is no check before int(): it is True for '²' (int() raises) and for other
    scripts' digits, and int() of thousands of digits is refused or slow; so digits are ASCII
    and at most `max_digits` of them (18 keep the number within a 64-bit column).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= max_digits):
        return None
    return int(text)


def as_ids(values) -> list[int] | None:
    """Distinct sorted ids, or None when any of them is not an id."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple, set)):
        values = [values]
    ids = [as_id(v) for v in values]
    return None if any(i is None for i in ids) else sorted(set(ids))
