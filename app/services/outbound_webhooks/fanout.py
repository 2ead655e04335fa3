"""Fan-out: events become pending deliveries for the endpoints subscribed to them, and a run is queued."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from rq.exceptions import DuplicateJobError
from sqlalchemy import Integer, bindparam, exists, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from app.extensions import db
from app.models import Event, WebhookEndpoint
from app.models.base import UTCDateTime
from app.queueing import WEBHOOKS, enqueue
from app.services.outbound_webhooks.shared import deliveries_table, utc_now
from app.transactions import on_commit

log = logging.getLogger(__package__)  # the package's logger, as before it was split into modules


def iso_time(value: datetime | None) -> str | None:
    """A timestamp as payloads carry it: ISO 8601 in UTC with microseconds; None stays None."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds") if value is not None else None


def event_payload(event) -> dict:
    """The JSON body for one event row (an Event or a row with the same columns)."""
    return {
        "id": f"evt_{event.id}",
        "type": event.event_type,
        "occurred_at": iso_time(event.occurred_at),
        "created_at": iso_time(event.created_at),
        "campaign_id": event.campaign_id,
        "recipient_id": event.recipient_id,
        "message_id": event.message_id,
        "email": event.email,
        "subscriber_id": event.subscriber_id,
        "provider_id": event.provider_id,
        "verdict": event.verdict,  # an open's or a click's: human, proxy, apple_mpp, scanner, unknown
        "data": event.data,
    }


# The same payload as event_payload, built by PostgreSQL, so a flood of events never travels
# through Python: one statement for the whole batch, subscriptions matched by the jsonb `?`.
# event_types may be SQL NULL or JSON null (SQLAlchemy stores Python None as JSON null).
_ISO_SQL = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
_FAN_OUT_SQL = text(
    "INSERT INTO webhook_deliveries"
    " (workspace_id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at)"
    " SELECT e.workspace_id, w.id, e.id, e.event_type, jsonb_build_object("
    "  'id', 'evt_' || e.id, 'type', e.event_type,"
    f"  'occurred_at', {_ISO_SQL.format('e.occurred_at')}, 'created_at', {_ISO_SQL.format('e.created_at')},"
    "  'campaign_id', e.campaign_id, 'recipient_id', e.recipient_id, 'message_id', e.message_id,"
    "  'email', e.email, 'subscriber_id', e.subscriber_id, 'provider_id', e.provider_id, 'verdict', e.verdict,"
    "  'data', e.data),"
    "  'pending', 0, :now, :now"
    " FROM events e JOIN webhook_endpoints w ON w.workspace_id = e.workspace_id AND w.is_active"
    "  AND (w.event_types IS NULL OR jsonb_typeof(w.event_types) = 'null' OR w.event_types ? e.event_type)"
    " WHERE e.workspace_id = :ws AND e.id = ANY(:ids)"
    " ORDER BY e.id, w.id"
).bindparams(bindparam("ids", type_=ARRAY(Integer)), bindparam("now", type_=UTCDateTime))


def fan_out(workspace_id: int, event_ids: list[int]) -> int:
    """Queue the workspace's events for its subscribed active endpoints; answers how many deliveries.

    Set based: a workspace without endpoints costs one EXISTS; with endpoints, PostgreSQL
    builds every delivery in one INSERT ... SELECT. Ids of another workspace's events are ignored.
    """
    ids = sorted({int(i) for i in event_ids})
    if not ids:
        return 0
    has_endpoints = db.session.scalar(
        select(exists().where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.is_active.is_(True)))
    )
    if not has_endpoints:
        return 0
    if db.session.get_bind().dialect.name == "postgresql":
        result = db.session.execute(_FAN_OUT_SQL, {"ws": workspace_id, "ids": ids, "now": utc_now()})
        return result.rowcount
    return fan_out_portable(workspace_id, ids)


def fan_out_portable(workspace_id: int, ids: list[int], chunk: int = 5000) -> int:
    """fan_out for SQLite: the payloads are built here and inserted with one executemany per chunk."""
    endpoints = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.is_active.is_(True)
        )
    ).all()
    now, created = utc_now(), 0
    columns = [getattr(Event, name) for name in ("id", "event_type", "occurred_at", "created_at", "data")]
    columns += [Event.campaign_id, Event.recipient_id, Event.message_id, Event.email]
    columns += [Event.subscriber_id, Event.provider_id, Event.verdict]
    for start in range(0, len(ids), chunk):
        events = db.session.execute(
            select(*columns)
            .where(Event.workspace_id == workspace_id, Event.id.in_(ids[start : start + chunk]))
            .order_by(Event.id)
        ).all()
        rows = [
            {
                "workspace_id": workspace_id,
                "endpoint_id": ep.id,
                "event_id": e.id,
                "event_type": e.event_type,
                "payload": event_payload(e),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for e in events
            for ep in endpoints
            if ep.event_types is None or e.event_type in ep.event_types
        ]
        if rows:
            db.session.execute(deliveries_table.insert(), rows)
            created += len(rows)
    return created


def fan_out_notice(workspace_id: int, payload: dict) -> int:
    """Queue one event that has no row in the event log (Herald's own notices: `alert.raised`) for the
    workspace's active endpoints subscribed to its type; answers how many deliveries. `payload` has
    event_payload's keys, and its `id` stays the same for every endpoint (receivers deduplicate on it)."""
    endpoints = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.is_active.is_(True)
        )
    ).all()
    now, event_type = utc_now(), payload["type"]
    rows = [
        {
            "workspace_id": workspace_id,
            "endpoint_id": ep.id,
            "event_id": None,
            "event_type": event_type,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for ep in endpoints
        if ep.event_types is None or event_type in ep.event_types
    ]
    if rows:
        db.session.execute(deliveries_table.insert(), rows)
    return len(rows)


def enqueue_delivery_run() -> bool:
    """Ask a worker to deliver now (after the commit that made deliveries visible). One job per 2 s
    bucket: a flood of calls queues one run. A lost enqueue is harmless: the scheduler runs every 10 s."""
    job_id = f"deliver-webhooks-{int(time.time() // 2)}"
    try:
        enqueue(
            # result_ttl=0: a finished run leaves no job behind to refuse the next one of its bucket.
            "deliver_webhooks",
            queue=WEBHOOKS,
            job_id=job_id,
            after_commit=False,
            unique=True,
            result_ttl=0,
            failure_ttl=3600,
        )
    except DuplicateJobError:
        return False
    except Exception:  # Redis away: the periodic run delivers them a few seconds later
        log.warning("could not queue a webhook delivery run", exc_info=True)
        return False
    return True


def run_soon_after_commit() -> None:
    """Queue a delivery run once the current transaction commits (its deliveries visible to workers)."""
    on_commit(enqueue_delivery_run)
