"""Delivering: claim due deliveries, send each endpoint's in order (endpoints in parallel), record outcomes."""

from __future__ import annotations

import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, select, update

from app.extensions import db
from app.models import WebhookDelivery, WebhookEndpoint
from app.services.crypto import decrypt_json
from app.services.outbound_webhooks.endpoints import get_endpoint, secret_of
from app.services.outbound_webhooks.fanout import iso_time
from app.services.outbound_webhooks.http import Outcome, post, storable_text
from app.services.outbound_webhooks.shared import SEND_THREADS, deliveries_table, utc_now

DUE_STATUSES = ("pending", "sending", "retrying")  # `sending` is due again only once its lease expired
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600, 24 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
JITTER = 0.1
LEASE = timedelta(minutes=5)  # a claim outlives the longest run (ENDPOINT_BUDGET + one request)
ENDPOINT_BUDGET = 20.0  # seconds one run spends on one endpoint; the rest waits for the next run


@dataclass
class _Target:
    id: int
    url: str
    secret: str
    is_active: bool


def _claim(limit: int, now: datetime) -> list:
    """Take due deliveries for this run: their lease makes them invisible to other workers."""
    due = and_(deliveries_table.c.status.in_(DUE_STATUSES), deliveries_table.c.next_attempt_at <= now)
    ids = list(
        db.session.scalars(
            select(deliveries_table.c.id)
            .where(due)
            .order_by(deliveries_table.c.next_attempt_at, deliveries_table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: two workers never claim one row
        )
    )
    if not ids:
        return []
    claimed = db.session.execute(
        update(deliveries_table)
        .where(deliveries_table.c.id.in_(ids), due)
        .values(status="sending", next_attempt_at=now + LEASE)
        .returning(
            deliveries_table.c.id,
            deliveries_table.c.endpoint_id,
            deliveries_table.c.event_type,
            deliveries_table.c.payload,
            deliveries_table.c.attempts,
            deliveries_table.c.error,
            deliveries_table.c.history,
        )
    ).all()
    return sorted(claimed, key=lambda r: r.id)


def _targets(endpoint_ids: set[int]) -> dict[int, _Target]:
    rows = db.session.execute(
        select(
            WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret_encrypted, WebhookEndpoint.is_active
        ).where(WebhookEndpoint.id.in_(endpoint_ids))
    ).all()
    return {
        r.id: _Target(r.id, r.url, decrypt_json(r.secret_encrypted)["secret"] if r.is_active else "", r.is_active)
        for r in rows
    }


def _send_group(target: _Target, jobs: list) -> list[tuple]:
    """One endpoint's deliveries, one after another (a receiver gets one request at a time from a
    worker). Once it gave no answer at all, its other deliveries of this run count as failed
    attempts without trying; past the time budget, the rest wait for the next run (None)."""
    started, results, down = time.monotonic(), [], None
    for job in jobs:
        if down is not None:
            results.append((job, Outcome(error=f"Not sent: the endpoint was unreachable a moment before ({down})")))
        elif time.monotonic() - started > ENDPOINT_BUDGET:
            results.append((job, None))
        else:
            outcome = post(target.url, target.secret, job.id, job.event_type, job.payload)
            if outcome.unreachable and not outcome.permanent:
                down = outcome.error
            results.append((job, outcome))
    return results


def _send_all(jobs: list, targets: dict[int, _Target]) -> list[tuple]:
    groups: dict[int, list] = {}
    for job in jobs:
        groups.setdefault(job.endpoint_id, []).append(job)
    work = [(targets[eid], group) for eid, group in groups.items()]
    if len(work) == 1:
        return _send_group(*work[0])
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(work)), thread_name_prefix="webhooks") as pool:
        return [pair for results in pool.map(lambda w: _send_group(*w), work) for pair in results]


def _next_state(attempts: int, outcome: Outcome, now: datetime) -> tuple[str, datetime | None]:
    """Status and next attempt after `attempts` attempts ended with `outcome`."""
    if outcome.delivered:
        return "delivered", None
    if outcome.permanent or attempts >= MAX_ATTEMPTS:
        return "failed", None
    delay = BACKOFF_SECONDS[attempts - 1]
    return "retrying", now + timedelta(seconds=delay + random.uniform(0, delay * JITTER))


def _record(results: list[tuple], disabled: list, now: datetime) -> dict:
    """Write every outcome (one executemany per kind) and each endpoint's health."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0, "released": 0}
    attempted, released, health = [], [], {}
    for job, outcome in results:
        if outcome is None:
            released.append({"b_id": job.id, "b_status": "retrying" if job.attempts else "pending", "b_next": now})
            counts["released"] += 1
            continue
        row = _attempt_row(job, outcome, now)
        counts[row["b_status"]] += 1
        attempted.append(row)
        health.setdefault(job.endpoint_id, []).append(outcome.delivered)
    if attempted:
        _write_attempts(attempted)
    if released:
        _write_releases(released)
    if disabled:
        _fail_disabled(disabled)
        counts["failed"] += len(disabled)
    for endpoint_id, delivered in health.items():
        _record_health(endpoint_id, delivered, now)
    return counts


def _attempt_row(job, outcome: Outcome, now: datetime) -> dict:
    """The bind parameters that record one attempt of `job` (see _write_attempts)."""
    attempts = job.attempts + 1
    status, next_at = _next_state(attempts, outcome, now)
    return {
        "b_id": job.id,
        "b_status": status,
        "b_attempts": attempts,
        "b_next": next_at,
        "b_code": outcome.code,
        "b_body": outcome.body,
        "b_error": storable_text(outcome.error if not outcome.delivered else _earlier(job)),
        "b_ms": outcome.duration_ms,
        "b_delivered": now if outcome.delivered else None,
        "b_history": _history(job.history, outcome, now),
    }


def _write_attempts(rows: list[dict]) -> None:
    db.session.execute(
        update(deliveries_table)
        .where(deliveries_table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            response_code=bindparam("b_code"),
            response_body=bindparam("b_body"),
            error=bindparam("b_error"),
            duration_ms=bindparam("b_ms"),
            delivered_at=bindparam("b_delivered"),
            history=bindparam("b_history", type_=WebhookDelivery.history.type),
        ),
        rows,
    )


def _write_releases(rows: list[dict]) -> None:
    """Deliveries past the run's time budget: due again at once, their attempts unchanged."""
    db.session.execute(
        update(deliveries_table)
        .where(deliveries_table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), next_attempt_at=bindparam("b_next")),
        rows,
    )


def _fail_disabled(jobs: list) -> None:
    db.session.execute(
        update(deliveries_table)
        .where(deliveries_table.c.id.in_([j.id for j in jobs]))
        .values(status="failed", next_attempt_at=None, error="endpoint disabled")
    )


HISTORY_KEPT = 10


def _history(history: list | None, outcome: Outcome, now: datetime) -> list:
    """The delivery's attempts with this one added, for the log (the last HISTORY_KEPT)."""
    entry = {
        "at": iso_time(now),
        "code": outcome.code,
        "error": storable_text(outcome.error, 500),
        "ms": outcome.duration_ms,
        "delivered": bool(outcome.delivered),
    }
    return ([*(history or []), entry])[-HISTORY_KEPT:]


def _earlier(job) -> str | None:
    """On a delivered row, the previous attempt's failure, so the log still shows why it took more than one."""
    if not job.attempts or not job.error:
        return None
    return f"Delivered on attempt {job.attempts + 1}; attempt {job.attempts}: {job.error}"


def _record_health(endpoint_id: int, delivered: list[bool], now: datetime) -> None:
    """last_success_at / last_failure_at and the failure streak, from this run's outcomes in order."""
    values: dict = {}
    if any(delivered):
        values["last_success_at"] = now
        last_success = len(delivered) - 1 - delivered[::-1].index(True)
        values["consecutive_failures"] = len(delivered) - 1 - last_success
    else:
        values["consecutive_failures"] = WebhookEndpoint.consecutive_failures + len(delivered)
    if not all(delivered):
        values["last_failure_at"] = now
    db.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def deliver_due(limit: int = 200, now: datetime | None = None) -> dict:
    """Send up to `limit` due deliveries and record how each went; answers the counts.

    Commits twice: the claim (before any HTTP call, so another worker skips these rows even if
    this run takes long) and the outcomes. `now` drives the schedule (tests pass a later time).
    """
    now = now or utc_now()
    jobs = _claim(limit, now)
    if not jobs:
        db.session.commit()
        return {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0, "released": 0}
    targets = _targets({j.endpoint_id for j in jobs})
    db.session.commit()
    live = [j for j in jobs if j.endpoint_id in targets and targets[j.endpoint_id].is_active]
    disabled = [j for j in jobs if j.endpoint_id in targets and not targets[j.endpoint_id].is_active]
    results = _send_all(live, targets) if live else []
    counts = _record(results, disabled, now)
    db.session.commit()
    return {"claimed": len(jobs), **counts}


def send_test_event(workspace_id: int, endpoint_id: int) -> WebhookDelivery:
    """Send a synthetic `test` event at once and log it; a failed test is not retried."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    now = utc_now()
    payload = {
        "id": f"evt_test_{secrets.token_hex(8)}",
        "type": "test",
        "occurred_at": iso_time(now),
        "created_at": iso_time(now),
        "campaign_id": None,
        "recipient_id": None,
        "message_id": None,
        "email": "test@example.com",
        "subscriber_id": None,
        "provider_id": None,
        "data": {"message": "A test event from Herald: this endpoint is reachable.", "endpoint_id": endpoint.id},
    }
    delivery = WebhookDelivery(
        workspace_id=workspace_id,
        endpoint_id=endpoint.id,
        event_type="test",
        payload=payload,
        status="sending",
        attempts=0,
    )
    db.session.add(delivery)
    db.session.flush()  # its id goes in X-Herald-Delivery
    outcome = post(endpoint.url, secret_of(endpoint), delivery.id, "test", payload)
    delivery.attempts = 1
    delivery.status = "delivered" if outcome.delivered else "failed"
    delivery.response_code = outcome.code
    delivery.response_body = outcome.body
    delivery.error = storable_text(outcome.error)
    delivery.duration_ms = outcome.duration_ms
    delivery.delivered_at = now if outcome.delivered else None
    delivery.history = _history(None, outcome, now)
    db.session.flush()
    _record_health(endpoint.id, [outcome.delivered], now)
    db.session.refresh(endpoint)
    return delivery
