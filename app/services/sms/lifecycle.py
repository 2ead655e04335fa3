"""An SMS campaign's lifecycle, as an email campaign's: draft -> scheduled -> sending -> sent, with
pause, resume and cancel; and the periodic tick that starts due campaigns, queues held texts once
quiet hours end, heals lost jobs and dead workers' claims, and finishes campaigns.
"""

import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import exists, func, select, update

from app.extensions import db
from app.models import Provider, SmsCampaign, SmsRecipient
from app.providers import twilio
from app.queueing import SEND_RETRY, SENDS, enqueue
from app.redis_client import get_redis
from app.services.campaigns import lifecycle as email_lifecycle
from app.services.errors import InvalidState, ValidationError
from app.services.platform import audit
from app.services.sms import audience, campaigns, sending

ALLOWED = email_lifecycle.ALLOWED
CLAIM_TTL = timedelta(minutes=5)  # a `sending` row older than this lost its worker
PARALLEL_MAX = 4
_rec = SmsRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def require(campaign: SmsCampaign, action: str) -> None:
    if campaign.flow_id:
        raise InvalidState("A flow's SMS step follows its flow: pause or resume the flow instead.")
    email_lifecycle.require(campaign, action)


def _check_ready(campaign: SmsCampaign) -> None:
    """Everything a start needs, each missing piece named."""
    errors = {}
    provider = db.session.get(Provider, campaign.provider_id) if campaign.provider_id else None
    if provider is None or provider.provider_type != campaigns.TWILIO:
        errors["provider_id"] = "Choose a Twilio provider."
    try:
        campaigns.clean_body(campaign.body)
    except ValidationError as exc:
        errors.update(exc.fields)
    if audience.email_audience.Audience.of(campaign.audience or {}).empty:
        errors["list_ids"] = "Choose at least one list or segment."
    if errors:
        raise ValidationError(next(iter(errors.values())) if len(errors) == 1 else "The campaign is not ready.", errors)


def start(campaign: SmsCampaign) -> None:
    """Write the recipient rows, record what they will cost, and queue the send after commit."""
    _check_ready(campaign)
    estimate = campaigns.estimate(campaign.workspace_id, campaign)
    if estimate.recipients == 0:
        raise ValidationError(
            "Nobody in this audience can be texted: no one has a number and agreed to texts.",
            {"list_ids": "No one to text."},
        )
    campaign.total_recipients = audience.materialize(campaign)
    campaign.estimate = {
        "recipients": estimate.recipients,
        "segments": estimate.segments,
        "price": str(estimate.price),
        "currency": estimate.currency,
        "encoding": estimate.encoding,
    }
    campaign.status, campaign.started_at, campaign.scheduled_at = "sending", _now(), None
    campaign.last_error = None
    db.session.flush()
    enqueue_send(campaign.id)


def parallel_jobs(provider: Provider) -> int:
    """Jobs that work a campaign at once: one per five texts a second the senders allow, at most four
    (each hand-off takes a round trip; the shared rate, not the job count, keeps the pace)."""
    settings = provider.settings or {}
    total = twilio.sender_rate(settings) * len(twilio.senders(settings))
    return max(1, min(PARALLEL_MAX, total // 5))


def enqueue_send(campaign_id: int, after_commit: bool = True, continuation: bool = False) -> None:
    campaign = db.session.get(SmsCampaign, campaign_id)
    provider = db.session.get(Provider, campaign.provider_id) if campaign and campaign.provider_id else None
    jobs = 1 if continuation or provider is None else parallel_jobs(provider)
    stamp = f"c{time.time_ns()}" if continuation else f"r{campaign.send_round if campaign else 0}"
    for k in range(jobs):
        enqueue("send_sms_campaign", campaign_id, queue=SENDS, retry=SEND_RETRY,
                job_id=f"sms-{campaign_id}-{stamp}-{k}", after_commit=after_commit)  # fmt: skip


def send_now(workspace_id: int, campaign_id) -> SmsCampaign:
    campaign = campaigns.get_campaign(workspace_id, campaign_id, lock=True)
    require(campaign, "send")
    start(campaign)
    audit.record(workspace_id, "sms_campaign.send", "sms_campaign", campaign.id, {"name": campaign.name})
    return campaign


def schedule(workspace_id: int, campaign_id, scheduled_at, tz_name: str = "UTC") -> SmsCampaign:
    campaign = campaigns.get_campaign(workspace_id, campaign_id, lock=True)
    when = email_lifecycle.parse_when(scheduled_at, tz_name)
    if when < _now() + email_lifecycle.MIN_SCHEDULE_AHEAD:
        raise ValidationError(email_lifecycle.too_soon(tz_name), {"scheduled_at": "At least a minute from now."})
    if when > _now() + email_lifecycle.MAX_SCHEDULE_AHEAD:
        raise ValidationError("Choose a time within a year.", {"scheduled_at": "too far ahead"})
    require(campaign, "schedule")
    _check_ready(campaign)
    campaign.scheduled_at, campaign.status = when, "scheduled"
    db.session.flush()
    detail = {"name": campaign.name, "scheduled_at": when.isoformat()}
    audit.record(workspace_id, "sms_campaign.schedule", "sms_campaign", campaign.id, detail)
    return campaign


def unschedule(workspace_id: int, campaign_id) -> SmsCampaign:
    campaign = campaigns.get_campaign(workspace_id, campaign_id, lock=True)
    require(campaign, "unschedule")
    campaign.status, campaign.scheduled_at = "draft", None
    db.session.flush()
    return campaign


def pause(workspace_id: int, campaign_id) -> SmsCampaign:
    """The jobs see it within a couple of seconds and put back what they had not handed off."""
    campaign = campaigns.get_campaign(workspace_id, campaign_id, lock=True)
    require(campaign, "pause")
    campaign.status, campaign.paused_at = "paused", _now()
    db.session.flush()
    return campaign


def halt(campaign: SmsCampaign, reason: str) -> None:
    """Paused by Herald itself, with the reason shown on the campaign."""
    campaign.status, campaign.paused_at, campaign.last_error = "paused", _now(), reason
    db.session.flush()


def resume(workspace_id: int, campaign_id) -> SmsCampaign:
    campaign = campaigns.get_campaign(workspace_id, campaign_id, lock=True)
    require(campaign, "resume")
    campaign.paused_at = None
    if campaign.started_at is None:
        if campaign.scheduled_at and campaign.scheduled_at > _now():
            campaign.status = "scheduled"
            db.session.flush()
        else:
            start(campaign)
        return campaign
    _check_ready(campaign)
    campaign.status, campaign.last_error = "sending", None
    campaign.send_round = (campaign.send_round or 0) + 1
    db.session.flush()
    enqueue_send(campaign.id)
    return campaign


def cancel(workspace_id: int, campaign_id) -> SmsCampaign:
    """Stop for good: who was not texted yet is listed as skipped, cancelled."""
    campaign = campaigns.get_campaign(workspace_id, campaign_id, lock=True)
    require(campaign, "cancel")
    db.session.execute(
        update(_rec)
        .where(_rec.c.campaign_id == campaign.id, _rec.c.status == "pending")
        .values(status="skipped", skip_reason="cancelled", updated_at=_now())
    )
    campaign.status, campaign.completed_at = "cancelled", _now()
    db.session.flush()
    audit.record(workspace_id, "sms_campaign.cancel", "sms_campaign", campaign.id, {"name": campaign.name})
    return campaign


def finish_if_done(campaign_id: int) -> bool:
    """`sent` once no row is pending or being sent (a flow's campaign lives as long as its flow)."""
    busy = exists().where(_rec.c.campaign_id == campaign_id, _rec.c.status.in_(("pending", "sending")))
    done = db.session.execute(
        update(SmsCampaign)
        .where(SmsCampaign.id == campaign_id, SmsCampaign.status == "sending", SmsCampaign.flow_id.is_(None), ~busy)
        .values(status="sent", completed_at=_now())
    ).rowcount
    return bool(done)


def _finish_done() -> int:
    """Every sending campaign with nothing left pending or being sent becomes `sent`, in one UPDATE."""
    busy = exists().where(_rec.c.campaign_id == SmsCampaign.id, _rec.c.status.in_(("pending", "sending")))
    return (
        db.session.execute(
            update(SmsCampaign)
            .where(SmsCampaign.status == "sending", SmsCampaign.flow_id.is_(None), ~busy)
            .values(status="sent", completed_at=_now())
        ).rowcount
        or 0
    )


def start_due(now: datetime) -> list[int]:
    started = []
    due = db.session.scalars(
        select(SmsCampaign.id).where(SmsCampaign.status == "scheduled", SmsCampaign.scheduled_at <= now)
    ).all()
    for campaign_id in due:
        campaign = db.session.scalar(
            select(SmsCampaign)
            .where(SmsCampaign.id == campaign_id, SmsCampaign.status == "scheduled")
            .with_for_update()
        )
        if campaign is None:
            continue
        try:
            start(campaign)
            started.append(campaign_id)
        except ValidationError as exc:
            halt(campaign, f"The scheduled start failed: {exc.message}")
        db.session.commit()
    return started


def recover_stale_claims(now: datetime) -> int:
    """Rows a dead worker had claimed: Twilio may have them, so `unknown`, never resent blindly."""
    stale = (
        db.session.execute(
            update(_rec)
            .where(_rec.c.status == "sending", _rec.c.claimed_at < now - CLAIM_TTL)
            .values(
                status="unknown", error_message="The worker stopped while handing the text to Twilio.", updated_at=now
            )
            .returning(_rec.c.campaign_id)
        )
        .scalars()
        .all()
    )
    return len(stale)


def requeue_idle(now: datetime) -> list[int]:
    """Sending campaigns with texts due (quiet hours over, a lost job) and no job working on them."""
    due = db.session.scalars(
        select(SmsCampaign.id)
        .where(SmsCampaign.status == "sending")
        .where(
            exists().where(
                _rec.c.campaign_id == SmsCampaign.id,
                _rec.c.status == "pending",
                (_rec.c.not_before.is_(None)) | (_rec.c.not_before <= now),
            )
        )
    ).all()
    r = get_redis()
    queued = [cid for cid in due if not r.exists(sending.alive_key(cid))]
    for campaign_id in queued:
        r.set(sending.alive_key(campaign_id), 1, ex=sending.ALIVE_SECONDS)  # one requeue per period
        enqueue_send(campaign_id, after_commit=False, continuation=True)
    return queued


def tick(now: datetime | None = None) -> dict:
    """The periodic work of SMS campaigns (every 15 seconds)."""
    now = now or _now()
    started = start_due(now)
    stale = recover_stale_claims(now)
    db.session.commit()
    requeued = requeue_idle(now)
    finished = _finish_done()
    db.session.commit()
    return {"started": len(started), "stale": stale, "requeued": len(requeued), "finished": finished}


def held_until(campaign_id: int) -> datetime | None:
    """When the first text held for quiet hours may go."""
    return db.session.scalar(
        select(func.min(_rec.c.not_before)).where(_rec.c.campaign_id == campaign_id, _rec.c.status == "pending")
    )
