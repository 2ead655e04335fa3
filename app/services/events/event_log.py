"""Writing to the normalized event log: many rows, once each, in as few statements as possible.

Provider events (app/services/events/provider_events.py) and tracking hits (app/services/events/tracking.py)
both land here. The event log is unique on `event_key`, so a batch written twice (a retried
job, a payload a provider posts again) adds nothing the second time.
"""

import json
from datetime import timezone

from sqlalchemy import text

from app.extensions import db
from app.models import Event


def insert_events(rows: list[dict]) -> dict[str, int]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: {event key: id} of the rows that were new.

    Rows may leave out columns (None is stored); a row whose event key exists already is skipped.
    """
    if not rows:
        return {}
    rows = [{c: r.get(c) for c in _EVENT_COLUMNS} for r in rows]
    if db.session.get_bind().dialect.name == "postgresql":
        return _insert_pg(rows)
    from sqlalchemy.dialects.sqlite import insert

    # Core, not the ORM entity: the ORM's bulk insert leaves NULLs out of each row and starts a new
    # statement whenever the next row's columns differ (an open has an IP, a delivery none).
    table = Event.__table__
    stmt = insert(table).on_conflict_do_nothing(index_elements=["event_key"]).returning(table.c.event_key, table.c.id)
    out = {}
    for i in range(0, len(rows), 1000):
        out.update({k: i for k, i in db.session.execute(stmt, rows[i : i + 1000]).all()})
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
_INSERT_EVENTS_PG = text(
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in _EVENT_COLUMNS.items())}) "
    "ON CONFLICT (event_key) DO NOTHING RETURNING event_key, id"
)


def _insert_pg(rows: list[dict]) -> dict[str, int]:
    """PostgreSQL: one statement with one array per column (16 parameters, not 16 per row: a
    multi-row VALUES of 1,000 events spent most of its time having its placeholders parsed)."""
    params = {c: [r[c] for r in rows] for c in _EVENT_COLUMNS}
    params["data"] = [None if d is None else json.dumps(d) for d in params["data"]]
    for c in ("occurred_at", "created_at"):  # what UTCDateTime does for the ORM: naive means UTC
        params[c] = [d.replace(tzinfo=timezone.utc) if d is not None and d.tzinfo is None else d for d in params[c]]
    return dict(db.session.execute(_INSERT_EVENTS_PG, params).all())
