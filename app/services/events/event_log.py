"""Writing to the normalized event log: many rows, once each, in as few statements as possible.

Provider events (app/services/events/provider_events.py), tracking hits (app/services/events/tracking.py)
and everything else that records an event land here. Each event's key is claimed in `event_keys`
first, and only the rows whose key was new are written: a batch written twice (a retried job, a
payload a provider posts again) adds nothing the second time. The keys live apart from the log
because on PostgreSQL the log is partitioned by month (events/partitions.py).
"""

import json
from datetime import timezone

from sqlalchemy import text

from app.extensions import db
from app.models import Event, EventKey


def insert_events(rows: list[dict]) -> dict[str, int]:
    """Claim the rows' keys, then insert the rows whose key was new: {event key: id} of those.

    Rows may leave out columns (None is stored); a row whose event key exists already is skipped, and
    of two rows with one key in the same batch only the first is kept.
    """
    if not rows:
        return {}
    unique: dict[str, dict] = {}
    for r in rows:
        unique.setdefault(r["event_key"], {c: r.get(c) for c in _EVENT_COLUMNS})
    rows = list(unique.values())
    if db.session.get_bind().dialect.name == "postgresql":
        return _insert_pg(rows)
    from sqlalchemy.dialects.sqlite import insert

    # Core, not the ORM entity: the ORM's bulk insert leaves NULLs out of each row and starts a new
    # statement whenever the next row's columns differ (an open has an IP, a delivery none).
    claim = insert(EventKey.__table__).on_conflict_do_nothing(index_elements=["event_key"])
    claim = claim.returning(EventKey.__table__.c.event_key)
    table = Event.__table__
    out = {}
    for i in range(0, len(rows), 1000):
        chunk = rows[i : i + 1000]
        new = set(db.session.scalars(claim, [{"event_key": r["event_key"], "occurred_at": r["occurred_at"]}
                                             for r in chunk]))  # fmt: skip
        fresh = [r for r in chunk if r["event_key"] in new]
        if fresh:
            written = db.session.execute(table.insert().returning(table.c.event_key, table.c.id), fresh).all()
            out.update(dict(written))
    return out


_EVENT_COLUMNS = {
    "workspace_id": "integer",
    "event_key": "varchar",
    "event_type": "varchar",
    "campaign_id": "integer",
    "recipient_id": "integer",
    "message_id": "integer",
    "subscriber_id": "integer",
    "provider_id": "integer",
    "email": "varchar",
    "link_id": "integer",
    "user_agent": "varchar",
    "ip": "varchar",
    "verdict": "varchar",
    "data": "jsonb",
    "occurred_at": "timestamptz",
    "created_at": "timestamptz",
}
_COLUMNS = ", ".join(_EVENT_COLUMNS)
_INSERT_EVENTS_PG = text(
    f"WITH v AS (SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in _EVENT_COLUMNS.items())})"
    f" AS u({_COLUMNS})), "
    "fresh AS (INSERT INTO event_keys (event_key, occurred_at) SELECT event_key, occurred_at FROM v"
    " ON CONFLICT (event_key) DO NOTHING RETURNING event_key) "
    f"INSERT INTO events ({_COLUMNS}) SELECT {', '.join('v.' + c for c in _EVENT_COLUMNS)}"
    " FROM v JOIN fresh USING (event_key) RETURNING event_key, id"
)


def _insert_pg(rows: list[dict]) -> dict[str, int]:
    """PostgreSQL: one statement, keys and rows together, with one array per column (16 parameters, not
    16 per row: a multi-row VALUES of 1,000 events spent most of its time having its placeholders parsed)."""
    params = {c: [r[c] for r in rows] for c in _EVENT_COLUMNS}
    params["data"] = [None if d is None else json.dumps(d) for d in params["data"]]
    for c in ("occurred_at", "created_at"):  # what UTCDateTime does for the ORM: naive means UTC
        params[c] = [d.replace(tzinfo=timezone.utc) if d is not None and d.tzinfo is None else d for d in params[c]]
    return dict(db.session.execute(_INSERT_EVENTS_PG, params).all())
