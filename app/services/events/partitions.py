"""The event log by month, on PostgreSQL: one partition per calendar month (UTC), made ahead of time by
a daily job, so that an old month can be detached, archived and dropped (`flask events-partitions`,
`flask events-detach YYYY-MM`) while the hourly rollups keep its figures for every insights page. A
DEFAULT partition takes whatever falls outside the months made (a provider's event dated years back);
a month made later takes its rows over from it. SQLite keeps one table: nothing here applies.
"""

import re
from datetime import date, datetime, timezone

from sqlalchemy import text

from app.extensions import db
from app.services.errors import ValidationError

MONTHS_AHEAD = 2  # the current month and the next two exist at every moment
_NAME = "events_{:04d}_{:02d}"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_PARTITION = re.compile(r"^events_(\d{4}_\d{2}|default)$")


def not_a_partition(name, type_, parent_names) -> bool:
    """For alembic's `include_name`: the monthly partitions are made here, not by migrations."""
    return not (type_ == "table" and _PARTITION.match(name or ""))


def partitioned(session=None) -> bool:
    session = session or db.session
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(session.execute(text(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('events')")).first())  # fmt: skip


def ensure(session=None, today: date | None = None, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of this month and the next `ahead` that do not exist yet; their names."""
    session = session or db.session
    if not partitioned(session):
        return []
    today = today or datetime.now(timezone.utc).date()
    made = []
    for k in range(ahead + 1):
        first = add_months(date(today.year, today.month, 1), k)
        if make_month(session, first):
            made.append(_NAME.format(first.year, first.month))
    return made


def make_month(session, first: date) -> bool:
    """The partition of the month starting on `first`, unless it exists. Rows of that month already in
    the DEFAULT partition move into it (PostgreSQL refuses a partition whose rows sit in the default)."""
    name = _NAME.format(first.year, first.month)
    if session.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
        return False
    bounds = {"a": datetime.combine(first, datetime.min.time(), timezone.utc),
              "b": datetime.combine(add_months(first, 1), datetime.min.time(), timezone.utc)}  # fmt: skip
    session.execute(text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    session.execute(text(f"WITH moved AS (DELETE FROM events_default WHERE occurred_at >= :a AND occurred_at < :b "
                         f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"), bounds)  # fmt: skip
    session.execute(text(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{bounds['a'].isoformat()}') "
                         f"TO ('{bounds['b'].isoformat()}')"))  # fmt: skip
    return True


def months(session=None) -> list[dict]:
    """Each attached partition: {name, bounds, rows (the planner's estimate), bytes}, oldest first."""
    session = session or db.session
    if not partitioned(session):
        return []
    rows = session.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint, pg_total_relation_size(c.oid) "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass "
        "ORDER BY c.relname")).all()  # fmt: skip
    return [{"name": n, "bounds": b, "rows": max(0, r), "bytes": size} for n, b, r, size in rows]


def detach(month: str, session=None, today: date | None = None) -> str:
    """Detach a past month's partition from the log (it stays as a table of its own, to dump and drop)
    and forget its events' keys. Returns the table's name. The current and future months stay."""
    session = session or db.session
    found = _MONTH.match((month or "").strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ValidationError("Give a month as YYYY-MM, such as 2026-01.", {"month": "YYYY-MM"})
    first = date(int(found.group(1)), int(found.group(2)), 1)
    today = today or datetime.now(timezone.utc).date()
    if first >= date(today.year, today.month, 1):
        raise ValidationError("Only a past month can be detached: this one still takes events.", {"month": "Past"})
    if not partitioned(session):
        raise ValidationError("The event log is partitioned on PostgreSQL only.", {"month": "Not partitioned"})
    name = _NAME.format(first.year, first.month)
    if name not in {m["name"] for m in months(session)}:
        raise ValidationError(f"{month} has no partition in the event log (detached already?).", {"month": "None"})
    session.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
    session.execute(text("DELETE FROM event_keys WHERE occurred_at >= :a AND occurred_at < :b"),
                    {"a": first, "b": add_months(first, 1)})  # fmt: skip
    return name


def add_months(first: date, k: int) -> date:
    n = first.year * 12 + first.month - 1 + k
    return date(n // 12, n % 12 + 1, 1)
