"""A campaign's jobs: the prepare job, its batches, and queueing again what was lost.

`enqueue_prepare` (the lifecycle, an A/B release, a requeue) queues `prepare_and_queue`, which
writes the recipient rows once and queues one `send_batch` job per range once they are
committed. A mark in Redis says the jobs are queued; should Redis lose its data, the periodic
`requeue_stalled_campaigns` finds the campaigns whose work went with it and queues it again.
Claims are atomic, so a job queued twice only shares the rows: nobody receives a message twice.
"""

import time
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import exists, func, or_, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient
from app.queueing import ALL, DEFAULT, SEND_RETRY, SENDS, enqueue, get_queue
from app.redis_client import get_redis
from app.services.campaigns.recipients import batch_ranges, current_round, finish_if_done, prepare_campaign
from app.services.delivery import warming_holds
from app.transactions import on_commit

QUEUED_MARK_SECONDS = 7 * 86400  # outlives any send; refreshed whenever batches are queued
STALL_SECONDS = 600  # due rows unclaimed this long while the jobs should be queued: queue again
_cr = CampaignRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def enqueue_prepare(campaign_id: int, send_round: int | str = 0, after_commit: bool = True) -> None:
    """Queue the job that materializes the campaign's audience and queues its batches (one per
    round), once the transaction that started the work commits."""

    def mark() -> None:
        mark_queued(get_redis(), campaign_id)

    if after_commit:
        on_commit(mark)
    else:
        mark()
    # prepare_and_queue materializes only once and queues the batches of pending rows, so a
    # retry or a later round is always safe.
    enqueue(
        "prepare_campaign",
        campaign_id,
        queue=DEFAULT,
        job_id=f"prepare-campaign-{campaign_id}-r{send_round}",
        retry=SEND_RETRY,
        after_commit=after_commit,
    )


def prepare_and_queue(campaign_id: int) -> int:
    """Materialize the campaign's recipients and queue its batches once the rows are committed
    (a fast worker must find them); returns the batch count. The `prepare_campaign` job."""
    ranges = prepare_campaign(campaign_id)
    send_round = current_round(campaign_id)
    on_commit(lambda: enqueue_batches(campaign_id, ranges, send_round))
    return len(ranges)


def enqueue_batches(campaign_id: int, ranges: list[tuple[int, int]], send_round: int = 0, suffix: str = "") -> None:
    """One `send_batch` job per range, put on the queue now (in thousands: one round trip each)."""
    q = get_queue(SENDS)
    # A resume queues the batches again: new ids, as the first round's jobs have finished.
    suffix = suffix or (f"-r{send_round}" if send_round else "")
    mark_queued(get_redis(), campaign_id)
    jobs = [
        q.prepare_data(
            "workers.jobs.send_batch",
            (campaign_id, a, b),
            retry=SEND_RETRY,
            job_id=f"send-{campaign_id}-{a}-{b}{suffix}",
        )
        for a, b in ranges
    ]
    for i in range(0, len(jobs), 1000):
        q.enqueue_many(jobs[i : i + 1000])


def _queued_key(campaign_id: int) -> str:
    return f"herald:campaign:{campaign_id}:queued"


def mark_queued(r, campaign_id: int) -> None:
    """Note in Redis that the campaign's jobs are queued. Should Redis lose its data (and the
    queue with it), the mark goes too, and requeue_stalled_campaigns queues the work again."""
    r.set(_queued_key(campaign_id), "1", ex=QUEUED_MARK_SECONDS)


def requeue_stalled_campaigns(stall_seconds: float = STALL_SECONDS) -> list[int]:
    """Queue again the work of sending campaigns whose jobs are gone (periodic).

    Jobs vanish when Redis restarts without its data, or when a batch spent all its RQ
    retries while the provider was down. The rows say what is left, and claims are atomic,
    so a job queued twice only shares the rows: nobody receives a message twice.
    """
    r = get_redis()
    now = time.time()
    cutoff = datetime.fromtimestamp(now - stall_seconds, timezone.utc)
    requeued = []
    for campaign in db.session.scalars(select(Campaign).where(Campaign.status == "sending")).all():
        due = select(_cr.c.id).where(
            _cr.c.campaign_id == campaign.id,
            _cr.c.status == "pending",
            or_(_cr.c.retry_at.is_(None), _cr.c.retry_at <= _now()),
        )
        if r.exists(_queued_key(campaign.id)):
            last_claim = db.session.scalar(select(func.max(_cr.c.claimed_at)).where(_cr.c.campaign_id == campaign.id))
            idle_since = last_claim or campaign.started_at
            if idle_since is None or idle_since >= cutoff or not db.session.scalar(select(due.exists())):
                continue  # queued and moving (or nothing left to send): leave it
        if not db.session.scalar(select(exists().where(_cr.c.campaign_id == campaign.id))):
            enqueue_prepare(campaign.id, f"x{int(now)}", after_commit=False)
            requeued.append(campaign.id)
            continue
        if not db.session.scalar(select(due.exists())):
            finish_if_done(campaign.id)  # what is left waits (warming capacity, a quota): nothing to queue
            continue
        ranges = batch_ranges(campaign.id, current_app.config["SEND_BATCH_SIZE"])
        enqueue_batches(campaign.id, ranges, suffix=f"-x{int(now)}")
        requeued.append(campaign.id)
    return requeued


def release_warming(plan=None) -> dict[int, int]:
    """Let out what warming caps allow today and queue those campaigns' batches: every plan's
    (periodic; each plan is committed as it goes), or one plan's just started or resumed (its
    batches are queued once the caller commits). Returns {campaign id: recipients released}."""
    size = current_app.config["SEND_BATCH_SIZE"]
    suffix = f"-w{int(time.time())}"

    if plan is not None:
        released = warming_holds.release_for(plan)
        for campaign_id in released:
            ranges = batch_ranges(campaign_id, size)  # now: no SQL runs while the commit completes
            on_commit(lambda cid=campaign_id, r=ranges: enqueue_batches(cid, r, suffix=suffix))
        return released
    released = warming_holds.release_due()
    for campaign_id in released:
        enqueue_batches(campaign_id, batch_ranges(campaign_id, size), suffix=suffix)
    return released


def requeue_due_retries() -> int:
    """Queue a batch for every sending campaign whose deferred recipients are due again (periodic)."""
    now = _now()
    rows = db.session.execute(
        select(_cr.c.campaign_id, func.min(_cr.c.id), func.max(_cr.c.id))
        .join(Campaign, Campaign.id == _cr.c.campaign_id)
        .where(Campaign.status == "sending", _cr.c.status == "pending", _cr.c.retry_at <= now)
        .group_by(_cr.c.campaign_id)
    ).all()
    for campaign_id, first, last in rows:
        # Claims are atomic: should a regular batch of the range still be queued, they share the rows.
        enqueue(
            "send_batch",
            campaign_id,
            first,
            last,
            queue=SENDS,
            retry=SEND_RETRY,
            job_id=f"retry-{campaign_id}-{first}-{last}-{int(now.timestamp())}",
            after_commit=False,
        )
    return len(rows)


def other_work_waiting() -> bool:
    """Whether a job waits on any queue (a batch waiting for its throttled recipients then makes way)."""
    return any(get_queue(name).count for name in ALL)


def enqueue_batch_at(campaign_id: int, first_id: int, last_id: int, at: datetime) -> None:
    """Queue the range's batch for `at`, when its recipients held back by a throttled mailbox provider are
    due (the worker's scheduler queues it then; else requeue_due_retries does within its period)."""
    get_queue(SENDS).enqueue_at(
        at,
        "workers.jobs.send_batch",
        campaign_id,
        first_id,
        last_id,
        job_id=f"held-{campaign_id}-{first_id}-{last_id}-{int(at.timestamp())}",
        retry=SEND_RETRY,
    )
