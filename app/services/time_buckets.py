"""Counting timestamps per hour or per local day in SQL, and reading ISO times from the API.

PostgreSQL names the UTC hour or the day in a timezone itself. SQLite knows no timezones, so it
groups by quarter hour and Python names the bucket (every UTC offset in use is a whole number of
quarter hours; 96 groups a day at most). Each helper returns (the SQL expression to group by, a
function reading a group's key back).
"""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, func

from app.extensions import db
from app.services.errors import ValidationError

QUARTER = 900  # seconds


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _quarter(column):
    return cast(func.strftime("%s", column), Integer) // QUARTER


def local_day(column, tz: str):
    """Group a UTC timestamp column by its day in `tz`; the key reads back as a date."""
    if _postgres():
        return func.date(func.timezone(tz, column)), lambda key: key
    zone = ZoneInfo(tz)
    return _quarter(column), lambda key: datetime.fromtimestamp(key * QUARTER, zone).date()


def utc_hour(column, postgres: bool | None = None):
    """Group a UTC timestamp column by its UTC hour; the key reads back as an aware datetime. `postgres`:
    the dialect, where the query runs elsewhere than `db.session` (a migration's connection)."""
    if _postgres() if postgres is None else postgres:
        return func.date_trunc("hour", func.timezone("UTC", column)), lambda key: key.replace(tzinfo=timezone.utc)
    return _quarter(column), lambda key: datetime.fromtimestamp(key * QUARTER, timezone.utc).replace(minute=0)


def hour_of_week(column):
    """The UTC hour of the week of a timestamp column (Monday 00:00 is 0, Sunday 23:00 is 167), as an integer."""
    if _postgres():
        utc = func.timezone("UTC", column)
        return cast((func.extract("isodow", utc) - 1) * 24 + func.extract("hour", utc), Integer)
    weekday = (cast(func.strftime("%w", column), Integer) + 6) % 7  # %w: Sunday is 0
    return weekday * 24 + cast(func.strftime("%H", column), Integer)


def parse_iso(value, field: str) -> datetime | None:
    """An ISO 8601 date or time from the API as an aware UTC datetime (naive means UTC); None for none."""
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        why = f"{field} is an ISO 8601 date or time, such as 2026-12-07T10:30:00Z."
        raise ValidationError(why, {field: why}) from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
